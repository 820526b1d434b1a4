"""Intended-product detection on a data root shaped like the LPR4M release
(training videoinfo with category columns, test files without categories,
pixel boxes, frame folders): every configs/ipd config starts on it, split
types come from the boxes, categories from the annotation files."""
import ast
import glob
import json
import os
import os.path as osp
import re
import runpy
import shutil
import sys

import cv2
import numpy as np
import pytest
import torch
from conftest import ROOT
from mmdet.registry import DATASETS, METRICS, MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope

import lpr  # noqa: F401
from lpr.datasets import (LPR4MShopImageDataset, convert_test,
                          convert_training)
from lpr.datasets.categories import class_names, load_categories
from lpr.datasets.errors import AnnotationError

CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'ipd', '*.py')))
CONVERTER = osp.join(ROOT, 'tools', 'dataset_converters', 'lpr4m_to_coco.py')
W, H = 100, 200  # frame size: pixel boxes / (W, H) are easy fractions
TRAIN_LIVE = '0f8c4a52-1c2d-4e3f-8a9b-0c1d2e3f4a5b'
TEST_LIVE = '7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d'
IMAGES = ['11111111-2222-4333-8444-555555555555',
          '66666666-7777-4888-9999-aaaaaaaaaaaa']
# Training clips: (category id, name, per-frame pixel box or None).
TRAIN = [(3, 'shoes', [[10, 20, 60, 120], None, [0, 0, 50, 100],
                       [20, 40, 70, 140]]),
         (7, 'tea', [[0, 0, 100, 200], [5, 5, 55, 105], None, None])]
# Test clips: per frame its GT pixel boxes ([] or absent = no box), with
# the types computed by hand (mean normalised box area per frame; share of
# frames with a box).
TEST = {
    # areas 0.25, (1 + 0.125) / 2, 0, 0.5 → 0.328125 medium; 3/4 long
    'A': ([[[0, 0, 50, 100]], [[0, 0, 100, 200], [0, 0, 50, 50]], [],
           [[0, 0, 100, 100]]], 'medium', 'long'),
    # areas 0.04, 0.04, 0, 0, 0 → 0.016 small; 2/5 = 0.4 short (≤ 0.4)
    'B': ([[[10, 20, 30, 60]], [[0, 0, 20, 40]], None, None, None], 'small',
          'short'),
    # areas 1, 1 → large; 1.0 long
    'C': ([[[0, 0, 100, 200]], [[0, 0, 100, 200]]], 'large', 'long'),
}
# Detected boxes per frame (None: frame absent from the box file = 0) and
# the number-of-products type by hand (mean ≤ 3 few, > 7 abundant).
DETECTED = {
    'A': ([5, 4, None, 3], 'few'),  # 12 / 4 = 3 → few
    'B': ([8, 8, 8, 8, 8], 'abundant'),
    'C': ([4, 4], 'medium'),
}


def _clip_id(live, k):
    start = 1_660_000_000_000 + 60_000 * k
    return f'{live}-{start}-{start + 9_000}'


def _frame(path, seed):
    os.makedirs(osp.dirname(path), exist_ok=True)
    img = np.random.default_rng(seed).integers(0, 255, (H, W, 3), np.uint8)
    cv2.imwrite(path, img)


def make_release_root(root):
    """A data root with the release's IPD files only: training videoinfo
    (11 columns, pixel boxes, categories), test frame URL list and
    ``test_frameid2gtbox`` (pixel boxes, no category), frame folders."""
    ann = osp.join(root, 'annotations')
    os.makedirs(ann)
    rows, n = [], 0
    for k, (cat, name, boxes) in enumerate(TRAIN):
        clip = _clip_id(TRAIN_LIVE, k)
        fids = [f'{clip}-{i:04d}' for i in range(len(boxes))]
        for fid in fids:
            _frame(osp.join(root, 'training_frames', clip, f'{fid}.jpg'), n)
            n += 1
        rows.append('\t'.join([
            clip, json.dumps(fids),
            json.dumps([b or [0, 0, 0, 0] for b in boxes]), IMAGES[k],
            f'title {k}', str(cat), name, f'asr {k}', 'small', 'long',
            'few'
        ]))
    with open(osp.join(ann, 'training_videoinfo_full_part_00.txt'),
              'w') as f:
        f.write('\n'.join(rows) + '\n')
    urls, gt = [], {}
    for k, (key, (frames, _, _)) in enumerate(TEST.items()):
        clip = _clip_id(TEST_LIVE, k)
        for i, boxes in enumerate(frames):
            fid = f'{clip}-{3 * i:04d}'
            _frame(osp.join(root, 'test_frames', clip, f'{fid}.jpg'), n)
            n += 1
            urls.append(f'https://example.com/frames/{fid}.jpg')
            if boxes is not None:
                gt[fid] = boxes
    with open(osp.join(ann, f'test_frame_url_{len(urls)}.txt'), 'w') as f:
        f.write('\n'.join(urls) + '\n')
    with open(osp.join(ann, f'test_frameid2gtbox_3_{len(gt)}.json'),
              'w') as f:
        json.dump(gt, f)
    return root


