"""2 processes = 1 process: a 2-rank gloo run, each rank holding half of the
batch, gives the same losses and the same gradient of every parameter as
one process holding the whole batch, for ICL, PMD (hard negatives mined
from the global batch, both directions) and PFR, each loss on its own.

Scale convention. Every rank computes its losses as means over its *local*
rows (B / W images or clips) against the *global* columns (all-gathered
with gradients, see ``lpr.models.utils.gather``: the gather's backward sums
each column's gradient over the ranks). DDP then averages the gradients
over the W ranks, and mmengine logs the mean of the ranks' losses. With
equal local batches, the rank mean of the losses and of the gradients is
exactly the single-process loss over the global batch (a mean over all B
rows) and its gradient; the test reproduces DDP's averaging with an
``all_reduce`` divided by W.

All configurations run in one pair of spawned processes (starting a
process costs more than the models).
"""
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from tiny_rice import TINY_RICE

WORLD = 2
BATCH = 6  # 3 rows per rank
IDS = ['a', 'b', 'c', 'a', 'd', 'e']  # 'a' on both ranks: masked across
CFGS = dict(
    v0=TINY_RICE,
    # Both PMD directions, the learnable ICL scale.
    v0_v2i=dict(
        TINY_RICE,
        icl_head=dict(type='ICLHead', logit_scale=10.0,
                      learnable_scale=True),
        pmd_head=dict(TINY_RICE['pmd_head'], v2i_weight=0.5)),
    # The released heads on the ViT's hidden tokens.
    mmf_v2i=dict(
        TINY_RICE,
        pmd_tokens='hidden',
        icl_head=dict(type='MMFICLHead', logit_scale=10.0),
        pmd_head=dict(type='MMFPMDHead', embed_dims=16, num_heads=2,
                      num_negatives=2, attn_drop=0.0, v2i_weight=0.5),
        pfr_head=dict(type='MMFPFRHead', num_heads=2, head_dims=8)))
LOSSES = dict(
    v0=('loss_icl', 'loss_pmd', 'loss_pfr'),
    v0_v2i=('loss_icl', 'loss_pmd', 'loss_pmd_v2i', 'loss_pfr'),
    mmf_v2i=('loss_icl', 'loss_pmd', 'loss_pmd_v2i', 'loss_pfr'))
CASES = [(c, k) for c in CFGS for k in LOSSES[c]]
# Modules each loss must reach (besides the encoder).
REACHES = dict(
    loss_icl=(),
    loss_pmd=('pmd_head.cross_attn.k.', 'pmd_head.self_attn.'),
    loss_pmd_v2i=('pmd_head.cross_attn.k.', 'pmd_head.self_attn.'),
    loss_pfr=('pfr_head.conv1.', 'pmd_head.cross_attn.q.'))


def make_model_and_batch(name):
    import lpr  # noqa: F401
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(CFGS[name])
    if type(model.pfr_head).__name__ == 'PFRHead':
        # The default initialisation leaves every ReLU of the tiny V0 PFR
        # head dead for this seed (a zero gradient on both sides would
        # prove nothing): positive weights and biases keep them alive.
        with torch.no_grad():
            for conv in (model.pfr_head.conv1, model.pfr_head.conv2):
                conv.weight.abs_()
                conv.bias.fill_(0.1)
    g = torch.Generator().manual_seed(1)
    mask = torch.ones(BATCH, 2, dtype=torch.bool)
    mask[1, 1] = mask[4, 0] = False  # a padded frame on each rank
    inputs = dict(
        image=torch.randn(BATCH, 3, 16, 16, generator=g),
        frames=torch.randn(BATCH, 2, 3, 16, 16, generator=g),
        frame_mask=mask)
    return model, inputs


def losses_and_grads(model, inputs, ids):
    """Each loss on its own: its value and the gradient of every parameter
    (``None`` where the loss does not reach it)."""
    samples = [DataSample(metainfo=dict(image_id=i)) for i in ids]
    losses = model.loss(inputs, samples)
    names, params = zip(*model.named_parameters())
    out = {}
    for key in sorted(losses):
        # Every rank takes the same backward passes in the same order: the
        # gathers' backward all-reduces.
        grads = torch.autograd.grad(
            losses[key], params, retain_graph=True, allow_unused=True)
        out[key] = dict(
            value=losses[key].detach(),
            grads={n: g for n, g in zip(names, grads) if g is not None})
    return out


