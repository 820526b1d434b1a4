"""Detection AP per diversity split, and detector boxes exported for the
retriever."""
import json
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope
from mmpretrain.registry import DATASETS

import lpr  # noqa: F401
from lpr.datasets import convert_test, find_annotation, load_frame_boxes
from lpr.evaluation import IntendedProductMetric, IPDBoxDumper
from lpr.evaluation.metrics.ipd_metric import merge_classes


@pytest.fixture(scope='module')
def det_root(toy_root, tmp_path_factory):
    root = str(tmp_path_factory.mktemp('ipd') / 'toy')
    shutil.copytree(toy_root, root)
    convert_test(root, osp.join(root, 'annotations', 'test1.json'), 1)
    return root


def _coco(root):
    with open(osp.join(root, 'annotations', 'test1.json')) as f:
        return json.load(f)


def _frame_sample(im, boxes):
    boxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    return dict(
        img_id=im['id'],
        ori_shape=(im['height'], im['width']),
        pred_instances=dict(
            bboxes=boxes,
            scores=torch.linspace(0.9, 0.5, len(boxes)),
            labels=torch.zeros(len(boxes), dtype=torch.long)))


def _gt_by_image(coco):
    by_image = {}
    for ann in coco['annotations']:
        x, y, w, h = ann['bbox']
        by_image.setdefault(ann['image_id'], []).append([x, y, x + w, y + h])
    return by_image


def test_split_ap50_on_hand_made_predictions(det_root):
    coco = _coco(det_root)
    gts = _gt_by_image(coco)
    metric = IntendedProductMetric(
        ann_file=osp.join(det_root, 'annotations', 'test1.json'))
    metric.dataset_meta = dict(classes=('intended product', ))
    scales = {im['product_scale'] for im in coco['images']}
    assert len(scales) >= 2, 'the toy test set has several scale types'
    perfect = sorted(scales)[0]
    for im in coco['images']:
        boxes = gts.get(im['id'], [])
        if im['product_scale'] != perfect and boxes:
            # A box far from the product elsewhere: a false positive.
            boxes = [[0, 0, 2, 2]]
        metric.process({}, [_frame_sample(im, boxes)])
    results = metric.compute_metrics(metric.results)
    assert results[f'product_scale/{perfect}/AP50'] == 1.0
    for other in scales - {perfect}:
        assert results[f'product_scale/{other}/AP50'] == 0.0
    assert 0.0 < results['AP50'] < 1.0
    n = {t: sum(im['product_scale'] == t for im in coco['images'])
         for t in ('small', 'medium', 'large')}
    for t, count in n.items():
        assert results[f'product_scale/{t}/frames'] == count
        if count == 0:
            assert np.isnan(results[f'product_scale/{t}/AP50'])
    table = IntendedProductMetric.table(results, metric.splits)
    assert table.count('|') > 20 and 'scale:small' in table


def test_clip_samples_are_evaluated_per_frame(det_root):
    from mmdet.structures import DetDataSample, TrackDataSample
    from mmengine.structures import InstanceData
    coco = _coco(det_root)
    gts = _gt_by_image(coco)
    metric = IntendedProductMetric(
        ann_file=osp.join(det_root, 'annotations', 'test1.json'))
    metric.dataset_meta = dict(classes=('intended product', ))
    by_video = {}
    for im in coco['images']:
        by_video.setdefault(im['video_id'], []).append(im)
    for frames in by_video.values():
        track = TrackDataSample()
        samples = []
        for im in frames:
            s = DetDataSample(metainfo=dict(
                img_id=im['id'], ori_shape=(im['height'], im['width'])))
            d = _frame_sample(im, gts.get(im['id'], []))['pred_instances']
            s.pred_instances = InstanceData(**d)
            samples.append(s)
        track.video_data_samples = samples
        metric.process({}, [track.to_dict()])
    # One entry per clip (mmengine keeps as many entries as dataset items).
    assert len(metric.results) == len(by_video)
    assert sum(map(len, metric.results)) == len(coco['images'])
    assert metric.compute_metrics(metric.results)['AP50'] == 1.0