@pytest.fixture(scope='module')
def release_root(tmp_path_factory):
    return make_release_root(str(tmp_path_factory.mktemp('release') / 'r'))


def _convert_cli(root, *args):
    """Run lpr4m_to_coco.py in this process (as its documented command)."""
    saved = sys.argv
    sys.argv = [CONVERTER, root, *args]
    try:
        runpy.run_path(CONVERTER, run_name='__main__')
    finally:
        sys.argv = saved


def _needed_conversion(ann_file):
    split, n = re.search(r'lpr_det_(train|test)_(\d+)cls\.json$',
                         ann_file).groups()
    if split == 'train':
        return ('--classes', n, '--splits', 'train')
    return ('--test-classes', n, '--splits', 'test')


def _gt_predictions(coco, label):
    by_image = {}
    for a in coco['annotations']:
        x, y, w, h = a['bbox']
        by_image.setdefault(a['image_id'], []).append([x, y, x + w, y + h])
    for im in coco['images']:
        boxes = torch.tensor(by_image.get(im['id'], []),
                             dtype=torch.float32).reshape(-1, 4)
        yield dict(
            img_id=im['id'],
            ori_shape=(im['height'], im['width']),
            pred_instances=dict(
                bboxes=boxes,
                scores=torch.full((len(boxes), ), 0.9),
                labels=torch.full((len(boxes), ), label, dtype=torch.long)))


@pytest.mark.parametrize('config', CONFIGS, ids=osp.basename)
def test_every_config_starts_on_a_release_root(config, release_root,
                                               tmp_path):
    cfg = Config.fromfile(config)
    old = cfg.data_root
    root = str(tmp_path / 'root')
    shutil.copytree(release_root, root)
    anns = set()
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg[key].dataset
        assert dataset.data_root == old
        dataset.data_root = root
        anns.add(dataset.ann_file)
    for key in ('val_evaluator', 'test_evaluator'):
        assert cfg[key].ann_file == \
            f'{old}/{cfg.test_dataloader.dataset.ann_file}'
        cfg[key].ann_file = cfg[key].ann_file.replace(old, root, 1)
    # The release's test files carry no category: every config evaluates
    # on the one-class test file.
    assert cfg.test_dataloader.dataset.ann_file.endswith('test_1cls.json')
    with DefaultScope.overwrite_default_scope('mmdet'):
        for key in ('train_dataloader', 'test_dataloader'):
            with pytest.raises(FileNotFoundError,
                               match='lpr4m_to_coco.py'):
                DATASETS.build(cfg[key].dataset)
        for ann in sorted(anns):
            _convert_cli(root, *_needed_conversion(ann))
        train = DATASETS.build(cfg.train_dataloader.dataset)
        test = DATASETS.build(cfg.test_dataloader.dataset)
        assert len(train) and len(test)
        sample = train[0]
        assert sample['inputs'] is not None
        model = MODELS.build(cfg.model)
        metric = METRICS.build(cfg.test_evaluator)
    assert test.metainfo['classes'] == ('intended product', )
    assert len(train.metainfo['classes']) <= model.bbox_head.num_classes
    if model.bbox_head.num_classes > 1:
        assert train.metainfo['classes'] == ('shoes', 'tea')
        assert metric.class_agnostic
    metric.dataset_meta = test.metainfo
    with open(cfg.test_evaluator.ann_file) as f:
        coco = json.load(f)
    label = model.bbox_head.num_classes - 1  # the last class, merged
    for frame in _gt_predictions(coco, label):
        metric.process({}, [frame])
    results = metric.compute_metrics(metric.results)
    assert results['AP'] == results['AP50'] == 1.0
    # 8 GT boxes on 7 frames: one box per frame matches at most 7 / 8, so
    # precision 1 up to recall 0.875 (88 of COCO's 101 recall points).
    assert results['top1/max_recall'] == pytest.approx(7 / 8)
    assert results['top1/AP50'] == pytest.approx(88 / 101)
    assert np.isnan(results['product_number/few/AP50'])


