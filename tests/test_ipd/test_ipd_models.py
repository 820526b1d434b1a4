"""SeqHQM, the TransVOD-Lite detector and the plain-PyTorch focal loss."""
import os.path as osp

import pytest
import torch
from mmdet.models.losses import FocalLoss
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample, TrackDataSample
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

import lpr  # noqa: F401
from lpr.models.layers import SeqHQMStage, gather_topk_queries
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


def test_seqhqm_stage_shapes():
    stage = SeqHQMStage(top_k=3, embed_dims=16, num_classes=2, num_heads=2,
                        feedforward_channels=32)
    stage.init_weights()
    n, q, hw = 6, 5, 7  # 2 clips x 3 frames
    out = stage(torch.randn(n, q, 16), torch.rand(n, q, 4),
                torch.randn(n, q, 2), torch.randn(n, hw, 16),
                torch.randn(n, hw, 16), None, num_clips=2)
    query, cls, boxes = out
    assert query.shape == (n, 3, 16) and cls.shape == (n, 3, 2)
    assert boxes.shape == (n, 3, 4) and 0 <= boxes.min() <= boxes.max() <= 1
    with pytest.raises(ValueError):
        stage(torch.randn(5, q, 16), torch.rand(5, q, 4),
              torch.randn(5, q, 2), torch.randn(5, hw, 16),
              torch.randn(5, hw, 16), None, num_clips=2)


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


def test_two_clips_in_a_batch_match_each_clip_alone():
    model = _md().eval()
    a, b = _clip(3, 0), _clip(3, 1)
    with torch.no_grad():
        both = model._forward(*_batch(model, [a, b]))
        alone = [model._forward(*_batch(model, [c]))
                 for c in (_clip(3, 0), _clip(3, 1))]
    for stage, (cls, boxes) in enumerate(both):
        assert cls.shape[:2] == (6, (20, 15, 10)[stage])
        for i, one in enumerate(alone):
            torch.testing.assert_close(cls[3 * i:3 * i + 3], one[stage][0],
                                       atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(boxes[3 * i:3 * i + 3],
                                       one[stage][1], atol=1e-4, rtol=1e-4)


def test_losses_per_stage_and_a_frozen_detector():
    model = _md().train()
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
