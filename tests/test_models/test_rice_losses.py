"""ICL / PMD / PFR against hand computations, hard-negative mining and the
gradient paths."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import lpr  # noqa: F401
from lpr.models import ICLHead, PFRHead, PMDHead, clip_embedding
from tiny_rice import tiny_vit_encoder


def test_clip_embedding_v0_rule():
    frames = torch.tensor([[[3., 4.], [0., 2.], [9., 9.]]])
    mask = torch.tensor([[True, True, False]])
    # normalise each frame: (0.6, 0.8), (0, 1); mean (0.3, 0.9); normalise
    expected = torch.tensor([0.3, 0.9]) / math.hypot(0.3, 0.9)
    assert torch.allclose(clip_embedding(frames, mask)[0], expected)


def test_icl_loss_by_hand_and_same_product_mask():
    clip = F.normalize(torch.tensor([[1., 0.], [0., 1.], [1., 1.]]), dim=1)
    image = F.normalize(torch.tensor([[1., 0.2], [0.1, 1.], [1., 0.9]]),
                        dim=1)
    ids = ['a', 'b', 'a']  # clips 0 and 2 show the same shop image
    head = ICLHead(logit_scale=10.0, mask_same_product=False)
    losses, mining = head.loss(clip, image, ids)
    s = 10.0 * image @ clip.t()
    t = torch.arange(3)
    expected = 0.5 * (F.cross_entropy(s, t) + F.cross_entropy(s.t(), t))
    assert torch.allclose(losses['loss_icl'], expected, atol=1e-6)
    assert mining['same'].tolist() == [[False, False, True],
                                       [False, False, False],
                                       [True, False, False]]
    masked = ICLHead(logit_scale=10.0, mask_same_product=True)
    losses, _ = masked.loss(clip, image, ids)
    inf = float('-inf')
    s_m = s.clone()
    s_m[0, 2] = s_m[2, 0] = inf
    v2i = s.t().clone()
    v2i[0, 2] = v2i[2, 0] = inf
    expected = 0.5 * (F.cross_entropy(s_m, t) + F.cross_entropy(v2i, t))
    assert torch.allclose(losses['loss_icl'], expected, atol=1e-6)


def test_hard_negative_mining():
    head = PMDHead(embed_dims=8, num_heads=2, num_query_tokens=3,
                   num_negatives=2)
    sim = torch.tensor([[0.9, 0.8, 0.7, 0.1, 0.95],
                        [0.2, 0.3, 0.9, 0.8, 0.1]])
    targets = torch.tensor([0, 1])
    exclude = torch.zeros(2, 5, dtype=torch.bool)
    exclude[0, 4] = True  # same product as image 0
    negs, valid = head.mine_negatives(sim, targets, exclude)
    assert negs.tolist() == [[1, 2], [2, 3]]
    assert valid.all()
    # Only one allowed wrong column left for image 0: the second is filler.
    exclude[0, 1:3] = True
    negs, valid = head.mine_negatives(sim, targets, exclude)
    assert negs[0, 0] == 3 and valid.tolist() == [[True, False],
                                                   [True, True]]
    for row, t in zip(negs.tolist(), targets.tolist()):
        assert t not in row
    assert 4 not in negs[0].tolist()


def test_pmd_listwise_loss_equals_cross_entropy():
    torch.manual_seed(0)
    head = PMDHead(embed_dims=8, num_heads=2, num_query_tokens=3,
                   num_negatives=2, attn_drop=0.0).eval()
    img = torch.randn(2, 3, 8)
    clips = torch.randn(4, 6, 8)
    valid = torch.ones(4, 6, dtype=torch.bool)
    mining = dict(
        sim=torch.tensor([[1.0, 0.5, 0.9, 0.1], [0.3, 1.0, 0.2, 0.8]]),
        targets=torch.tensor([0, 1]),
        same=torch.zeros(2, 4, dtype=torch.bool))
    losses, pos_logits = head.loss_and_predict(img, clips, valid, mining)
    assert head.loss(img, clips, valid, mining).keys() == losses.keys()
    # image 0: [0, 2, 1]; image 1: [1, 3, 0]
    rows = []
    for i, cols in enumerate([[0, 2, 1], [1, 3, 0]]):
        s, _ = head(img[i:i + 1].expand(3, -1, -1), clips[cols], valid[cols])
        rows.append(s)
    expected = F.cross_entropy(torch.stack(rows), torch.zeros(2).long())
    assert torch.allclose(losses['loss_pmd'], expected, atol=1e-5)
    assert pos_logits.shape == (2, 2, 3, 6)


def test_pfr_gradients_flow_only_through_the_coefficients():
    torch.manual_seed(0)
    pmd = PMDHead(embed_dims=8, num_heads=2, num_query_tokens=3,
                  attn_drop=0.0)
    pfr = PFRHead(num_heads=2, tokens_per_frame=3, loss_weight=1.0)
    img = torch.randn(2, 3, 8, requires_grad=True)
    clip = torch.randn(2, 6, 8, requires_grad=True)
    valid = torch.ones(2, 6, dtype=torch.bool)
    _, logits = pmd(img, clip, valid)
    loss = pfr.loss(logits.softmax(-1), img, clip, valid)['loss_pfr']
    loss.backward()
    assert pfr.conv1.weight.grad.abs().sum() > 0
    assert pmd.cross_attn.q.weight.grad.abs().sum() > 0
    assert pmd.cross_attn.k.weight.grad.abs().sum() > 0
    # The values of the attention never enter PFR.
    assert pmd.cross_attn.v.weight.grad is None or \
        pmd.cross_attn.v.weight.grad.abs().sum() == 0
    # By hand: W from the attention, targets and values detached.
    probs = logits.softmax(-1)[:, :, 1:][..., [1, 2, 4, 5]]
    w = F.relu(pfr.conv2(F.relu(pfr.conv1(probs)))).squeeze(1)
    recon = w @ clip.detach()[:, [1, 2, 4, 5]]
    expected = F.mse_loss(recon, img.detach()[:, 1:])
    assert torch.allclose(loss, expected, atol=1e-6)


TINY = tiny_vit_encoder()


def build(cfg):
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(cfg)


def test_masked_vit_forward_matches_the_plain_one():
    enc = build(TINY).eval()
    x = torch.randn(3, 3, 32, 32)
    g1, t1 = enc(x)
    g2, t2 = enc(x, torch.ones(3, 5, dtype=torch.bool))
    assert torch.allclose(t1, t2, atol=1e-5)
    mask = torch.tensor([[True, True, False, False, False]] * 3)
    _, t3 = enc(x, mask)
    assert not torch.allclose(t1, t3, atol=1e-3)


def test_cnn_box_mask_pools_the_global_token_inside_the_box():
    enc = build(
        dict(type='TokenEncoder', in_channels=64, embed_dims=8,
             backbone=dict(type='ResNet', depth=18, base_channels=8,
                           stem_channels=8, out_indices=(3, )))).eval()
    x = torch.randn(2, 3, 64, 64)  # 2x2 map: 4 cells + the global token
    g_all, tokens = enc(x)
    g_full, _ = enc(x, torch.ones(2, 5, dtype=torch.bool))
    assert torch.allclose(g_all, g_full, atol=1e-5)
    mask = torch.tensor([[True, True, False, False, True]] * 2)
    g_box, tokens_box = enc(x, mask)
    # The global token is the projection of the kept cells' mean.
    assert torch.allclose(g_box, tokens[:, [1, 4]].mean(1), atol=1e-5)
    assert torch.allclose(tokens_box[:, 1:], tokens[:, 1:], atol=1e-5)
    with pytest.raises(ValueError, match='cells'):
        enc(x, torch.ones(2, 10, dtype=torch.bool))


@pytest.mark.parametrize('backbone, channels', [
    (dict(type='ResNet', depth=18, base_channels=8, stem_channels=8,
          out_indices=(3, )), 64),
    (dict(type='mmdet.ResNet', depth=18, base_channels=8, out_indices=(3, ),
          init_cfg=None), 64),
    (dict(type='SwinTransformer', arch=dict(embed_dims=16, depths=[1, 1],
                                             num_heads=[1, 2]),
          img_size=32, patch_size=4, window_size=4,
          out_indices=(1, )), 32),
])
def test_other_backbones_train_rice(backbone, channels):
    model = build(
        dict(
            type='RICE',
            encoder=dict(type='TokenEncoder', in_channels=channels,
                         embed_dims=16, backbone=backbone),
            pmd_head=dict(type='PMDHead', embed_dims=16, num_heads=2,
                          num_query_tokens=4)))
    inputs = dict(
        image=torch.randn(2, 3, 32, 32),
        frames=torch.randn(2, 2, 3, 32, 32),
        frame_mask=torch.ones(2, 2, dtype=torch.bool))
    samples = [DataSample(metainfo=dict(image_id=str(i))) for i in range(2)]
    losses = model.loss(inputs, samples)
    assert set(losses) == {'loss_icl', 'loss_pmd'}
    sum(losses.values()).backward()


def test_pair_encoding_equals_separate_encoding_and_shares_bn_stats():
    cnn = dict(type='TokenEncoder', in_channels=64, embed_dims=8,
               backbone=dict(type='ResNet', depth=18, base_channels=8,
                             stem_channels=8, out_indices=(3, )))
    for enc_cfg in (TINY, cnn):
        size = 32 if enc_cfg is TINY else 64
        model = build(dict(type='RICE', encoder=enc_cfg)).eval()
        image = torch.randn(2, 3, size, size)
        frames = torch.randn(2, 3, 3, size, size)
        fmask = torch.tensor([[True, True, False], [True, True, True]])
        n_tok = 5
        pmask = torch.ones(2, 3, n_tok, dtype=torch.bool)
        pmask[0, 1, 2:] = False
        img_g, img_t, clip, vid_t, valid = model.extract_pair(
            image, frames, fmask, pmask)
        ref_g, ref_t = model.extract_image(image)
        ref_c, ref_v, ref_valid = model.extract_clip(frames, fmask, pmask)
        for a, b in ((img_g, ref_g), (img_t, ref_t), (clip, ref_c),
                     (vid_t, ref_v)):
            assert torch.allclose(a, b, atol=1e-5)
        assert torch.equal(valid, ref_valid)
    # Training mode: one BN batch for both views, so an image's embedding
    # depends on the frames it is encoded with.
    model = build(dict(type='RICE', encoder=cnn)).train()
    image = torch.randn(2, 3, 64, 64)
    g1 = model.extract_pair(image, torch.randn(2, 3, 3, 64, 64), fmask)[0]
    g2 = model.extract_pair(image, torch.randn(2, 3, 3, 64, 64) + 3, fmask)[0]
    assert not torch.allclose(g1, g2, atol=1e-3)


def test_cnn_gem_pooling_by_hand():
    enc = build(
        dict(type='TokenEncoder', in_channels=64, embed_dims=8, gem_p=3.0,
             backbone=dict(type='ResNet', depth=18, base_channels=8,
                           stem_channels=8, out_indices=(3, )))).eval()
    x = torch.randn(2, 3, 64, 64)
    fmap = enc.backbone(x)[-1].flatten(2).transpose(1, 2)  # (2, 4, 64)
    g, tokens = enc(x)
    gem = fmap.clamp(min=1e-6).pow(3).mean(1).pow(1 / 3)
    assert torch.allclose(g, enc.proj(gem), atol=1e-5)
    assert torch.allclose(tokens[:, 1:], enc.proj(fmap), atol=1e-5)
    mask = torch.tensor([[True, True, False, False, True]] * 2)
    g_box, _ = enc(x, mask)
    gem_box = fmap[:, [0, 3]].clamp(min=1e-6).pow(3).mean(1).pow(1 / 3)
    assert torch.allclose(g_box, enc.proj(gem_box), atol=1e-5)
    # GeM sits between the mean and the max of the positions
    assert (gem >= fmap.mean(1) - 1e-5).all()
    assert (gem <= fmap.max(1).values + 1e-5).all()
    with pytest.raises(ValueError, match='gem_p'):
        build(dict(type='TokenEncoder', in_channels=64, gem_p=0.5,
                   backbone=dict(type='ResNet', depth=18)))
