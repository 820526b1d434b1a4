"""Where RICE's training signal goes, for every variant on a tiny model:
every trainable parameter gets a non-zero gradient from ``train_step``,
each loss reaches the pixels of both views, and padded frames change
nothing."""
import copy

import pytest
import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import lpr  # noqa: F401
from tiny_rice import TINY_RICE

B, T, L = 4, 2, 5  # clips, frames per clip, tokens per 16x16 input

TEXT = dict(type='LPRTextEncoder', embed_dims=8, num_heads=2,
            num_buckets=64, dropout=0.0)
MMF = dict(
    pmd_tokens='hidden',
    icl_head=dict(type='MMFICLHead', logit_scale=4.0, learnable_scale=True),
    pmd_head=dict(type='MMFPMDHead', embed_dims=16, num_heads=2,
                  num_negatives=2, v2i_weight=1.0, attn_drop=0.0),
    pfr_head=dict(type='MMFPFRHead', num_heads=2, head_dims=8))
V0 = dict(
    icl_head=dict(type='ICLHead', logit_scale=10.0, mask_same_product=True),
    pmd_head=dict(TINY_RICE['pmd_head'], v2i_weight=1.0))
VARIANTS = {
    'patch': {},
    'box': dict(use_boxes=True),
    'text': dict(text_encoder=TEXT),
    'v0': V0,
    'mmf': MMF,
    'learnable_scale': dict(
        icl_head=dict(type='ICLHead', logit_scale=10.0,
                      learnable_scale=True)),
}


# At seeds 0-2 the tiny paper-era PFR head starts dead (see
# test_v0_pfr_head_gets_a_gradient_from_any_initialisation); seed 3 does not.
SEED = 3


def build_variant(name: str, seed: int = SEED):
    cfg = copy.deepcopy(TINY_RICE)
    cfg.update(copy.deepcopy(VARIANTS[name]))
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(cfg)


