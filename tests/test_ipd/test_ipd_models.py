"""SeqHQM, the TransVOD-Lite detector and the plain-PyTorch focal loss."""
import os.path as osp

import pytest
import torch
from torch import nn
from mmcv.ops import MultiScaleDeformableAttention
from mmdet.models.layers import (DeformableDetrTransformerDecoderLayer,
                                 DetrTransformerDecoderLayer)
from mmdet.models.losses import FocalLoss
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample, TrackDataSample
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

import lpr  # noqa: F401
from lpr.models.layers import (CascadeSeqHQMStage, SeqHQMStage,
                               gather_topk_queries, single_level_memory)
from lpr.models.losses import TorchFocalLoss

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MD_CONFIG = osp.join(ROOT,
                     'configs/ipd/transvod-lite_r18-slim_1xb2-3e_toy-lpr4m.py')


def test_gather_topk_queries_picks_the_best_per_frame():
    scores = torch.tensor([[0.1, 0.9, 0.5, 0.7], [0.8, 0.2, 0.6, 0.1]])
    feats = torch.arange(2 * 4 * 3, dtype=torch.float).view(2, 4, 3)
    boxes = torch.rand(2, 4, 4)
    index, f, b = gather_topk_queries(scores, 2, feats, boxes)
    assert index.tolist() == [[1, 3], [0, 2]]
    assert f.shape == (2, 2, 3) and b.shape == (2, 2, 4)
    assert torch.equal(f[0, 0], feats[0, 1]) and torch.equal(f[1, 1],
                                                             feats[1, 2])
    assert torch.equal(b[0, 1], boxes[0, 3])
    with pytest.raises(ValueError):
        gather_topk_queries(scores, 5, feats)


def _small_stage(top_k=3, temporal_dims=16, **kwargs):
    d, t = 16, temporal_dims
    return SeqHQMStage(
        top_k=top_k,
        num_classes=2,
        temporal_encoder=dict(
            self_attn_cfg=dict(embed_dims=t, num_heads=2),
            cross_attn_cfg=dict(embed_dims=t, num_heads=2),
            ffn_cfg=dict(embed_dims=t, feedforward_channels=32)),
        frame_decoder=dict(
            num_layers=1,
            layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=d, num_heads=2),
                cross_attn_cfg=dict(
                    embed_dims=d, num_heads=2, num_levels=1, num_points=2),
                ffn_cfg=dict(embed_dims=d, feedforward_channels=32))),
        **kwargs)


def _memory(n, h=3, w=4, d=16, valid_w=None):
    mask = None
    if valid_w is not None:
        mask = torch.zeros(n, h, w, dtype=torch.bool)
        mask[..., valid_w:] = True
        mask = mask.flatten(1)
    return single_level_memory(torch.randn(n, h * w, d), mask, (h, w))


def test_single_level_memory_describes_one_level():
    mem = _memory(2, valid_w=3)
    assert mem['spatial_shapes'].tolist() == [[3, 4]]
    assert mem['level_start_index'].tolist() == [0]
    assert mem['valid_ratios'].shape == (2, 1, 2)
    torch.testing.assert_close(mem['valid_ratios'][:, 0],
                               torch.tensor([[0.75, 1.0], [0.75, 1.0]]))
    assert mem['key_padding_mask'].dtype == torch.bool
    mem = _memory(2)
    assert mem['key_padding_mask'] is None
    assert torch.equal(mem['valid_ratios'], torch.ones(2, 1, 2))
    with pytest.raises(ValueError, match='does not flatten'):
        single_level_memory(torch.randn(2, 12, 16), None, (3, 5))
    with pytest.raises(ValueError, match='memory_mask of shape'):
        single_level_memory(torch.randn(2, 12, 16),
                            torch.zeros(2, 11, dtype=torch.bool), (3, 4))


