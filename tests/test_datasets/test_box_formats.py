"""Boxes in pixels of the original frame (the LPR4M release) and normalised
boxes (the toy set) give the same samples, patch masks and COCO boxes; an
all-zero box is the whole frame; what loaders drop is counted, logged once
per file, and an error above ``max_drop_ratio``."""
import glob
import json
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
from mmpretrain.registry import DATASETS

from lpr.datasets import (convert_test, convert_training, find_annotation,
                          load_training_videoinfo, product_scale_type)
from lpr.datasets.annotations import load_box_file
from lpr.datasets.boxes import (clean_boxes, detect_box_format,
                                normalise_boxes, resolve_box_format)
from lpr.datasets.drops import TooManyDropped
from lpr.datasets.errors import AnnotationError
from lpr.datasets.frame_store import (INDEX_NAME, FolderStore, ShardStore,
                                      probe_image)
from lpr.datasets.transforms import BoxToPatchMask

LIVE = '7b601b02-2c63-11ee-bb6d-b8cef60c2fd0'
IMAGE = '0a1b2c3d-0000-1111-2222-333344445555'
MASKS = (BoxToPatchMask(224, 32), BoxToPatchMask(128, 16))


def shard_root(root, name):
    return osp.relpath(glob.glob(osp.join(root, 'shards', name + '_*'))[0],
                       root)


def build(kind, root, **kw):
    cfg = dict(type=kind, data_root=root, pipeline=[])
    if kind == 'LPR4MPairDataset':
        cfg['index_dir'] = False
    cfg.update(kw)
    return DATASETS.build(cfg)


def all_boxes(ds):
    return [ds.get_data_info(i)['frame_boxes'] for i in range(len(ds))]


def assert_same_boxes_and_masks(want, got):
    n = 0
    for clip_want, clip_got in zip(want, got):
        assert len(clip_want) == len(clip_got)
        for a, b in zip(clip_want, clip_got):
            assert len(a) == len(b)
            if a:
                np.testing.assert_allclose(a, b, atol=1e-3)
            n += len(a)
        for mask in MASKS:
            np.testing.assert_array_equal(
                mask(dict(frame_boxes=clip_want))['patch_masks'],
                mask(dict(frame_boxes=clip_got))['patch_masks'])
    return n


def test_pixel_toy_is_the_normalised_toy_in_another_encoding(
        toy_root, toy_pixel_root):
    rows_n, _ = load_training_videoinfo(
        osp.join(toy_root, 'annotations', 'training_videoinfo_full_part_*'))
    rows_p, report = load_training_videoinfo(
        osp.join(toy_pixel_root, 'annotations',
                 'training_videoinfo_full_part_*'))
    assert set(report.box_formats.values()) == {'pixel'}
    for a, b in zip(rows_n, rows_p):
        assert (a.video_id, a.frame_ids, a.image_id, a.scale, a.duration,
                a.num_products) == (b.video_id, b.frame_ids, b.image_id,
                                    b.scale, b.duration, b.num_products)
        for na, pb in zip(a.boxes, b.boxes):
            assert (na == []) == (pb == [])
            if na:
                np.testing.assert_allclose(
                    np.array(pb) / [160, 285, 160, 285], na, atol=1e-4)
    # Folders hold the original frames, shards the resized ones.
    fid = rows_p[0].frame_ids[0]
    folder = FolderStore(osp.join(toy_pixel_root, 'training_frames'), 'clip')
    shards = ShardStore(
        osp.join(toy_pixel_root,
                 shard_root(toy_pixel_root, 'training_frame_url_full')))
    assert folder.size(fid) == (160, 285) == shards.size(fid)
    stored = cv2.imdecode(np.frombuffer(shards.get(fid), np.uint8), 1)
    assert stored.shape[:2] == (114, 64)
    # Same content as the normalised set's frame (two resizes and JPEG).
    same = cv2.imread(
        FolderStore(osp.join(toy_root, 'training_frames'), 'clip').path(fid))
    assert np.abs(stored.astype(float) - same).mean() < 4
    # Diversity types come from normalised boxes; pixel input is refused.
    with pytest.raises(ValueError, match='normalised boxes'):
        product_scale_type([[b] if b else [] for b in rows_p[0].boxes])


