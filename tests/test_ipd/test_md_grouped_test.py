"""Testing the multi-frame detector in fixed-size frame groups: a group
that covers the clip is whole-clip processing, smaller groups give every
frame one prediction in order, and no forward sees more than a group."""
import glob
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from md_fixtures import ROOT, build_md, make_clip, preprocess

from lpr.models.detectors.clip_batch import frame_groups

MD_CONFIGS = sorted(
    glob.glob(osp.join(ROOT, 'configs', 'ipd', 'transvod-lite_*.py')))


def transvod_lite_groups(num_frames, group_size):
    """TransVOD Lite's test grouping of one video (its ``vid_multi_eval``
    dataset without shuffling, gap 1): pad the frame list with its last
    ``offset`` frames to a multiple of the group size, cut it in order."""
    ids = list(range(num_frames))
    offset = math.ceil(num_frames / group_size) * group_size - num_frames
    if offset:
        ids.extend(ids[-offset:])
    return [ids[i:i + group_size] for i in range(0, len(ids), group_size)]


def test_groups_are_transvod_lites_for_clips_longer_than_a_group():
    for group in range(1, 13):
        for n in range(1, 31):
            groups = frame_groups(n, group)
            if n <= group:
                assert groups == [(list(range(n)), n)]
                continue
            assert [g for g, _ in groups] == transvod_lite_groups(n, group)
            new = [i for g, k in groups for i in g[:k]]
            assert new == list(range(n))
    assert frame_groups(9, 4) == [([0, 1, 2, 3], 4), ([4, 5, 6, 7], 4),
                                  ([8, 6, 7, 8], 1)]
    assert frame_groups(25, None) == [(list(range(25)), 25)]


def _predict(model, clips, group):
    model.test_cfg['frames_per_group'] = group
    batch = preprocess(model, clips)
    with torch.no_grad():
        out = model.predict(*batch)
    return [f.pred_instances for clip in out for f in clip]


def _assert_equal(preds, refs, atol):
    assert len(preds) == len(refs)
    for p, r in zip(preds, refs):
        torch.testing.assert_close(p.bboxes, r.bboxes, atol=atol, rtol=0)
        torch.testing.assert_close(p.scores, r.scores, atol=atol, rtol=0)
        assert torch.equal(p.labels, r.labels)


def test_a_group_covering_the_clip_is_whole_clip_processing():
    model = build_md()
    assert model.test_cfg['frames_per_group'] == 10
    whole = _predict(model, [make_clip(1, 4)], None)
    assert len(whole) == 4 and all(len(p) == 10 for p in whole)
    for group in (4, 10):
        _assert_equal(_predict(model, [make_clip(1, 4)], group), whole,
                      atol=1e-6)
    both = _predict(model, [make_clip(1, 4), make_clip(2, 4)], None)
    _assert_equal(
        _predict(model, [make_clip(1, 4), make_clip(2, 4)], 4), both,
        atol=1e-6)


def test_smaller_groups_give_each_frame_one_prediction_in_order(
        monkeypatch):
    model = build_md()
    forwarded, predicted = [], []
    backbone_forward = model.backbone.forward
    predict_by_feat = model.bbox_head.predict_by_feat

    def count_frames(x):
        forwarded.append(x.shape[0])
        return backbone_forward(x)

    def record(cls, boxes, metas, **kwargs):
        predicted.extend(m['img_id'] for m in metas)
        return predict_by_feat(cls, boxes, metas, **kwargs)

    monkeypatch.setattr(model.backbone, 'forward', count_frames)
    monkeypatch.setattr(model.bbox_head, 'predict_by_feat', record)
    clips = [make_clip(1, 5), make_clip(2, 5)]
    preds = _predict(model, clips, 2)
    # 3 groups of 2 frames per clip (the last: frame 4 and its copy).
    assert forwarded == [2] * 6
    assert predicted == [100 + t for t in range(5)] + [200 + t
                                                        for t in range(5)]
    assert all(len(p) == 10 for p in preds)
    forwarded.clear()
    predicted.clear()
    whole = _predict(model, [make_clip(1, 5)], None)
    assert forwarded == [5] and predicted == [100 + t for t in range(5)]

    # Each frame's prediction is that of its group run as a clip alone.
    monkeypatch.undo()
    frames, track = make_clip(1, 5)

    def alone(ids):
        sub = make_clip(1, 5)[1]
        sub.video_data_samples = [track[i] for i in ids]
        return _predict(model, [(frames[ids], sub)], None)

    expected = alone([0, 1]) + alone([2, 3]) + alone([4, 4])[:1]
    _assert_equal(preds[:5], expected, atol=1e-5)
    # The second clip is grouped on its own.
    _assert_equal(preds[5:], _predict(model, [make_clip(2, 5)], 2),
                  atol=1e-5)
    # Groups see less of the clip than the whole: the results differ.
    assert not torch.allclose(preds[0].scores, whole[0].scores, atol=1e-4)


@pytest.mark.parametrize('group', [0, -2, 2.5, True, '10'])
def test_frames_per_group_is_checked(group):
    with pytest.raises(ValueError, match='frames_per_group must be a '
                       'positive int'):
        build_md(test_cfg=dict(max_per_img=10, frames_per_group=group))
    model = build_md()
    model.test_cfg['frames_per_group'] = group
    with pytest.raises(ValueError, match='frames_per_group'):
        _predict(model, [make_clip(1, 3)], group)


@pytest.mark.parametrize('config', MD_CONFIGS, ids=osp.basename)
def test_md_configs_test_in_groups_of_the_training_clip_length(config):
    cfg = Config.fromfile(config)
    (sampler, ) = [
        t for t in cfg.train_dataloader.dataset.pipeline
        if t.type == 'ClipFrameSample'
    ]
    assert cfg.model.test_cfg.frames_per_group == sampler.num_frames == 10