def test_seqhqm_stage_shapes_and_deformable_frame_decoder():
    stage = _small_stage()
    stage.init_weights()
    assert type(stage.temporal_encoder) is DetrTransformerDecoderLayer
    layer = stage.frame_decoder.layers[0]
    assert isinstance(layer, DeformableDetrTransformerDecoderLayer)
    assert isinstance(layer.cross_attn, MultiScaleDeformableAttention)
    assert layer.cross_attn.num_levels == 1
    # mmcv's deformable-attention initialisation survives the xavier pass.
    assert torch.equal(layer.cross_attn.sampling_offsets.weight,
                       torch.zeros_like(layer.cross_attn.sampling_offsets
                                        .weight))
    n, q = 6, 5  # 2 clips x 3 frames
    out = stage(torch.randn(n, q, 16), torch.rand(n, q, 4),
                torch.randn(n, q, 2), 2, **_memory(n, valid_w=3))
    query, cls, boxes, _ = out
    assert query.shape == (n, 3, 16) and cls.shape == (n, 3, 2)
    assert boxes.shape == (n, 3, 4) and 0 <= boxes.min() <= boxes.max() <= 1
    with pytest.raises(ValueError, match='do not split into 2 clips'):
        stage(torch.randn(5, q, 16), torch.rand(5, q, 4),
              torch.randn(5, q, 2), 2, **_memory(5))
    with pytest.raises(ValueError, match='temporal encoder 8 wide'):
        _small_stage(temporal_dims=8)


@pytest.mark.parametrize('stage_type', [SeqHQMStage, CascadeSeqHQMStage])
def test_stage_hands_on_its_kept_references_or_its_refined_boxes(
        stage_type):
    torch.manual_seed(0)
    stage = _small_stage(top_k=2)
    stage.__class__ = stage_type
    stage.init_weights()
    nn.init.normal_(stage.reg_head.layers[-1].bias)  # a non-zero refinement
    n, q = 2, 4
    reference = torch.rand(n, q, 4) * 0.8 + 0.1
    logits = torch.randn(n, q, 2)
    _, _, boxes, nxt = stage(torch.randn(n, q, 16), reference, logits, 1,
                             **_memory(n))
    index = logits.sigmoid().max(-1).values.topk(2, dim=1).indices
    kept = torch.stack([reference[i, index[i]] for i in range(n)])
    assert not torch.allclose(boxes, kept, atol=1e-3)
    if stage_type is SeqHQMStage:  # TransVOD Lite: the kept SD boxes
        assert torch.equal(nxt, kept) and not nxt.requires_grad
    else:
        assert torch.equal(nxt, boxes)


def test_frame_decoder_reads_the_frame_memory_at_the_reference_boxes():
    """Deformable cross-attention samples the memory around each query's
    reference box: changing memory far from every box changes nothing,
    changing it under a box changes that query."""
    torch.manual_seed(0)
    stage = _small_stage(top_k=1).eval()
    stage.init_weights()
    h = w = 8
    mem = _memory(1, h, w)
    # One query, a small box in the top-left corner.
    reference = torch.tensor([[[0.125, 0.125, 0.1, 0.1]]])
    args = (torch.randn(1, 1, 16), reference, torch.zeros(1, 1, 2), 1)
    with torch.no_grad():
        base = stage(*args, **mem)[0]
        far = dict(mem, value=mem['value'].clone())
        far['value'].view(1, h, w, 16)[:, 4:, 4:] += 5.0
        assert torch.equal(stage(*args, **far)[0], base)
        near = dict(mem, value=mem['value'].clone())
        near['value'].view(1, h, w, 16)[:, :2, :2] += 5.0
        assert not torch.allclose(stage(*args, **near)[0], base)


def _md(**overrides):
    cfg = Config.fromfile(MD_CONFIG)
    cfg.model.update(overrides)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def _clip(num_frames, seed, h=64, w=96):
    g = torch.Generator().manual_seed(seed)
    frames = torch.randint(0, 255, (num_frames, 3, h, w), generator=g)
    samples = []
    for t in range(num_frames):
        s = DetDataSample(
            metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                          scale_factor=(1.0, 1.0), img_id=seed * 100 + t))
        s.gt_instances = InstanceData(
            bboxes=torch.tensor([[10.0, 8.0, 50.0, 40.0 + t]]),
            labels=torch.zeros(1, dtype=torch.long))
        samples.append(s)
    track = TrackDataSample()
    track.video_data_samples = samples
    return frames, track


def _batch(model, clips):
    data = dict(inputs=[c[0] for c in clips],
                data_samples=[c[1] for c in clips])
    out = model.data_preprocessor(data, training=False)
    return out['inputs'], out['data_samples']


@pytest.mark.parametrize('stage_type', ['SeqHQMStage', 'CascadeSeqHQMStage'])
def test_losses_per_stage_and_a_frozen_detector(stage_type):
    cfg = Config.fromfile(MD_CONFIG).model.stage_cfg
    model = _md(stage_cfg=dict(cfg, type=stage_type)).train()
    batch = _batch(model, [_clip(2, 0), _clip(2, 1)])
    losses = model.loss(*batch)
    expected = {'loss_cls', 'loss_bbox', 'loss_iou'}
    expected |= {f's{i}.{k}' for i in (0, 1) for k in expected}
    assert set(losses) == expected
    sum(losses.values()).backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is None for n, g in grads.items()
               if not n.startswith('stages.'))
    assert any(g is not None and g.abs().sum() > 0
               for n, g in grads.items() if n.startswith('stages.'))
    assert not model.backbone.training and model.stages.training