@pytest.mark.parametrize('store', ['folder', 'shards'])
def test_pixel_boxes_are_all_kept_and_give_the_same_masks(
        toy_root, toy_pixel_root, store):
    kw_pair, kw_query = {}, {}
    if store == 'shards':
        kw_pair['frame_store'] = dict(
            type='shards',
            root=shard_root(toy_pixel_root, 'training_frame_url_full'))
        kw_query['frame_store'] = dict(
            type='shards', root=shard_root(toy_pixel_root, 'test_frame_url'))
    want = build('LPR4MPairDataset', toy_root)
    got = build('LPR4MPairDataset', toy_pixel_root, **kw_pair)
    assert got.index.box_formats == ['pixel'] * 3
    assert got.index.report.boxes_dropped == 0
    assert got.index.report.boxes_clipped == 0
    n = assert_same_boxes_and_masks(all_boxes(want), all_boxes(got))
    assert n == got.index.report.boxes == want.index.report.boxes == 98
    want = build('LPR4MQueryDataset', toy_root)
    got = build('LPR4MQueryDataset', toy_pixel_root, **kw_query)
    assert got.box_format_read == 'pixel'
    assert assert_same_boxes_and_masks(all_boxes(want), all_boxes(got)) == 33


def test_explicit_box_format_is_checked(toy_root, toy_pixel_root):
    with pytest.raises(AnnotationError, match="box_format='normalised' but"):
        build('LPR4MPairDataset', toy_pixel_root, box_format='normalised')
    with pytest.raises(AnnotationError, match="box_format='pixel' but"):
        build('LPR4MQueryDataset', toy_root, box_format='pixel')
    assert len(build('LPR4MPairDataset', toy_pixel_root, box_format='pixel'))
    with pytest.raises(ValueError, match='box_format must be one of'):
        build('LPR4MPairDataset', toy_root, box_format='pixels')


def test_detection_rule_and_normalisation():
    assert detect_box_format(1.0) == detect_box_format(1.5) == 'normalised'
    assert detect_box_format(1.51) == 'pixel'
    assert resolve_box_format('auto', 0.0, 'f', has_boxes=False) == \
        'normalised'
    assert resolve_box_format('pixel', 0.0, 'f', has_boxes=False) == 'pixel'
    # Pixel boxes: divided by the ORIGINAL (width, height), x by width.
    assert normalise_boxes([[32, 57, 64, 114]], (64, 228), 'pixel') == [
        [0.5, 0.25, 1.0, 0.5]
    ]
    # Partly outside: clipped; wholly outside: left out.
    assert normalise_boxes([[-5, 0, 32, 300], [70, 0, 90, 10]], (64, 228),
                           'pixel') == [[0.0, 0.0, 0.5, 1.0]]
    fixed, clipped, bad = clean_boxes(
        [[0, 0, 0, 0], [-4, 2, 30, 40], [10, 10, 5, 20], [np.nan, 0, 1, 1]],
        'pixel')
    assert clipped == 1 and bad.tolist() == [False, False, True, True]
    assert fixed[1].tolist() == [0, 2, 30, 40] and not fixed[2].any()


def test_all_zero_box_means_the_whole_frame(tmp_path):
    clip = f'{LIVE}-1000-4000'
    frames = [f'{clip}-{i:04d}' for i in range(3)]
    row = '\t'.join([
        clip,
        json.dumps(frames),
        json.dumps([[0, 0, 0, 0], [320, 200, 640, 900], [0, 0, 0, 0]]),
        IMAGE, 'title', '2', 'cat', 'asr', 'small', 'long', 'few'
    ])
    ann = tmp_path / 'annotations'
    ann.mkdir()
    (ann / 'training_videoinfo_full_part_00.txt').write_text(row + '\n')
    frame_dir = tmp_path / 'training_frames' / clip
    frame_dir.mkdir(parents=True)
    for fid in frames:
        cv2.imwrite(str(frame_dir / f'{fid}.jpg'),
                    np.zeros((1280, 720, 3), np.uint8))
    ds = build(
        'LPR4MPairDataset',
        str(tmp_path),
        frame_store=dict(type='folder', root='training_frames',
                         layout='clip'))
    assert ds.index.report.boxes == 1 and ds.index.report.boxes_dropped == 0
    info = ds.get_data_info(0)
    assert info['frame_boxes'][0] == info['frame_boxes'][2] == []
    np.testing.assert_allclose(info['frame_boxes'][1],
                               [[320 / 720, 200 / 1280, 640 / 720,
                                 900 / 1280]], atol=1e-4)
    masks = BoxToPatchMask(224, 32)(info)['patch_masks']
    assert masks[0].all() and masks[2].all()  # whole frame
    assert 0 < masks[1, 1:].sum() < 49
    # V0: a whole-frame box keeps every cell too (IoU 1/49 >= 0.02).
    assert BoxToPatchMask(224, 32)(dict(frame_boxes=[[[0, 0, 1, 1]]]))[
        'patch_masks'].all()


