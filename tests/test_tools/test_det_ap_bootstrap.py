"""tools/analysis_tools/det_ap_bootstrap.py: detection AP with bootstrap
intervals over test frames, on hand-made ground truth and predictions whose
AP is known."""
import json
import re

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample, TrackDataSample
from mmengine.fileio import dump, load
from mmengine.structures import InstanceData

from lpr.evaluation import IntendedProductMetric
from lpr.evaluation.det_bootstrap import (ResampledAP, bootstrap_ap,
                                          load_detections, load_gt,
                                          metric_keys, resample_positions)
from conftest import load_script

SIDE = 100
FAR = [80.0, 80.0, 95.0, 95.0]  # overlaps no GT box


@pytest.fixture(scope='module')
def tool():
    return load_script('tools/analysis_tools/det_ap_bootstrap.py')


def _gt_box(i):
    """Frame i's GT box (xyxy), a different place per frame."""
    x, y = 5 + 3 * (i % 10), 5 + 2 * (i % 7)
    return [float(x), float(y), x + 30.0, y + 40.0]


def _write_gt(path, n, frames_per_clip=2):
    """n frames with one GT box each; scale alternates small / large (no
    medium frame), 2 frames per clip."""
    images, anns = [], []
    for i in range(n):
        images.append(dict(
            id=i + 1, width=SIDE, height=SIDE, file_name=f'{i}.jpg',
            video_id=i // frames_per_clip + 1,
            product_scale='small' if i % 2 else 'large',
            visible_duration='long', product_number='few'))
        x1, y1, x2, y2 = _gt_box(i)
        anns.append(dict(id=i + 1, image_id=i + 1, category_id=1, iscrowd=0,
                         bbox=[x1, y1, x2 - x1, y2 - y1],
                         area=(x2 - x1) * (y2 - y1)))
    with open(path, 'w') as f:
        json.dump(dict(images=images, annotations=anns,
                       categories=[dict(id=1, name='intended product')]), f)
    return str(path)


def _sample(img_id, boxes, scores, labels=None):
    s = DetDataSample(metainfo=dict(img_id=img_id, ori_shape=(SIDE, SIDE)))
    s.pred_instances = InstanceData(
        bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        scores=torch.tensor(scores, dtype=torch.float32),
        labels=torch.zeros(len(scores), dtype=torch.long)
        if labels is None else torch.tensor(labels))
    return s


def _dump(path, samples, clips=0):
    """What tools/test.py --out writes: per-frame sample dicts, or (clips:
    frames per clip) per-clip dicts of a multi-frame detector."""
    if clips:
        out = []
        for i in range(0, len(samples), clips):
            track = TrackDataSample()
            track.video_data_samples = samples[i:i + clips]
            out.append(track.to_dict())
    else:
        out = [s.to_dict() for s in samples]
    dump(out, str(path))
    return str(path)


def _perfect(n, missed=()):
    return [
        _sample(i + 1, [] if i in missed else [_gt_box(i)],
                [] if i in missed else [0.5]) for i in range(n)
    ]


def _triple(cell):
    """(estimate, lower, upper); COCOeval's precision tp / (tp + fp + eps)
    puts a perfect AP within 1e-15 of 1."""
    return cell['est'], cell['lo'], cell['hi']


def _assert_same(a, b):
    """Equal tables (NaN where both have no value)."""
    assert list(a) == list(b) == metric_keys()
    np.testing.assert_array_equal([_triple(a[k]) for k in a],
                                  [_triple(b[k]) for k in b])


def test_perfect_predictions_give_ap_1_with_degenerate_interval(
        tool, tmp_path, capsys):
    gt = _write_gt(tmp_path / 'gt.json', 8)
    sd = _dump(tmp_path / 'sd.pkl', _perfect(8))
    md = _dump(tmp_path / 'md.pkl', _perfect(8), clips=2)  # clip samples
    out_file = str(tmp_path / 'ci.json')
    out = tool.main([gt, f'SD={sd}', f'MD={md}', '--n-boot', '30',
                     '--out', out_file])
    for name in ('SD', 'MD'):
        cells = out['detectors'][name]
        for key in ('AP', 'AP50', 'AP75', 'product_scale/small/AP50',
                    'product_scale/large/AP50', 'visible_duration/long/AP50'):
            assert _triple(cells[key]) == pytest.approx((1, 1, 1)), key
        # No medium-scale frame: no value.
        assert np.isnan(cells['product_scale/medium/AP50']['est'])
    table = capsys.readouterr().out
    assert '| detector | AP | AP50 | AP75 | scale:small' in table
    assert '| SD | 100.0 [100.0, 100.0] |' in table
    assert 'scale:small 4, scale:medium 0, scale:large 4' in table
    assert re.search(r'30 resamples of frames \(seed 0\): .* s per '
                     r'resample and detector', table)
    with open(out_file) as f:
        saved = json.load(f)
    assert saved['detectors']['MD']['AP']['lo'] == pytest.approx(1.0)
    assert saved['detectors']['MD']['product_scale/medium/AP50'] == dict(
        est=None, lo=None, hi=None)
    assert saved['frames'] == 8 and saved['n_boot'] == 30
    assert saved['seconds_per_resample_and_detector'] > 0