def batch(name: str, seed: int = 1) -> dict:
    """A training batch as the dataloader gives it: 0-255 pixels, a
    padded frame in clip 1, box masks that drop 2 of 4 patches of clip 0's
    first frame, titles and ASR (empty for clip 3). The ``v0`` batch has a
    second clip of image 0's product (clip 2), which the same-product mask
    keeps out of the negatives."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[1, 1] = False
    inputs = dict(
        image=torch.rand(B, 3, 16, 16, generator=g) * 255,
        frames=torch.rand(B, T, 3, 16, 16, generator=g) * 255,
        frame_mask=mask)
    ids = ['a', 'b', 'a', 'c'] if name == 'v0' else ['a', 'b', 'c', 'd']
    samples = []
    for i in range(B):
        s = DataSample(metainfo=dict(
            image_id=ids[i], title=f'红色 包 {i}',
            asr='' if i == 3 else f'直播 {i} 号'))
        patch = torch.ones(T, L, dtype=torch.bool)
        if i == 0:
            patch[0, 3:] = False
        s.patch_masks = patch
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


class GradRecorder(OptimWrapper):
    """Keeps a copy of every gradient before the optimizer step (which is
    followed by ``zero_grad``)."""

    def step(self, **kwargs) -> None:
        self.grads = {
            p: p.grad.detach().clone()
            for group in self.optimizer.param_groups for p in group['params']
            if p.grad is not None
        }
        super().step(**kwargs)


@pytest.mark.parametrize('name', list(VARIANTS))
def test_train_step_gives_every_parameter_a_gradient(name):
    model = build_variant(name).train()
    optim = GradRecorder(torch.optim.SGD(model.parameters(), lr=0.0))
    log = model.train_step(batch(name), optim)
    expected = {'loss_icl', 'loss_pmd', 'loss_pfr'}
    if name in ('v0', 'mmf'):
        expected.add('loss_pmd_v2i')
    assert expected <= set(log), log.keys()
    no_grad = [n for n, p in model.named_parameters()
               if p.requires_grad and (p not in optim.grads
                                       or not optim.grads[p].abs().sum() > 0)]
    assert not no_grad, f'{name}: no gradient for {no_grad}'
    # The variant's own parameters are among them.
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    own = dict(text=['text_proj.title.weight', 'text_proj.asr.weight',
                     'text_encoder.token_embed.weight'],
               mmf=['pmd_head.score_w', 'icl_head.log_scale'],
               learnable_scale=['icl_head.log_scale'],
               patch=['pmd_head.query_pos', 'pfr_head.conv1.weight'])
    assert set(own.get(name, [])) <= names


def _input_grads(model, name, loss_name):
    data = batch(name)
    data = model.data_preprocessor(data, True)
    inputs = data['inputs']
    inputs['image'].requires_grad_(True)
    inputs['frames'].requires_grad_(True)
    losses = model.loss(inputs, data['data_samples'])
    return torch.autograd.grad(
        losses[loss_name], [inputs['image'], inputs['frames']],
        allow_unused=True), inputs['frame_mask']


@pytest.mark.parametrize('name', list(VARIANTS))
@pytest.mark.parametrize('loss_name', ['loss_icl', 'loss_pmd', 'loss_pfr'])
def test_each_loss_reaches_the_pixels_of_both_views(name, loss_name):
    """ICL, PMD and PFR each back-propagate into every shop image and every
    real frame (a detached clip embedding, PMD query/key or PFR coefficient
    stops this), and never into a padded frame."""
    model = build_variant(name).train()
    (g_img, g_frm), frame_mask = _input_grads(model, name, loss_name)
    assert g_img is not None and g_frm is not None, loss_name
    per_image = g_img.abs().flatten(1).sum(1)
    per_frame = g_frm.abs().flatten(2).sum(2)
    assert (per_image > 0).all(), (loss_name, per_image)
    assert (per_frame[frame_mask] > 0).all(), (loss_name, per_frame)
    assert (per_frame[~frame_mask] == 0).all(), (loss_name, per_frame)


@pytest.mark.parametrize('name', ['patch', 'box', 'mmf'])
def test_padded_frames_and_masked_patches_change_no_loss(name):
    """What a padded frame holds (or, with boxes, what lies outside the box)
    never changes a loss: PMD's key-padding mask and the encoder's patch
    mask hide it."""
    model = build_variant(name).eval()  # no dropout
    data = batch(name)
    other = copy.deepcopy(data)
    other['inputs']['frames'][1, 1] = 255 - other['inputs']['frames'][1, 1]
    if name == 'box':
        # Clip 0, frame 0 keeps patches 1-2 (CLS + the top row): change the
        # bottom half of the frame, the masked patches 3-4.
        other['inputs']['frames'][0, 0, :, 8:] = 0.0
    with torch.no_grad():
        a = model.loss(**model.data_preprocessor(data, True))
        b = model.loss(**model.data_preprocessor(other, True))
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5), key
    # The check can fail: an unmasked frame does change the losses.
    third = copy.deepcopy(data)
    third['inputs']['frames'][1, 0] = 255 - third['inputs']['frames'][1, 0]
    with torch.no_grad():
        c = model.loss(**model.data_preprocessor(third, True))
    assert not torch.allclose(a['loss_pmd'], c['loss_pmd'], atol=1e-5)


@pytest.mark.xfail(strict=True, reason=(
    'the paper-era PFR conv map (PyTorch default init, H -> 4 -> 1 with '
    'ReLU) is <= 0 for every input at about 45% of initialisations: its '
    'parameters then get no gradient and loss_pfr is constant for the run'))
def test_v0_pfr_head_gets_a_gradient_from_any_initialisation():
    model = build_variant('patch', seed=0).train()
    optim = GradRecorder(torch.optim.SGD(model.parameters(), lr=0.0))
    model.train_step(batch('patch'), optim)
    grad = optim.grads.get(model.pfr_head.conv1.weight)
    assert grad is not None and grad.abs().sum() > 0