def test_coco_boxes_from_pixel_files_match_the_normalised_ones(
        toy_root, toy_pixel_root, tmp_path):
    out = {}
    for name, root in (('norm', toy_root), ('pixel_shards', toy_pixel_root),
                       ('pixel_folder', toy_pixel_root)):
        for split, fn, store in (('train', convert_training,
                                  'training_frame_url_full'),
                                 ('test', convert_test, 'test_frame_url')):
            path = str(tmp_path / f'{name}_{split}.json')
            opts = {}
            if name == 'pixel_shards':
                opts['frame_store'] = dict(
                    type='shards', root=shard_root(root, store))
            stats = fn(root, path, 1, **opts)
            assert stats['frames_unreadable'] == 0
            with open(path) as f:
                out[name, split] = json.load(f)
    for split, n in (('train', 98), ('test', 33)):
        norm = out['norm', split]
        for name, scale in (('pixel_shards', 1.0), ('pixel_folder', 2.5)):
            coco = out[name, split]
            assert len(coco['annotations']) == len(norm['annotations']) == n
            images = {im['id']: im for im in coco['images']}
            for a, b in zip(norm['annotations'], coco['annotations']):
                np.testing.assert_allclose(
                    np.array(a['bbox']) * scale, b['bbox'], atol=0.15)
                im = images[b['image_id']]
                x, y, w, h = b['bbox']
                assert x + w <= im['width'] + 1e-6
                assert y + h <= im['height'] + 1e-6