def test_a_test_file_with_categories_fails_with_what_to_use(
        release_root, tmp_path, capsys):
    root = str(tmp_path / 'root')
    shutil.copytree(release_root, root)
    with pytest.raises(AnnotationError) as err:
        convert_test(root, str(tmp_path / 'test34.json'), 34)
    msg = str(err.value)
    assert 'test_frame_url_' in msg and '3 of 3 test clips' in msg
    assert 'lpr_det_test_1cls.json' in msg
    assert 'dab-detr_r50_8xb8-20e_lpr4m.py' in msg
    with pytest.raises(SystemExit, match='no product category'):
        _convert_cli(root, '--splits', 'test', '--test-classes', '34')
    missing = osp.join(root, 'annotations', 'lpr_det_test_34cls.json')
    with DefaultScope.overwrite_default_scope('mmdet'):
        with pytest.raises(FileNotFoundError) as err:
            DATASETS.build(
                dict(type='LPR4MDetDataset', data_root=root,
                     ann_file='annotations/lpr_det_test_34cls.json',
                     test_mode=True, pipeline=[]))
    msg = str(err.value)
    assert missing in msg and 'carry no product category' in msg
    assert 'class_agnostic=True' in msg
    assert 'dab-detr_r50_8xb8-20e_lpr4m.py' in msg
    with DefaultScope.overwrite_default_scope('mmdet'):
        with pytest.raises(FileNotFoundError,
                           match='carry no product category'):
            METRICS.build(
                dict(type='IntendedProductMetric', ann_file=missing))
        with pytest.raises(FileNotFoundError,
                           match=r'--classes 1 --splits tr'):
            METRICS.build(
                dict(type='IntendedProductMetric',
                     ann_file=osp.join(root, 'annotations',
                                       'lpr_det_train_1cls.json')))


def _types(coco):
    return {v['name']: v for v in coco['videos']}


def test_split_types_from_boxes_equal_hand_computed(release_root, tmp_path):
    out = str(tmp_path / 'test.json')
    convert_test(release_root, out)
    with open(out) as f:
        coco = json.load(f)
    videos = _types(coco)
    for k, (key, (_, scale, duration)) in enumerate(TEST.items()):
        v = videos[_clip_id(TEST_LIVE, k)]
        assert (v['product_scale'], v['visible_duration']) == (scale,
                                                                duration)
        assert 'product_number' not in v
    sources = coco['info']['split_sources']
    assert sources['product_scale'].startswith('test_frameid2gtbox')
    assert sources['product_number'].startswith('none')
    # Every frame takes its clip's types.
    for im in coco['images']:
        assert im['product_scale'] == videos[im['clip_id']]['product_scale']

    # Number of products from a detector's full output (normalised boxes).
    det = {}
    for k, (key, (counts, _)) in enumerate(DETECTED.items()):
        clip = _clip_id(TEST_LIVE, k)
        for i, n in enumerate(counts):
            if n is not None:
                det[f'{clip}-{3 * i:04d}'] = [[0.1, 0.1, 0.2, 0.2]] * n
    box_file = str(tmp_path / 'det.json')
    with open(box_file, 'w') as f:
        json.dump(det, f)
    convert_test(release_root, out, product_number_boxes=box_file)
    with open(out) as f:
        coco = json.load(f)
    videos = _types(coco)
    for k, (key, (_, number)) in enumerate(DETECTED.items()):
        v = videos[_clip_id(TEST_LIVE, k)]
        assert v['product_number'] == number
        assert v['product_scale'] == TEST[key][1]
    assert box_file in coco['info']['split_sources']['product_number']

    # A box file of other frames is refused.
    other = str(tmp_path / 'other.json')
    with open(other, 'w') as f:
        json.dump({f'{_clip_id(TRAIN_LIVE, 0)}-0000': [[0, 0, 1, 1]]}, f)
    with pytest.raises(AnnotationError, match='none of its 1 frames'):
        convert_test(release_root, out, product_number_boxes=other)


def test_toy_types_from_boxes_match_its_diversity_file(toy_root, tmp_path):
    """The toy set writes the types it drew; deriving them from its GT
    boxes gives the same scale and duration."""
    out = str(tmp_path / 'test.json')
    convert_test(toy_root, out)
    with open(out) as f:
        videos = _types(json.load(f))
    (div_file, ) = glob.glob(
        osp.join(toy_root, 'annotations', 'test_videoid_to_diversity_*'))
    with open(div_file) as f:
        div = json.load(f)
    assert videos.keys() == div.keys()
    for clip, v in videos.items():
        assert v['product_scale'] == div[clip]['scale']
        assert v['visible_duration'] == div[clip]['duration']
        assert v['product_number'] == div[clip]['num_products']


