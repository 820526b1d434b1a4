"""tools/analysis_tools/det_box_report.py: IoU and size of each frame's top
box, per split, on hand-made frames whose answers are known."""
import json

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample, TrackDataSample
from mmengine.fileio import dump
from mmengine.structures import InstanceData

from conftest import load_script


@pytest.fixture(scope='module')
def tool():
    return load_script('tools/analysis_tools/det_box_report.py')


def _gt(path):
    """Frames 1, 2 small (GT 10x10 at (10, 10)); frame 3 large (GT 40x40 at
    (0, 0)); frame 4 large with no detection."""
    images, anns = [], []
    for i, (scale, box) in enumerate([('small', [10, 10, 10, 10]),
                                      ('small', [10, 10, 10, 10]),
                                      ('large', [0, 0, 40, 40]),
                                      ('large', [0, 0, 40, 40])], 1):
        images.append(dict(id=i, width=64, height=64, file_name=f'{i}.jpg',
                           video_id=1, product_scale=scale))
        anns.append(dict(id=i, image_id=i, category_id=1, iscrowd=0,
                         bbox=box, area=box[2] * box[3]))
    with open(path, 'w') as f:
        json.dump(dict(images=images, annotations=anns,
                       categories=[dict(id=1, name='intended product')]), f)
    return str(path)


def _frame(img_id, boxes, scores):
    s = DetDataSample(metainfo=dict(img_id=img_id, ori_shape=(64, 64)))
    s.pred_instances = InstanceData(
        bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        scores=torch.tensor(scores, dtype=torch.float32),
        labels=torch.zeros(len(scores), dtype=torch.long))
    return s


def test_top_box_iou_and_area_ratio_per_split(tool, tmp_path):
    gt = _gt(tmp_path / 'gt.json')
    frames = [
        # exact box first, a far box with a lower score
        _frame(1, [[10, 10, 20, 20], [40, 40, 60, 60]], [0.9, 0.1]),
        # the top box is twice as wide (IoU 0.5, area ratio 2); the exact
        # box scores lower and must not be used
        _frame(2, [[10, 10, 30, 20], [10, 10, 20, 20]], [0.8, 0.3]),
        # half the side (IoU 0.25, area ratio 0.25)
        _frame(3, [[0, 0, 20, 20]], [0.5]),
        _frame(4, np.zeros((0, 4)), []),
    ]
    dump([f.to_dict() for f in frames], str(tmp_path / 'sd.pkl'))
    track = TrackDataSample()
    track.video_data_samples = frames
    dump([track.to_dict()], str(tmp_path / 'md.pkl'))
    out = tool.main([gt, f'SD={tmp_path / "sd.pkl"}',
                     f'MD={tmp_path / "md.pkl"}',
                     '--out', str(tmp_path / 'r.json')])
    assert list(out) == ['SD', 'MD']
    for name in out:
        small, large, whole = (out[name][k] for k in ('small', 'large', 'all'))
        assert small['frames'] == 2 and large['frames'] == 2
        assert small['median_iou'] == pytest.approx(0.75)
        assert small['iou_at_least_0_5'] == 1.0
        assert small['median_area_ratio'] == pytest.approx(1.5)
        # frame 4 has no box: IoU 0, no area ratio
        assert large['median_iou'] == pytest.approx(0.125)
        assert large['iou_at_least_0_5'] == 0.0
        assert large['median_area_ratio'] == pytest.approx(0.25)
        assert whole['frames'] == 4
        assert whole['iou_at_least_0_5'] == 0.5
    with open(tmp_path / 'r.json') as f:
        assert json.load(f)['SD']['small']['frames'] == 2


def test_names_need_a_path(tool, tmp_path):
    with pytest.raises(ValueError, match='expected NAME=PATH'):
        tool.main([_gt(tmp_path / 'gt.json'), 'sd.pkl'])