def worker(rank, port, out):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=WORLD)
    half = slice(rank * BATCH // WORLD, (rank + 1) * BATCH // WORLD)
    results = {}
    for name in CFGS:
        model, inputs = make_model_and_batch(name)
        local = {k: v[half] for k, v in inputs.items()}
        res = losses_and_grads(model, local, IDS[half])
        # DDP's average of the ranks' gradients; mmengine's mean loss.
        for entry in res.values():
            for tensor in [entry['value'], *entry['grads'].values()]:
                dist.all_reduce(tensor)
                tensor /= WORLD
        results[name] = res
    if rank == 0:
        torch.save(results, out)
    dist.destroy_process_group()


@pytest.fixture(scope='module')
def two_ranks(tmp_path_factory):
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    out = str(tmp_path_factory.mktemp('ddp') / 'rank0.pt')
    mp.spawn(worker, args=(port, out), nprocs=WORLD, join=True)
    return torch.load(out)


@pytest.fixture(scope='module')
def one_rank():
    results = {}
    for name in CFGS:
        model, inputs = make_model_and_batch(name)
        results[name] = losses_and_grads(model, inputs, IDS)
    return results


@pytest.mark.parametrize('name', sorted(CFGS))
def test_loss_set(one_rank, two_ranks, name):
    assert set(one_rank[name]) == set(two_ranks[name]) == set(LOSSES[name])


@pytest.mark.parametrize('name,loss', CASES)
def test_two_process_gloo_matches_one_process(one_rank, two_ranks, name,
                                              loss):
    ref, got = one_rank[name][loss], two_ranks[name][loss]
    assert torch.allclose(got['value'], ref['value'], atol=1e-5, rtol=0), (
        got['value'], ref['value'])
    # The same parameters are reached, with the same gradients.
    assert set(got['grads']) == set(ref['grads'])
    assert any(n.startswith('encoder.') for n in ref['grads'])
    for prefix in REACHES[loss]:
        assert any(n.startswith(prefix) for n in ref['grads']), prefix
    if name == 'v0_v2i' and loss == 'loss_icl':
        assert 'icl_head.log_scale' in ref['grads']
    assert sum(g.abs().sum() for g in ref['grads'].values()) > 0
    for n, g in ref['grads'].items():
        # Within 1e-5, relative to the tensor's largest entry when that is
        # above 1: without init_weights the ViT's CLS token and position
        # embedding are zeros, so its pre-norm sees a zero token 0 and
        # passes it gradients of ~1e5 (1 / sqrt(eps)), where float32 sums
        # taken in another order differ by ~1e-2.
        err = (got['grads'][n] - g).abs().max() / max(1.0, g.abs().max())
        assert err <= 1e-5, (loss, n, float(err))


def test_hard_negatives_cross_ranks():
    """The mined negatives of a rank include clips and images held by the
    other rank, and the same-product clip on the other rank is never one:
    the equality above covers mining from the global batch."""
    import lpr  # noqa: F401
    from lpr.models.heads.icl_head import same_product_mask
    model, inputs = make_model_and_batch('v0_v2i')
    b = BATCH // WORLD
    with torch.no_grad():
        img_g, _, clip_g, _, _ = model.extract_pair(
            inputs['image'], inputs['frames'], inputs['frame_mask'])
    for rank in range(WORLD):
        rows = slice(rank * b, (rank + 1) * b)
        targets = torch.arange(b) + rank * b
        same = same_product_mask(IDS[rows], IDS, targets)
        for sim in (img_g[rows] @ clip_g.T, clip_g[rows] @ img_g.T):
            negs, valid = model.pmd_head.mine_negatives(sim, targets, same)
            assert valid.all()
            other = (negs // b) != rank
            assert other.any(), (rank, negs)
            assert not same.gather(1, negs).any()
    # 'a' is row 0 (rank 0) and row 3 (rank 1): excluded across ranks.
    same0 = same_product_mask(IDS[:b], IDS, torch.arange(b))
    assert same0[0, 3] and same0.sum() == 1