def test_categories_come_from_the_videoinfo(release_root, tmp_path):
    pattern = osp.join(release_root, 'annotations',
                       'training_videoinfo_full_part_*.txt')
    assert load_categories(pattern) == {3: 'shoes', 7: 'tea'}
    assert load_categories(pattern, ids=[7]) == {7: 'tea'}
    with pytest.raises(AnnotationError, match=r'categories \[5\]'):
        load_categories(pattern, ids=[3, 5])
    out = str(tmp_path / 'train.json')
    stats = convert_training(release_root, out, 34)
    with open(out) as f:
        coco = json.load(f)
    assert coco['categories'] == [
        dict(id=4, name='shoes', lpr4m_id=3),
        dict(id=8, name='tea', lpr4m_id=7)
    ]
    assert stats['boxes'] == 5  # 3 + 2 frames with a box
    assert {a['category_id'] for a in coco['annotations']} == {4, 8}
    # A third category in the rows: more than a 2-class detector has.
    with open(glob.glob(pattern)[0]) as f:
        rows = f.read().splitlines()
    cols = rows[0].split('\t')
    cols[5:7] = ['9', 'hats']
    extra = str(tmp_path / 'videoinfo.txt')
    with open(extra, 'w') as f:
        f.write('\n'.join(rows + ['\t'.join(cols)]) + '\n')
    with pytest.raises(AnnotationError, match='3 product categories, more '
                       'than num_classes=2'):
        convert_training(release_root, out, 2, ann_glob=extra)
    shop = LPR4MShopImageDataset(
        ann_file='annotations/training_videoinfo_full_part_*.txt',
        data_root=release_root)
    assert shop.metainfo['classes'][3] == 'shoes'
    assert shop.metainfo['classes'][7] == 'tea'
    assert shop.metainfo['classes'][0] == 'category 0'
    assert sorted(s['gt_label'] for s in shop) == [3, 7]


def test_category_names_are_made_unique():
    from lpr.datasets.categories import _unique
    assert _unique({2: 'bags', 1: 'bags', 5: ''}) == {
        1: 'bags (1)', 2: 'bags (2)', 5: 'category 5'}
    assert class_names({}) == ()
    with pytest.raises(ValueError, match='negative'):
        class_names({-1: 'x'})


def _imports(source, package):
    """Absolute names of the modules (and imported names) of a module of
    ``package`` (e.g. ``'lpr.datasets'``)."""
    tree = ast.parse(source)
    parts = package.split('.')
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = parts[:len(parts) - node.level + 1] if node.level else []
            module = '.'.join(base + ([node.module] if node.module else []))
            yield module
            yield from (f'{module}.{a.name}' for a in node.names)


def test_no_dataset_module_imports_the_toy_generator():
    datasets = osp.join(ROOT, 'projects', 'lpr', 'datasets')
    files = glob.glob(osp.join(datasets, '**', '*.py'), recursive=True)
    assert len(files) > 10
    # The generator is its own package, outside the real-data readers.
    assert osp.isfile(osp.join(ROOT, 'projects', 'lpr', 'toy', '__init__.py'))
    assert not glob.glob(osp.join(datasets, 'toy', '*.py'))

    def toy_imports(source, package):
        return [
            m for m in _imports(source, package)
            if m == 'lpr.toy' or m.startswith('lpr.toy.')
        ]

    offenders = {}
    for path in files:
        package = '.'.join(
            osp.relpath(osp.dirname(path),
                        osp.join(ROOT, 'projects')).split(os.sep))
        with open(path, encoding='utf-8') as f:
            found = toy_imports(f.read(), package)
        if found:
            offenders[osp.relpath(path, ROOT)] = found
    assert not offenders
    # The check sees each way of spelling the import.
    for source, package in [
        ('from ..toy.categories import CATEGORIES', 'lpr.datasets'),
        ('from ...toy import generate', 'lpr.datasets.transforms'),
        ('from .. import toy', 'lpr.datasets'),
        ('import lpr.toy', 'lpr.datasets'),
        ('from lpr.toy import CATEGORIES', 'lpr.datasets.transforms'),
        ('from lpr import toy', 'lpr.datasets'),
    ]:
        assert toy_imports(source, package), source
    assert not toy_imports('from .toy import x\nfrom ..toys import y\n'
                           'import lpr.datasets',
                           'lpr.datasets')