def test_one_high_scoring_false_positive(tool, tmp_path):
    """4 perfect boxes at score 0.5 and one box on no product at 0.9 in
    frame 1: precision k/(k+1) at recall k/4, interpolated to 4/5 at every
    recall and IoU threshold, so AP = AP50 = AP75 = 0.8."""
    gt = _write_gt(tmp_path / 'gt.json', 4)
    samples = _perfect(4)
    samples[0] = _sample(1, [FAR, _gt_box(0)], [0.9, 0.5])
    pred = _dump(tmp_path / 'fp.pkl', samples)
    out = tool.main([gt, f'FP={pred}', '--n-boot', '40', '--seed', '1'])
    cells = out['detectors']['FP']
    for key in ('AP', 'AP50', 'AP75'):
        assert cells[key]['est'] == pytest.approx(0.8, abs=1e-12)
        # A resample without frame 1 has AP 1; with it drawn c times of 4,
        # 4 / (4 + c) at the lowest.
        assert 0.5 <= cells[key]['lo'] < 0.8 < cells[key]['hi'] <= 1.0
    # Frame 1 is large: the small frames are perfect.
    assert _triple(cells['product_scale/small/AP50']) == pytest.approx(
        (1, 1, 1))
    assert cells['product_scale/large/AP50']['est'] == pytest.approx(2 / 3)


def test_paired_difference_of_identical_files_is_zero(tool, tmp_path):
    gt = _write_gt(tmp_path / 'gt.json', 10)
    samples = _perfect(10, missed=(2, 5))
    samples[3] = _sample(4, [FAR, _gt_box(3)], [0.9, 0.4])
    a = _dump(tmp_path / 'a.pkl', samples)
    b = _dump(tmp_path / 'b.pkl', samples, clips=2)
    out = tool.main([gt, f'A={a}', f'B-2={b}', '--diff', 'A-B-2', '--n-boot',
                     '30'])
    _assert_same(out['detectors']['A'], out['detectors']['B-2'])
    assert out['detectors']['A']['AP']['lo'] < out['detectors']['A']['AP'][
        'hi']
    compared = 0
    for key in metric_keys():
        cell = out['diffs']['A-B-2'][key]
        if np.isnan(out['detectors']['A'][key]['est']):  # a split without
            assert np.isnan(cell['est'])  # frames
        else:
            assert _triple(cell) == pytest.approx((0, 0, 0)), key
            compared += 1
    assert compared == 3 + 2 + 1 + 1  # AP, AP50, AP75 and 4 split cells


def test_perfect_beats_half_missed_on_every_resample(tool, tmp_path, capsys):
    n = 20
    gt = _write_gt(tmp_path / 'gt.json', n)
    good = _dump(tmp_path / 'good.pkl', _perfect(n))
    half = _dump(tmp_path / 'half.pkl', _perfect(n, missed=range(0, n, 2)))
    out = tool.main([gt, f'MD={good}', f'SD={half}', '--diff', 'MD-SD',
                     '--n-boot', '50'])
    printed = capsys.readouterr().out
    # Frames without boxes are entries of the file all the same.
    assert 'have no entry' not in printed
    # Precision 1 up to recall 0.5, then nothing: 51 of 101 recall points.
    assert out['detectors']['SD']['AP']['est'] == pytest.approx(51 / 101)
    diff = out['diffs']['MD-SD']['AP']
    assert diff['est'] == pytest.approx(50 / 101)
    assert diff['lo'] > 0
    assert '| MD − SD | +49.5 [' in printed
    # Every single resample, not only the interval.
    coco_gt = load_gt(gt)
    ids = sorted(coco_gt.get_img_ids())
    evs = {
        name: ResampledAP(coco_gt, load_detections(path, coco_gt, [1])[0],
                          ids, [1])
        for name, path in (('MD', good), ('SD', half))
    }
    res = bootstrap_ap(evs, resample_positions(ids, 50, 0), [('MD', 'SD')])
    paired = res['samples']['MD'] - res['samples']['SD']
    assert (paired[:, 0] > 0).all() and (paired[:, 1] > 0).all()
    _assert_same(res['diffs']['MD-SD'], out['diffs']['MD-SD'])


