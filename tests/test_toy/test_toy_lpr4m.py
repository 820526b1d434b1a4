"""The toy LPR4M generator writes the official LPR4M formats, consistently
and deterministically."""
import glob
import hashlib
import json
import os
import os.path as osp
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from lpr.datasets import (DURATION_TYPES, NUMBER_TYPES, SCALE_TYPES,
                          find_annotation, live_id_of, load_frame_boxes,
                          load_gallery, load_gt_images, load_id_text_pairs,
                          load_training_videoinfo, parse_frame_id)
from lpr.datasets.ids import is_uuid
from lpr.toy import CATEGORIES, generate, make_config
from lpr.toy.categories import category_weights
from lpr.toy.products import sample_shop

CFG = make_config('tests', seed=0)


def ann(root, prefix):
    return find_annotation(osp.join(root, 'annotations'), prefix)


def expected_types(frame_boxes):
    """(scale, duration) worked out from the boxes with the official
    thresholds, independently of :mod:`lpr.datasets.diversity`: scale is
    the mean over frames of the mean box area (0 for a frame without a box),
    small up to 0.2, large above 0.4; duration is the fraction of frames
    with a box, short up to 0.4, long above 0.7."""
    areas = []
    for boxes in frame_boxes:
        sizes = [(x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in boxes]
        areas.append(float(np.mean(sizes)) if sizes else 0.0)
    scale = float(np.mean(areas))
    shown = float(np.mean([bool(b) for b in frame_boxes]))
    return ('small' if scale <= 0.2 else 'medium' if scale <= 0.4 else
            'large', 'short' if shown <= 0.4 else 'medium' if shown <= 0.7
            else 'long')


def count_in_name(path):
    return [int(n) for n in re.findall(r'_(\d+)', osp.basename(path))]


def test_training_rows_have_the_eleven_official_fields(toy_root):
    parts = sorted(
        glob.glob(
            osp.join(toy_root, 'annotations',
                     'training_videoinfo_full_part_*.txt')))
    assert [osp.basename(p) for p in parts] == [
        f'training_videoinfo_full_part_{i:02d}.txt'
        for i in range(CFG.num_parts)
    ]
    n = 0
    for path in parts:
        with open(path, encoding='utf-8') as f:
            for line in f:
                fields = line.rstrip('\n').split('\t')
                assert len(fields) == 11
                assert isinstance(json.loads(fields[1]), list)
                assert isinstance(json.loads(fields[2]), list)
                int(fields[5])
                assert fields[8] in SCALE_TYPES
                assert fields[9] in DURATION_TYPES
                assert fields[10] in NUMBER_TYPES
                n += 1
    expected = (CFG.train_lives * CFG.products_per_live *
                CFG.train_clips_per_product)
    assert n == expected


def test_training_rows_parse_and_match_files(toy_root):
    rows, report = load_training_videoinfo(
        osp.join(toy_root, 'annotations', 'training_videoinfo_full_part_*'))
    assert report.skipped == 0 and report.rows == len(rows)
    width, height = CFG.frame_size
    lives, seen_types = set(), set()
    for row in rows:
        lives.add(row.live_id)
        lo, hi = CFG.train_frames
        assert lo <= len(row.frame_ids) <= hi
        # 1 fps: frame indices are consecutive seconds.
        assert [parse_frame_id(f)[1] for f in row.frame_ids] == list(
            range(len(row.frame_ids)))
        assert len(row.boxes) == len(row.frame_ids)
        for box in row.boxes:
            if box:
                x1, y1, x2, y2 = box
                assert 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1
        assert any(row.boxes), 'every clip shows its product at least once'
        cat = CATEGORIES[row.category_id]
        assert row.category_name == cat.name_zh
        # Diversity types agree with the boxes of the row.
        frame_boxes = [[b] if b else [] for b in row.boxes]
        assert (row.scale, row.duration) == expected_types(frame_boxes)
        seen_types.add((row.scale, row.duration))
        for fid in row.frame_ids[:2]:
            img = cv2.imread(
                osp.join(toy_root, 'training_frames', row.video_id,
                         fid + '.jpg'))
            assert img is not None and img.shape == (height, width, 3)
        img = cv2.imread(
            osp.join(toy_root, 'training_images', row.image_id + '.jpg'))
        assert img.shape == (CFG.image_size, CFG.image_size, 3)
    assert len(lives) == CFG.train_lives
    assert len(seen_types) > 1, 'the toy covers several diversity types'


def test_test_files_are_consistent(toy_root):
    gt = load_gt_images(ann(toy_root, 'test_videoid_to_gtimage_'))
    gallery = load_gallery(ann(toy_root, 'test_liveid_to_gallery_'))
    boxes = load_frame_boxes(ann(toy_root, 'test_frameid2gtbox_'))
    asr_path = ann(toy_root, 'test_videoid_asr_')
    title_path = ann(toy_root, 'test_image_title_')
    asr, _ = load_id_text_pairs(asr_path, 'clip')
    titles, _ = load_id_text_pairs(title_path, 'image')
    div_path = ann(toy_root, 'test_videoid_to_diversity_')
    with open(div_path) as f:
        diversity = json.load(f)

    n_queries = CFG.test_lives * CFG.products_per_live * \
        CFG.test_clips_per_product
    assert len(gt) == n_queries == len(asr) == len(diversity)
    assert count_in_name(asr_path) == [n_queries]
    assert count_in_name(title_path) == [len(titles)]
    assert count_in_name(ann(toy_root, 'test_frameid2gtbox_')) == [
        n_queries, len(boxes)
    ]
    assert len(gallery) == CFG.test_lives
    all_images = {i for ids in gallery.values() for i in ids}
    assert set(titles) <= all_images
    multi_gt = 0
    for clip_id, gts in gt.items():
        live = live_id_of(clip_id)
        assert live in gallery
        assert set(gts) <= set(gallery[live]), 'GT images in own gallery'
        multi_gt += len(gts) > 1
    assert multi_gt > 0, 'some queries have several GT images'
    for ids in gallery.values():
        assert len(ids) == len(set(ids))
        for image_id in ids:
            assert osp.isfile(
                osp.join(toy_root, 'test_images', image_id + '.jpg'))
    # Boxes: only frames that show the product, all inside the frame.
    clip_frames = {}
    for path in glob.glob(osp.join(toy_root, 'test_frames', '*', '*.jpg')):
        fid = osp.basename(path)[:-4]
        clip, idx = parse_frame_id(fid)
        assert idx % 3 == 0, 'test frames are one every 3 s'
        clip_frames.setdefault(clip, []).append(fid)
    assert set(clip_frames) == set(gt)
    for fid, fboxes in boxes.items():
        assert parse_frame_id(fid)[0] in gt
        assert fboxes
        for x1, y1, x2, y2 in fboxes:
            assert 0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1
    for clip, fids in clip_frames.items():
        frame_boxes = [boxes.get(fid, []) for fid in sorted(fids)]
        assert (diversity[clip]['scale'],
                diversity[clip]['duration']) == expected_types(frame_boxes)
        assert diversity[clip]['num_products'] in NUMBER_TYPES


def test_url_lists_and_img2dataset_shards(toy_root):
    names = {
        'training_frame_url_full_': 'training_frames',
        'training_image_url_full_': 'training_images',
        'test_frame_url_': 'test_frames',
        'test_image_url_': 'test_images'
    }
    for prefix, folder in names.items():
        path = ann(toy_root, prefix)
        with open(path) as f:
            urls = [line.strip() for line in f]
        assert count_in_name(path) == [len(urls)]
        assert len(set(urls)) == len(urls)
        shard_root = osp.join(toy_root, 'shards',
                              osp.splitext(osp.basename(path))[0])
        metas = sorted(glob.glob(osp.join(shard_root, '*', '*.json')))
        assert len(metas) == len(urls)
        shards = sorted(os.listdir(shard_root))
        assert shards == [f'{i:05d}' for i in range(len(shards))]
        for i, meta_path in enumerate(metas):
            with open(meta_path) as f:
                meta = json.load(f)
            shard, idx = divmod(i, CFG.shard_size)
            assert meta['key'] == f'{shard:05d}{idx:04d}'
            assert meta['url'] == urls[i] and meta['status'] == 'success'
            item = osp.basename(meta['url'])[:-4]
            if folder.endswith('frames'):
                src = osp.join(toy_root, folder,
                               parse_frame_id(item)[0], item + '.jpg')
            else:
                assert is_uuid(item)
                src = osp.join(toy_root, folder, item + '.jpg')
            with open(meta_path[:-5] + '.jpg', 'rb') as f:
                data = f.read()
            with open(src, 'rb') as f:
                assert f.read() == data
            assert meta['sha256'] == hashlib.sha256(data).hexdigest()


#: caches the readers add next to the data (other tests read toy_root).
READER_CACHES = ('lpr_clip_index_', 'lpr_shard_index')


def tree_digest(root):
    """SHA-256 of every file the generator wrote, by relative path."""
    digest = {}
    for dirpath, _, files in os.walk(root):
        if any(c in dirpath for c in READER_CACHES):
            continue
        for name in files:
            path = osp.join(dirpath, name)
            with open(path, 'rb') as f:
                digest[osp.relpath(path, root)] = hashlib.sha256(
                    f.read()).hexdigest()
    return digest


def test_same_seed_same_bytes_whatever_the_workers(toy_root, tmp_path):
    generate(str(tmp_path / 'a'), make_config('tests', seed=0, workers=2))
    assert tree_digest(str(tmp_path / 'a')) == tree_digest(toy_root)
    generate(str(tmp_path / 'b'), make_config('tests', seed=1))
    assert tree_digest(str(tmp_path / 'b')) != tree_digest(toy_root)


def test_presets_and_size_flags(tmp_path, repo_root):
    demo = make_config('demo')
    tests = make_config('tests')
    assert demo.train_lives > tests.train_lives
    assert demo.resolution > tests.resolution
    with pytest.raises(KeyError):
        make_config('huge')
    out = tmp_path / 'custom'
    subprocess.run([
        sys.executable,
        osp.join(repo_root, 'tools/dataset_converters/make_toy_lpr4m.py'),
        '--out',
        str(out), '--preset', 'tests', '--train-lives', '2', '--test-lives',
        '1', '--products-per-live', '3', '--clips-per-product', '2',
        '--frames', '3', '5', '--resolution', '48', '--image-size', '40',
        '--no-shards', '--quiet'
    ],
                   check=True)
    with open(out / 'meta.json') as f:
        stats = json.load(f)['stats']
    assert stats['training']['livestreams'] == 2
    assert stats['training']['clips'] == 2 * 3 * 2
    assert stats['test']['clips'] == 1 * 3 * 1
    assert not (out / 'shards').exists()
    frame = glob.glob(str(out / 'training_frames' / '*' / '*.jpg'))[0]
    assert cv2.imread(frame).shape == (85, 48, 3)
    image = glob.glob(str(out / 'training_images' / '*.jpg'))[0]
    assert cv2.imread(image).shape == (40, 40, 3)


@pytest.mark.slow
def test_demo_preset_in_under_a_minute(tmp_path):
    import time
    start = time.perf_counter()
    stats = generate(str(tmp_path), make_config('demo', workers=2))
    assert time.perf_counter() - start < 60
    assert stats['training']['clips'] == 24 * 8 * 3


def test_content_is_fine_grained_and_bilingual(toy_root):
    weights = category_weights()
    assert len(weights) == len(CATEGORIES) == 34
    assert abs(sum(weights) - 1) < 1e-9
    assert all(a > b for a, b in zip(weights, weights[1:])), 'long-tailed'
    shop = sample_shop(np.random.default_rng(0), 'bottle', 8)
    assert len(set(shop)) == 8
    assert len({p.shape for p in shop}) == 1
    # Look-alikes: every product shares an attribute (shade, pattern or
    # logo) with another product of the same shop.
    for p in shop:
        assert any(
            sum([p.hue == q.hue and p.value == q.value,
                 p.pattern == q.pattern, p.glyph == q.glyph]) >= 1
            for q in shop if q is not p)
    asr, _ = load_id_text_pairs(ann(toy_root, 'test_videoid_asr_'), 'clip')
    rows, _ = load_training_videoinfo(
        osp.join(toy_root, 'annotations', 'training_videoinfo_full_part_*'))
    texts = list(asr.values()) + [r.asr for r in rows] + [r.title for r in rows]
    assert any(re.search('[\u4e00-\u9fff]', t) for t in texts)
    assert any(re.search('[a-z]{3,}', t) for t in texts)
    assert any(t == '' for t in texts), 'some clips have no speech'