def test_exported_boxes_round_trip_into_the_retriever(det_root, tmp_path):
    coco = _coco(det_root)
    out = str(tmp_path / 'boxes.json')
    dumper = IPDBoxDumper(
        ann_file=osp.join(det_root, 'annotations', 'test1.json'),
        out_file=out, score_thr=0.3)
    images = coco['images']
    for i, im in enumerate(images):
        w, h = im['width'], im['height']
        if i % 4 == 0:
            boxes = []  # no detection: the frame is left out
        else:
            boxes = [[0.25 * w, 0.5 * h, 0.75 * w, h]]
        dumper.process({}, [_frame_sample(im, boxes)])
    stats = dumper.compute_metrics(dumper.results)
    assert stats['frames'] == len(images)
    boxes = load_frame_boxes(out)
    assert len(boxes) == stats['frames_with_boxes'] == sum(
        1 for i in range(len(images)) if i % 4)
    name = images[1]['frame_name']
    assert boxes[name] == [[0.25, 0.5, 0.75, 1.0]]
    # The retriever reads the file as its box input.
    pipeline = [
        dict(type='SampleClipFrames', num_frames=8, rule='floor'),
        dict(type='LoadClipFrames', on_empty='keep'),
        dict(type='ResizeCropFlipFrames', size=64, resize=64,
             random_crop=False, flip_prob=0.0),
        dict(type='BoxToPatchMask', input_size=64, patch_size=16),
        dict(type='PackLPRInputs', empty_frame_size=(64, 64)),
    ]
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        ds = DATASETS.build(
            dict(type='LPR4MQueryDataset', data_root=det_root,
                 box_file=out, pipeline=pipeline))
    idx = next(i for i in range(len(ds))
               if name in ds.get_data_info(i)['frame_ids'])
    info = ds.get_data_info(idx)
    pos = info['frame_ids'].index(name)
    assert info['frame_boxes'][pos] == [[0.25, 0.5, 0.75, 1.0]]
    masks = ds[idx]['data_samples'].patch_masks
    assert masks.shape[-1] == 17 and not masks.all()


def test_full_top_k_ap_and_best_box_ap(det_root):
    """AP counts every box per frame; ``top1/*`` only each frame's best,
    which can match one GT box per frame at most."""
    coco = _coco(det_root)
    gts = _gt_by_image(coco)
    metric = IntendedProductMetric(
        ann_file=osp.join(det_root, 'annotations', 'test1.json'))
    metric.dataset_meta = dict(classes=('intended product', ))
    for im in coco['images']:
        boxes = gts.get(im['id'], [])
        # Every GT box (scores 0.9 > 0.85 > ...) and a false positive that
        # scores below all of them.
        sample = _frame_sample(im, boxes + [[0, 0, 2, 2]])
        n = len(boxes)
        sample['pred_instances']['scores'] = torch.tensor(
            [0.9 - 0.05 * i for i in range(n)] + [0.5])
        metric.process({}, [sample])
    results = metric.compute_metrics(metric.results)
    assert results['AP50'] == results['AP'] == 1.0
    n_boxes = len(coco['annotations'])
    n_frames = len(gts)
    assert n_frames < n_boxes, 'the toy test set has frames with 2 boxes'
    assert results['top1/max_recall'] == pytest.approx(n_frames / n_boxes)
    # Precision 1 up to the reachable recall, then nothing: the share of
    # COCO's 101 recall thresholds at or below it.
    thresholds = np.linspace(.0, 1.00, 101)
    expected = (thresholds <= n_frames / n_boxes).sum() / 101
    assert results['top1/AP50'] == pytest.approx(expected)
    assert results['top1/AP'] == pytest.approx(expected)


def test_merge_classes_keeps_each_box_once_with_its_best_score():
    frame = dict(
        img_id=1,
        pred_instances=dict(
            bboxes=torch.tensor([[0., 0, 1, 1], [0, 0, 1, 1], [1, 1, 2, 2]]),
            scores=torch.tensor([0.2, 0.7, 0.5]),
            labels=torch.tensor([0, 3, 1])))
    merged = merge_classes(frame)['pred_instances']
    assert merged['bboxes'].tolist() == [[0, 0, 1, 1], [1, 1, 2, 2]]
    assert merged['scores'].tolist() == pytest.approx([0.7, 0.5])
    assert merged['labels'].tolist() == [0, 0]
    assert frame['pred_instances']['labels'].tolist() == [0, 3, 1]
    empty = dict(pred_instances=dict(bboxes=torch.zeros(0, 4),
                                     scores=torch.zeros(0),
                                     labels=torch.zeros(0, dtype=torch.long)))
    assert len(merge_classes(empty)['pred_instances']['labels']) == 0