def test_estimates_equal_intended_product_metric(tmp_path):
    """Several scored boxes per frame, clip samples, class-agnostic merge:
    the estimates are the metric's numbers (its overall AP is rounded to
    3 decimals)."""
    n = 24
    gt = _write_gt(tmp_path / 'gt.json', n, frames_per_clip=4)
    rng = np.random.default_rng(0)
    samples = []
    for i in range(n):
        g = np.array(_gt_box(i))
        boxes = [g + rng.normal(0, 4, 4) for _ in range(3)] + [FAR]
        samples.append(_sample(i + 1, np.stack(boxes),
                               rng.uniform(0, 1, 4).tolist(),
                               labels=[0, 1, 2, 1]))
    pred = _dump(tmp_path / 'md.pkl', samples, clips=4)
    metric = IntendedProductMetric(ann_file=gt, class_agnostic=True)
    metric.dataset_meta = dict(classes=('intended product', ))
    for clip in load(pred):
        metric.process({}, [clip])
    expected = metric.compute_metrics(metric.results)
    coco_gt = load_gt(gt)
    dets, seen = load_detections(pred, coco_gt, [1], class_agnostic=True)
    assert seen == set(range(1, n + 1))
    got = ResampledAP(coco_gt, dets, sorted(seen), [1]).compute()
    assert 0.1 < got['AP'] < 0.9
    for key, value in got.items():
        if np.isnan(value):
            assert np.isnan(expected[key])
        elif key in ('AP', 'AP50', 'AP75'):
            assert value == pytest.approx(expected[key], abs=5e-4)
        else:
            assert value == pytest.approx(expected[key], abs=1e-12), key


def test_clip_resamples_keep_whole_clips():
    groups = [3, 3, 7, 7, 7, 9]
    for positions in resample_positions(groups, 20, 0):
        drawn = np.asarray(groups)[positions]
        for g in set(drawn.tolist()):
            count = int((drawn == g).sum())
            assert count % groups.count(g) == 0
    frames = resample_positions(list(range(6)), 5, 0)
    assert all(len(p) == 6 for p in frames)


def test_unknown_image_ids_name_the_file(tool, tmp_path):
    gt = _write_gt(tmp_path / 'gt.json', 4)
    samples = _perfect(4) + [_sample(99, [FAR], [0.3])]
    pred = _dump(tmp_path / 'other_split.pkl', samples)
    with pytest.raises(ValueError, match=re.escape(pred) + '.*1 image id'):
        tool.main([gt, f'SD={pred}', '--n-boot', '2'])


def test_input_errors(tool, tmp_path):
    gt = _write_gt(tmp_path / 'gt.json', 4)
    ok = _dump(tmp_path / 'ok.pkl', _perfect(4))
    with pytest.raises(ValueError, match='expected NAME=PATH'):
        tool.main([gt, ok])
    with pytest.raises(ValueError, match='given twice'):
        tool.main([gt, f'A={ok}', f'A={ok}'])
    with pytest.raises(FileNotFoundError, match='A: .*nope.pkl not found'):
        tool.main([gt, f'A={tmp_path}/nope.pkl'])
    with pytest.raises(FileNotFoundError, match='missing.json not found'):
        tool.main([str(tmp_path / 'missing.json'), f'A={ok}'])
    with pytest.raises(ValueError, match=r"--diff 'A-C'.*\['A', 'B'\]"):
        tool.main([gt, f'A={ok}', f'B={ok}', '--diff', 'A-C'])
    for bad in (['--n-boot', '0'], ['--level', '1.5']):
        with pytest.raises(SystemExit):
            tool.main([gt, f'A={ok}', *bad])
    # A label beyond the one category: class-agnostic evaluation needed.
    labelled = _dump(tmp_path / 'cats.pkl',
                     [_sample(1, [_gt_box(0)], [0.9], labels=[5])])
    with pytest.raises(ValueError, match='cats.pkl.*--class-agnostic'):
        tool.main([gt, f'A={labelled}', '--n-boot', '2'])
    out = tool.main([gt, f'A={labelled}', '--n-boot', '2',
                     '--class-agnostic'])
    # One of 4 boxes found, first: precision 1 up to recall 0.25.
    assert out['detectors']['A']['AP']['est'] == pytest.approx(26 / 101)
    # Not a detector's output.
    dump(dict(a=1), str(tmp_path / 'dict.pkl'))
    with pytest.raises(ValueError, match='dict.pkl: expected the list'):
        tool.main([gt, f'A={tmp_path}/dict.pkl'])
    dump([dict(pred_ranking=[1])], str(tmp_path / 'ranking.pkl'))
    with pytest.raises(ValueError, match='ranking.pkl: a sample without'):
        tool.main([gt, f'A={tmp_path}/ranking.pkl'])
    with open(tmp_path / 'empty.json', 'w') as f:
        json.dump(dict(images=[], annotations=[], categories=[]), f)
    with pytest.raises(ValueError, match='empty.json has no images'):
        tool.main([str(tmp_path / 'empty.json'), f'A={ok}'])


def test_library_errors(tmp_path):
    gt = load_gt(_write_gt(tmp_path / 'gt.json', 4))
    with pytest.raises(ValueError, match='sorted and unique'):
        ResampledAP(gt, [], [2, 1], [1])
    a = ResampledAP(gt, [], [1, 2, 3, 4], [1])
    b = ResampledAP(gt, [], [1, 2], [1])
    with pytest.raises(ValueError, match='same frames'):
        bootstrap_ap(dict(a=a, b=b), [])
    with pytest.raises(KeyError, match="'c' .*known: \\['a'\\]"):
        bootstrap_ap(dict(a=a), [], [('a', 'c')])
    # No detection at all: AP 0 everywhere a split has frames.
    out = a.compute()
    assert out['AP'] == 0.0 and out['product_scale/small/AP50'] == 0.0