def test_converter_counts_frames_it_cannot_open(toy_root, tmp_path):
    root = str(tmp_path / 'toy')
    shutil.copytree(toy_root, root)
    frames = sorted(glob.glob(osp.join(root, 'test_frames', '*', '*.jpg')))
    os.remove(frames[0])
    data = open(frames[1], 'rb').read()
    with open(frames[1], 'wb') as f:
        f.write(data[:len(data) // 2])  # an interrupted download
    assert probe_image(data[:len(data) // 2]) == (None, 'truncated')
    out = str(tmp_path / 'test.json')
    with pytest.raises(TooManyDropped) as err:
        convert_test(root, out, 1)
    msg = str(err.value)
    assert msg.startswith(osp.join(root, 'test_frames') + ': 2 of 35 frames')
    assert 'missing' in msg and 'truncated' in msg
    assert '--max-drop-ratio 0.0572' in msg
    stats = convert_test(root, out, 1, max_drop_ratio=0.06)
    assert stats['frames_unreadable'] == 2 and stats['frames'] == 33


def _videoinfo(path, n_rows, bad_rows=(), degenerate=()):
    lines = []
    for i in range(n_rows):
        clip = f'{LIVE}-{1000 * i}-{1000 * i + 500}'
        frames = json.dumps([f'{clip}-0000', f'{clip}-0001'])
        boxes = [[0.1, 0.1, 0.5, 0.5], [0.2, 0.2, 0.6, 0.9]]
        if i in degenerate:
            boxes[1] = [0.6, 0.2, 0.2, 0.9]
        image = IMAGE if i not in bad_rows else 'not-an-image-id'
        lines.append('\t'.join([
            clip, frames,
            json.dumps(boxes), image, 't', '1', 'c', 'asr', 'small', 'long',
            'few'
        ]))
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


@pytest.fixture
def logged(monkeypatch):
    import lpr.datasets.drops as drops
    lines = []
    monkeypatch.setattr(drops, 'print_log',
                        lambda msg, **kw: lines.append(msg))
    return lines


def test_more_than_one_percent_dropped_is_an_error(tmp_path, logged):
    from lpr.datasets import ClipIndex
    path = _videoinfo(tmp_path / 'part_00.txt', 200, bad_rows=(3, 50, 90, 7))
    with pytest.raises(TooManyDropped) as err:
        ClipIndex.from_files(path)
    msg = str(err.value)
    assert msg.startswith(f'{path}:4: 4 of 200 rows dropped (2.00 %), more '
                          'than max_drop_ratio=0.01 allows; e.g. line 4: ')
    assert 'line 8: ' in msg and 'line 51: ' in msg and 'line 91' not in msg
    assert "'not-an-image-id' is not an LPR4M image id" in msg
    assert 'max_drop_ratio=0.02 (or strict=False)' in msg
    # The option accepts it; the loss is then logged once for the file.
    index = ClipIndex.from_files(path, max_drop_ratio=0.02)
    assert len(index) == 196 and index.report.skipped == 4
    assert len(logged) == 1 and logged[0].startswith(f'{path}: 4 of 200 rows')
    assert len(ClipIndex.from_files(path, strict=False)) == 196
    # Degenerate boxes: 4 of 400 is 1 %, not more: logged, not an error.
    logged.clear()
    path = _videoinfo(tmp_path / 'part_01.txt', 200,
                      degenerate=(1, 2, 3, 4))
    index = ClipIndex.from_files(path)
    assert index.report.boxes_dropped == 4 and index.report.boxes == 396
    assert logged == [
        f'{path}: 4 of 400 boxes dropped (1.00 %); e.g. line 2: frame '
        f'{LIVE}-1000-1500-0001: box [0.6, 0.2, 0.2, 0.9] is degenerate or '
        f'not finite; line 3: frame {LIVE}-2000-2500-0001: box [0.6, 0.2, '
        f'0.2, 0.9] is degenerate or not finite; line 4: frame '
        f'{LIVE}-3000-3500-0001: box [0.6, 0.2, 0.2, 0.9] is degenerate or '
        'not finite'
    ]
    path = _videoinfo(tmp_path / 'part_02.txt', 200,
                      degenerate=(1, 2, 3, 4, 5))
    with pytest.raises(TooManyDropped, match='5 of 400 boxes dropped'):
        ClipIndex.from_files(path)


def test_box_file_drops(tmp_path, logged):
    frames = {f'{LIVE}-0-9000-{i:04d}': [[10, 10, 50, 60]] for i in range(50)}
    frames[f'{LIVE}-0-9000-0003'] = [[10, 10, 5, 60]]
    frames[f'{LIVE}-0-9000-0004'] = [[0, 0, 0, 0]]  # whole frame, not a drop
    path = tmp_path / 'boxes.json'
    path.write_text(json.dumps(frames))
    with pytest.raises(TooManyDropped) as err:
        load_box_file(str(path))
    assert str(err.value).startswith(
        f'{path}: 1 of 49 boxes dropped (2.04 %)')
    assert f'frame {LIVE}-0-9000-0003: box [10.0, 10.0, 5.0, 60.0]' in str(
        err.value)
    boxes, fmt, drops = load_box_file(str(path), max_drop_ratio=0.05)
    assert fmt == 'pixel' and drops.total == 49 and len(logged) == 1
    assert boxes[f'{LIVE}-0-9000-0003'] == boxes[f'{LIVE}-0-9000-0004'] == []


def test_text_file_drops(toy_copy_root):
    path = find_annotation(osp.join(toy_copy_root, 'annotations'),
                           'test_videoid_asr_')
    with open(path, encoding='utf-8') as f:
        lines = f.readlines()
    lines[2] = 'not-a-clip\tasr\n'
    with open(path, 'w', encoding='utf-8') as f:
        f.writelines(lines)
    with pytest.raises(TooManyDropped, match=r':3: 1 of 8 rows dropped'):
        build('LPR4MQueryDataset', toy_copy_root)
    q = build('LPR4MQueryDataset', toy_copy_root, max_drop_ratio=0.2)
    assert len(q) == 8
    assert len(build('LPR4MQueryDataset', toy_copy_root, strict=False)) == 8


@pytest.fixture
def toy_copy_root(toy_root, tmp_path):
    dst = str(tmp_path / 'toy')
    shutil.copytree(toy_root, dst)
    return dst


def test_pixel_box_file_for_the_retriever(toy_root, tmp_path):
    """A detector box file in pixels of the frames is read like the GT."""
    gt = load_box_file(
        find_annotation(osp.join(toy_root, 'annotations'),
                        'test_frameid2gtbox_'))[0]
    px = {f: [[b[0] * 64, b[1] * 114, b[2] * 64, b[3] * 114] for b in bs]
          for f, bs in gt.items()}
    path = tmp_path / 'pred.json'
    path.write_text(json.dumps(px))
    want = build('LPR4MQueryDataset', toy_root)
    got = build('LPR4MQueryDataset', toy_root, box_file=str(path))
    assert got.box_format_read == 'pixel'
    assert assert_same_boxes_and_masks(all_boxes(want), all_boxes(got)) == 33


def test_dataset_summaries(toy_root, monkeypatch):
    import lpr.datasets.lpr4m as lpr4m
    lines = []
    monkeypatch.setattr(lpr4m, 'print_log',
                        lambda msg, **kw: lines.append(msg))
    len(build('LPR4MPairDataset', toy_root))
    build('LPR4MQueryDataset', toy_root)
    build('LPR4MGalleryDataset', toy_root)
    assert lines == [
        'LPR4MPairDataset: 24 clips read from 3 file(s), 0 rows skipped; '
        '144 frames; 98 boxes (normalised), 0 clipped, 0 dropped; 13 images',
        'LPR4MQueryDataset: 8 clips, 35 frames (0 clips without a listed '
        'frame), 33 boxes from test_frameid2gtbox_8_27.json (normalised)',
        'LPR4MGalleryDataset: 12 images of 2 lives (5 with a title), all '
        'readable'
    ]


def test_shard_index_without_sizes_is_rebuilt(toy_pixel_root, tmp_path):
    root = str(tmp_path / 'shards')
    shutil.copytree(
        osp.join(toy_pixel_root, shard_root(toy_pixel_root,
                                            'test_frame_url')), root,
        ignore=shutil.ignore_patterns(INDEX_NAME))
    store = ShardStore(root)
    fid = json.load(open(glob.glob(osp.join(root, '00000', '*.json'))[0]))[
        'url'].rsplit('/', 1)[1][:-4]
    assert store.size(fid) == (160, 285)
    os.remove(osp.join(root, INDEX_NAME, 'orig_w.npy'))
    assert ShardStore(root).size(fid) == (160, 285)
    assert ShardStore(root).size(f'{LIVE}-1-2-0000') is None


def test_size_sources_and_their_error_paths(toy_pixel_root, tmp_path):
    # Pixel boxes need a size; a frame that cannot be read keeps no box.
    with pytest.raises(ValueError, match='need the frame size'):
        normalise_boxes([[1, 2, 3, 4]], None, 'pixel')

    class Store:
        def size(self, fid):
            return {'a': (100, 200)}.get(fid)

    from lpr.datasets.boxes import normalise_frame_boxes
    assert normalise_frame_boxes(['a', 'b', 'a'],
                                 [[[10, 20, 50, 100]], [[1, 1, 5, 5]], []],
                                 'pixel', Store()) == [
                                     [[0.1, 0.1, 0.5, 0.5]], [], []
                                 ]
    # A shard JSON without sizes: the stored file's own size.
    root = str(tmp_path / 'shards')
    shutil.copytree(
        osp.join(toy_pixel_root, shard_root(toy_pixel_root,
                                            'test_frame_url')), root,
        ignore=shutil.ignore_patterns(INDEX_NAME))
    meta_path = sorted(glob.glob(osp.join(root, '00000', '*.json')))[0]
    meta = json.load(open(meta_path))
    for key in ('width', 'height', 'original_width', 'original_height'):
        meta.pop(key)
    json.dump(meta, open(meta_path, 'w'))
    fid = meta['url'].rsplit('/', 1)[1][:-4]
    assert ShardStore(root).size(fid) == (64, 114)


def test_toy_box_format_settings_are_checked():
    from lpr.toy import make_config
    with pytest.raises(ValueError, match="'normalised' or 'pixel'"):
        make_config('tests', box_format='pixels')
    with pytest.raises(ValueError, match='at least 1'):
        make_config('tests', box_format='pixel', original_scale=0.5)
    cfg = make_config('tests', box_format='pixel', original_scale=2)
    assert cfg.frame_size == (64, 114) and cfg.original_size == (128, 228)


def test_converter_cli_reports_the_loss_without_a_traceback(
        toy_root, tmp_path, monkeypatch, capsys):
    import sys

    from conftest import load_script
    root = str(tmp_path / 'toy')
    shutil.copytree(toy_root, root)
    os.remove(sorted(glob.glob(osp.join(root, 'test_frames', '*',
                                        '*.jpg')))[0])
    tool = load_script('tools/dataset_converters/lpr4m_to_coco.py')
    argv = ['lpr4m_to_coco.py', root, '--classes', '1', '--splits', 'test']
    monkeypatch.setattr(sys, 'argv', argv)
    with pytest.raises(SystemExit) as err:
        tool.main()
    assert str(err.value).startswith('error: ') and \
        '1 of 35 frames dropped' in str(err.value) and \
        '--max-drop-ratio 0.0286' in str(err.value)
    monkeypatch.setattr(sys, 'argv', argv + ['--max-drop-ratio', '0.03'])
    tool.main()
    assert "'frames': 34, 'boxes'" in capsys.readouterr().out
