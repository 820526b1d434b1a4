"""Intended-product detection data: COCO/CocoVID conversion read by mmdet's
CocoDataset (single frame) and BaseVideoDataset (clips → TrackDataSample)."""
import json
import os.path as osp
import shutil

import pytest
from mmdet.registry import DATASETS
from mmengine.registry import DefaultScope

from lpr.datasets import (AnnotationError, convert_test, convert_training,
                          find_annotation, load_frame_boxes,
                          load_training_videoinfo)


@pytest.fixture(scope='module')
def det_root(toy_root, tmp_path_factory):
    root = str(tmp_path_factory.mktemp('det') / 'toy')
    shutil.copytree(toy_root, root)
    convert_training(root, osp.join(root, 'annotations', 'train34.json'), 34)
    convert_test(root, osp.join(root, 'annotations', 'test1.json'), 1)
    return root


def load(root, name):
    with open(osp.join(root, 'annotations', name)) as f:
        return json.load(f)


def test_training_frames_boxes_and_types(det_root):
    coco = load(det_root, 'train34.json')
    rows, _ = load_training_videoinfo(
        osp.join(det_root, 'annotations', 'training_videoinfo_full_part_*'))
    assert len(coco['videos']) == len(rows)
    assert len(coco['images']) == sum(len(r.frame_ids) for r in rows)
    assert len(coco['annotations']) == sum(
        1 for r in rows for b in r.boxes if b)
    # The categories the rows name, with their names.
    assert coco['categories'] == [
        dict(id=cid + 1, name=name, lpr4m_id=cid)
        for cid, name in sorted({(r.category_id, r.category_name)
                                 for r in rows})
    ]
    by_clip = {r.video_id: r for r in rows}
    images = {im['id']: im for im in coco['images']}
    for ann in coco['annotations']:
        im = images[ann['image_id']]
        row = by_clip[im['clip_id']]
        assert ann['category_id'] == row.category_id + 1
        x, y, w, h = ann['bbox']
        assert 0 <= x and x + w <= im['width'] + 1e-6
        assert 0 <= y and y + h <= im['height'] + 1e-6
        assert im['product_scale'] == row.scale
        assert ann['instance_id'] == im['video_id']


def test_test_frames_keep_every_gt_box(det_root):
    coco = load(det_root, 'test1.json')
    boxes = load_frame_boxes(
        find_annotation(
            osp.join(det_root, 'annotations'), 'test_frameid2gtbox_'))
    assert len(coco['annotations']) == sum(len(b) for b in boxes.values())
    assert {c['name'] for c in coco['categories']} == {'intended product'}
    assert all(im['visible_duration'] for im in coco['images'])


def test_test_categories_must_be_training_categories(det_root, tmp_path):
    """The toy's test clips name categories (its diversity file); the
    tests preset's test lives have categories no training row has, so the
    detector would have no class for them."""
    with pytest.raises(AnnotationError, match='not among the training '
                       'categories'):
        convert_test(det_root, str(tmp_path / 'test34.json'), 34)


def test_mmdet_reads_frames_and_clips(det_root):
    classes = tuple(
        c['name'] for c in load(det_root, 'train34.json')['categories'])
    with DefaultScope.overwrite_default_scope('mmdet'):
        sd = DATASETS.build(
            dict(
                type='CocoDataset',
                data_root=det_root,
                ann_file='annotations/train34.json',
                data_prefix=dict(img=''),
                metainfo=dict(classes=classes),
                filter_cfg=dict(filter_empty_gt=False),
                pipeline=[
                    dict(type='LoadImageFromFile'),
                    dict(type='LoadAnnotations', with_bbox=True),
                    dict(type='PackDetInputs')
                ]))
        md = DATASETS.build(
            dict(
                type='BaseVideoDataset',
                data_root=det_root,
                ann_file='annotations/train34.json',
                data_prefix=dict(img_path=''),
                metainfo=dict(classes=classes),
                pipeline=[
                    dict(type='ClipFrameSample', num_frames=3),
                    dict(
                        type='TransformBroadcaster',
                        share_random_params=True,
                        transforms=[
                            dict(type='LoadImageFromFile'),
                            dict(type='LoadTrackAnnotations'),
                        ]),
                    dict(type='PackTrackInputs')
                ]))
    coco = load(det_root, 'train34.json')
    assert len(sd) == len(coco['images'])
    # Each named category is a class with boxes.
    labels = {
        x['bbox_label']
        for i in range(len(sd)) for x in sd.get_data_info(i)['instances']
    }
    assert labels == set(range(len(classes)))
    assert len(md) == len(coco['videos'])
    sample = md[0]
    assert type(sample['data_samples']).__name__ == 'TrackDataSample'
    assert sample['inputs'].shape[0] == len(sample['data_samples']) == 3
    frame_ids = [s.frame_id for s in sample['data_samples']]
    assert frame_ids == sorted(frame_ids)


def test_coco_metric_scores_gt_boxes_as_perfect(det_root):
    import torch
    from mmdet.evaluation import CocoMetric
    coco = load(det_root, 'test1.json')
    metric = CocoMetric(
        ann_file=osp.join(det_root, 'annotations', 'test1.json'),
        metric='bbox')
    metric.dataset_meta = dict(classes=('intended product', ))
    by_image = {}
    for ann in coco['annotations']:
        x, y, w, h = ann['bbox']
        by_image.setdefault(ann['image_id'], []).append([x, y, x + w, y + h])
    results = []
    for im in coco['images']:
        boxes = torch.tensor(by_image.get(im['id'], []),
                             dtype=torch.float32).reshape(-1, 4)
        metric.process({}, [
            dict(
                img_id=im['id'],
                ori_shape=(im['height'], im['width']),
                pred_instances=dict(
                    bboxes=boxes,
                    scores=torch.ones(len(boxes)),
                    labels=torch.zeros(len(boxes), dtype=torch.long)))
        ])
    results = metric.compute_metrics(metric.results)
    assert results['bbox_mAP'] == 1.0
    assert results['bbox_mAP_50'] == 1.0