def test_category_predictions_on_the_one_class_file(det_root):
    """A detector trained on categories (labels up to 33, one query's box
    predicted for several) against the one-class test file: merged with
    ``class_agnostic=True``, refused without."""
    coco = _coco(det_root)
    gts = _gt_by_image(coco)
    ann = osp.join(det_root, 'annotations', 'test1.json')

    def run(metric):
        metric.dataset_meta = dict(classes=('intended product', ))
        for im in coco['images']:
            boxes = gts.get(im['id'], [])
            sample = _frame_sample(im, boxes + boxes)
            pred = sample['pred_instances']
            n = len(boxes)
            # The same boxes for category 33 (best) and category 5.
            pred['scores'] = torch.tensor([0.9] * n + [0.3] * n)
            pred['labels'] = torch.tensor([33] * n + [5] * n)
            metric.process({}, [sample])
        return metric.compute_metrics(metric.results)

    results = run(IntendedProductMetric(ann_file=ann, class_agnostic=True))
    assert results['AP'] == results['AP50'] == 1.0
    with pytest.raises(ValueError, match='class_agnostic=True'):
        run(IntendedProductMetric(ann_file=ann))


def test_dumper_keeps_the_best_box_or_every_box_above_a_score(
        det_root, tmp_path):
    coco = _coco(det_root)
    im = coco['images'][0]
    w, h = im['width'], im['height']
    boxes = [[0, 0, w / 2, h / 2], [w / 2, h / 2, w, h], [0, 0, w / 2, h / 2],
             [0, 0, w, h]]
    sample = _frame_sample(im, boxes)
    sample['pred_instances']['scores'] = torch.tensor([0.2, 0.9, 0.6, 0.1])

    def dump(**kwargs):
        out = str(tmp_path / 'boxes.json')
        dumper = IPDBoxDumper(
            ann_file=osp.join(det_root, 'annotations', 'test1.json'),
            out_file=out, **kwargs)
        dumper.process({}, [sample])
        dumper.compute_metrics(dumper.results)
        return load_frame_boxes(out)[im['frame_name']]

    assert dump() == [[0.5, 0.5, 1.0, 1.0]]
    # The duplicate box (0.2 and 0.6) is one box, with its best score.
    assert dump(max_per_frame=None, score_thr=0.15) == [[0.5, 0.5, 1.0, 1.0],
                                                        [0.0, 0.0, 0.5, 0.5]]
    assert len(dump(max_per_frame=None)) == 3
    with pytest.raises(ValueError, match='max_per_frame'):
        IPDBoxDumper(ann_file='x.json', out_file='y.json', max_per_frame=0)


def test_split_ap50_with_several_boxes_per_frame(tmp_path):
    """The best-box AP must not renumber the detections the split AP50
    reads (``COCO.loadRes`` rewrites the ``id`` of the dicts it gets)."""
    images, anns = [], []
    for i in range(1, 7):
        images.append(dict(id=i, width=100, height=100, video_id=i,
                           product_scale='small' if i <= 3 else 'large'))
        anns.append(dict(id=i, image_id=i, category_id=1, iscrowd=0,
                         bbox=[10, 10, 40, 40], area=1600))
    ann_file = str(tmp_path / 'gt.json')
    with open(ann_file, 'w') as f:
        json.dump(dict(images=images, annotations=anns,
                       categories=[dict(id=1, name='intended product')]), f)
    metric = IntendedProductMetric(ann_file=ann_file)
    metric.dataset_meta = dict(classes=('intended product', ))
    for im in images:
        # The GT box first, then a box elsewhere with a low score.
        metric.process({}, [_frame_sample(im, [[10, 10, 50, 50],
                                               [60, 60, 90, 90]])])
    results = metric.compute_metrics(metric.results)
    assert results['AP50'] == 1.0
    assert results['product_scale/small/AP50'] == 1.0
    assert results['product_scale/large/AP50'] == 1.0