def test_predict_gives_max_per_img_boxes_per_frame():
    model = _md().eval()
    batch = _batch(model, [_clip(3, 0)])
    with torch.no_grad():
        out = model.predict(*batch)
    frames = out[0].video_data_samples
    assert len(frames) == 3
    # Every box of the last stage (10 queries x 1 class), for AP.
    assert all(len(f.pred_instances.bboxes) == 10 for f in frames)


def test_stage_topk_is_checked():
    with pytest.raises(ValueError, match='non-increasing'):
        _md(stage_topk=(10, 20))
    with pytest.raises(ValueError, match='num_queries'):
        _md(stage_topk=(40, ))


@pytest.mark.parametrize('stage_type,hops', [('SeqHQMStage', (1, 1, 1)),
                                             ('CascadeSeqHQMStage',
                                              (1, 2, 3))])
def test_every_stage_is_anchored_on_the_sd_boxes_or_cascades(
        stage_type, hops):
    """With box heads that add a constant c to every box logit, a stage
    anchored on the SD's boxes predicts SD box logits + c; a cascade adds c
    once per stage so far."""
    cfg = Config.fromfile(MD_CONFIG).model.stage_cfg
    model = _md(stage_cfg=dict(cfg, type=stage_type)).eval()
    c = 0.3
    for stage in model.stages:
        nn.init.zeros_(stage.reg_head.layers[-1].weight)
        nn.init.constant_(stage.reg_head.layers[-1].bias, c)
    inputs, clips = _batch(model, [_clip(2, 0)])
    frames = inputs.flatten(0, 1)
    samples = clips[0].video_data_samples
    with torch.no_grad():
        outputs = model._forward(inputs, clips)
        img_feats = model.extract_feat(frames)
        enc, dec = model.pre_transformer(img_feats, samples)
        enc_out = model.forward_encoder(**enc)
        query, _ = model.pre_decoder(**enc_out)
        dec.update(query)
        out = model.forward_decoder(**dec)
        _, sd_boxes = model.bbox_head(out['hidden_states'][-1:],
                                      out['references'][-1:])
    sd_logits = torch.logit(sd_boxes[0].clamp(1e-3, 1 - 1e-3))
    for (_, boxes), k in zip(outputs, hops):
        # Every box is one of its frame's SD boxes, shifted k times (to
        # float precision of logits near 0 and 1), not k + 1 times.
        for shift, close in ((k, True), (k + 1, False)):
            logits = torch.logit(boxes) - shift * c
            dist = torch.cdist(logits, sd_logits).min(-1).values
            assert (dist.max() < 1e-2) == close, (stage_type, k, shift)


def test_stage_width_must_match_the_detector():
    cfg = Config.fromfile(MD_CONFIG).model.stage_cfg
    for layer_cfg in (cfg.frame_decoder.layer_cfg, cfg.temporal_encoder):
        for key in ('self_attn_cfg', 'cross_attn_cfg', 'ffn_cfg'):
            layer_cfg[key].embed_dims = 64
    with pytest.raises(ValueError, match='64 wide, the detector 128'):
        _md(stage_cfg=cfg)


def test_torch_focal_loss_matches_mmdet_and_never_uses_the_compiled_op(
        monkeypatch):
    pred = torch.randn(7, 3, requires_grad=True)
    labels = torch.tensor([0, 2, 3, 1, 3, 0, 2])  # 3 = background
    weight = torch.rand(7)
    ours = TorchFocalLoss(use_sigmoid=True)(pred, labels, weight,
                                            avg_factor=4.0)
    ref = FocalLoss(use_sigmoid=True)(pred, labels, weight, avg_factor=4.0)
    torch.testing.assert_close(ours, ref)
    # The branch FocalLoss takes for CUDA tensors with index targets is
    # never reached: the targets arrive one-hot.
    seen = {}
    original = FocalLoss.forward

    def spy(self, p, t, *args, **kwargs):
        seen['dims'] = (p.dim(), t.dim())
        return original(self, p, t, *args, **kwargs)

    monkeypatch.setattr(FocalLoss, 'forward', spy)
    TorchFocalLoss(use_sigmoid=True)(pred, labels)
    assert seen['dims'] == (2, 2)
