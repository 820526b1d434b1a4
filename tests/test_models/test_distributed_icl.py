"""The all-gather keeps gradients: a 2-process gloo run gives the same loss
and gradients as one process with the same global batch, for the paper-era
heads and for the released heads on the ViT's hidden tokens with the clip →
image PMD direction (local clips against gathered images)."""
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

CFGS = dict(
    v0=TINY_RICE,
    mmf_v2i=dict(
        TINY_RICE,
        pmd_tokens='hidden',
        icl_head=dict(type='MMFICLHead', logit_scale=10.0),
        pmd_head=dict(type='MMFPMDHead', embed_dims=16, num_heads=2,
                      num_negatives=2, attn_drop=0.0, v2i_weight=0.5),
        pfr_head=dict(type='MMFPFRHead', num_heads=2, head_dims=8)))


def make_model_and_batch(name):
    import lpr  # noqa: F401
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(CFGS[name])
    g = torch.Generator().manual_seed(1)
    inputs = dict(
        image=torch.randn(4, 3, 16, 16, generator=g),
        frames=torch.randn(4, 2, 3, 16, 16, generator=g),
        frame_mask=torch.tensor([[1, 1], [1, 0], [1, 1], [1, 1]]).bool())
    ids = ['a', 'b', 'a', 'c']
    return model, inputs, ids


def losses_and_grads(model, inputs, ids):
    samples = [DataSample(metainfo=dict(image_id=i)) for i in ids]
    losses = model.loss(inputs, samples)
    total = sum(losses.values())
    total.backward()
    grads = torch.cat([p.grad.flatten() for p in model.parameters()
                       if p.grad is not None])
    return {k: v.detach() for k, v in losses.items()}, grads


def worker(rank, port, out, name):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=2)
    model, inputs, ids = make_model_and_batch(name)
    half = slice(2 * rank, 2 * rank + 2)
    local = {k: v[half] for k, v in inputs.items()}
    losses, grads = losses_and_grads(model, local, ids[half])
    # DDP averages gradients and mmengine logs the mean loss.
    dist.all_reduce(grads)
    grads /= 2
    for k in losses:
        dist.all_reduce(losses[k])
        losses[k] /= 2
    if rank == 0:
        torch.save(dict(losses=losses, grads=grads), out)
    dist.destroy_process_group()


@pytest.mark.parametrize('name', sorted(CFGS))
def test_two_process_gloo_matches_one_process(tmp_path, name):
    model, inputs, ids = make_model_and_batch(name)
    ref_losses, ref_grads = losses_and_grads(model, inputs, ids)
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    out = str(tmp_path / 'rank0.pt')
    mp.spawn(worker, args=(port, out, name), nprocs=2, join=True)
    got = torch.load(out)
    expected = {'loss_icl', 'loss_pmd', 'loss_pfr'}
    if name == 'mmf_v2i':
        expected.add('loss_pmd_v2i')
    assert set(ref_losses) == set(got['losses']) == expected
    # ICL and PMD: per-rank means over local rows, averaged = global mean.
    for k in expected:
        assert torch.allclose(got['losses'][k], ref_losses[k], atol=1e-5), k
    assert torch.allclose(got['grads'], ref_grads, atol=1e-5)
