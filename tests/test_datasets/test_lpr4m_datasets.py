"""LPR4M retrieval datasets on the toy set: training pairs, queries and the
per-live gallery, on folders and on img2dataset shards, and every bad-input
path."""
import glob
import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from mmpretrain.registry import DATASETS

from lpr.datasets import (AnnotationError, ClipIndex, find_annotation,
                          load_training_videoinfo)
from lpr.datasets.drops import TooManyDropped
from lpr.datasets.frame_store import FolderStore, ShardStore
from lpr.datasets.ids import parse_clip_id

TRAIN_PIPE = [
    dict(type='SampleClipFrames', num_frames=10),
    dict(type='CutTail'),
    dict(type='LoadClipFrames'),
    dict(type='LoadShopImage'),
    dict(
        type='ApplyToFrames',
        transforms=[
            dict(type='Resize', scale=(40, 40), keep_ratio=False),
            dict(type='RandomCrop', crop_size=32),
            dict(type='RandomFlip', prob=0.5)
        ]),
    dict(type='Resize', scale=(32, 32), keep_ratio=False),
    dict(type='BoxToPatchMask', input_size=32, patch_size=8),
    dict(type='PackLPRInputs'),
]
TEST_PIPE = [
    dict(type='SampleClipFrames', num_frames=10, rule='floor'),
    dict(type='LoadClipFrames', on_empty='keep'),
    dict(
        type='ApplyToFrames',
        transforms=[dict(type='Resize', scale=(32, 32), keep_ratio=False)]),
    dict(type='PackLPRInputs', empty_frame_size=(32, 32)),
]
GALLERY_PIPE = [
    dict(type='LoadShopImage'),
    dict(type='Resize', scale=(32, 32), keep_ratio=False),
    dict(type='PackLPRInputs'),
]


@pytest.fixture
def toy_copy(toy_root, tmp_path):
    dst = str(tmp_path / 'toy')
    shutil.copytree(
        toy_root, dst, ignore=shutil.ignore_patterns('lpr_clip_index_*'))
    return dst


def pairs(root, **kw):
    cfg = dict(type='LPR4MPairDataset', data_root=root, pipeline=TRAIN_PIPE)
    cfg.update(kw)
    return DATASETS.build(cfg)


def test_pair_dataset_samples(toy_copy):
    ds = pairs(toy_copy)
    rows, _ = load_training_videoinfo(
        osp.join(toy_copy, 'annotations', 'training_videoinfo_full_part_*'))
    assert len(ds) == len(rows)
    for i in (0, len(ds) - 1):
        info = ds.get_data_info(i)
        row = rows[i]
        assert info['clip_id'] == row.video_id
        assert info['frame_ids'] == row.frame_ids  # toy clips have ≤ 10
        assert info['image_id'] == row.image_id
        assert info['gt_image_ids'] == [row.image_id]
        assert (info['title'], info['asr']) == (row.title, row.asr)
        assert info['category_id'] == row.category_id
        assert info['product_scale'] == row.scale
        for got, want in zip(info['frame_boxes'], row.boxes):
            assert (got == []) == (want == [])
            if want:
                np.testing.assert_allclose(got[0], want, atol=1e-3)
    out = ds[0]
    assert out['inputs']['frames'].shape == (10, 3, 32, 32)
    assert out['inputs']['image'].shape == (3, 32, 32)
    n = int(out['inputs']['frame_mask'].sum())
    assert 1 <= n <= 10
    assert out['data_samples'].patch_masks.shape == (10, 17)


def test_index_is_cached_and_rebuilt_when_files_change(toy_copy,
                                                       monkeypatch):
    pairs(toy_copy)
    caches = glob.glob(osp.join(toy_copy, 'annotations', 'lpr_clip_index_*'))
    assert len(caches) == 1

    def boom(*a, **k):
        raise AssertionError('the cached index should have been used')

    monkeypatch.setattr(ClipIndex, 'from_files', boom)
    assert len(pairs(toy_copy)) > 0
    monkeypatch.undo()
    part = osp.join(toy_copy, 'annotations',
                    'training_videoinfo_full_part_00.txt')
    with open(part, encoding='utf-8') as f:
        lines = f.readlines()
    with open(part, 'w', encoding='utf-8') as f:
        f.writelines(lines[:-1])
    assert len(pairs(toy_copy)) == len(pairs(toy_copy, index_dir=False))


def test_index_keeps_ten_frames_with_the_official_rule(tmp_path):
    live = '7b601b02-2c63-11ee-bb6d-b8cef60c2fd0'
    clip = f'{live}-1000-119000'
    frames = [f'{clip}-{i:04d}' for i in range(118)]
    boxes = [[i / 200, 0.1, 0.9, 0.6] for i in range(118)]
    row = '\t'.join([
        clip,
        json.dumps(frames),
        json.dumps(boxes), '0a1b2c3d-0000-1111-2222-333344445555', 'title',
        '2', 'cat', 'asr text', 'small', 'long', 'few'
    ])
    path = tmp_path / 'part_00.txt'
    path.write_text(row + '\n', encoding='utf-8')
    index = ClipIndex.from_files(str(path), max_frames=10)
    info = index[0]
    keep = [int(c[0]) for c in np.array_split(np.arange(118), 10)]
    assert info['frame_ids'] == [frames[k] for k in keep]
    assert [b[0][0] for b in info['frame_boxes']] == pytest.approx(
        [k / 200 for k in keep], abs=1e-3)
    assert info['asr'] == 'asr text'
    assert len(ClipIndex.from_files(str(path), max_frames=None)[0]
               ['frame_ids']) == 118


def test_malformed_rows_strict_and_lenient(toy_copy):
    part = osp.join(toy_copy, 'annotations',
                    'training_videoinfo_full_part_01.txt')
    with open(part, encoding='utf-8') as f:
        lines = f.readlines()
    cols = lines[1].split('\t')
    cols[3] = 'not-an-image-id'
    lines[1] = '\t'.join(cols)
    with open(part, 'w', encoding='utf-8') as f:
        f.writelines(lines)
    with pytest.raises(AnnotationError) as err:
        pairs(toy_copy)
    assert str(err.value).startswith(f'{osp.abspath(part)}:2: ')
    ds = pairs(toy_copy, strict=False)
    assert ds.index.report.skipped == 1
    assert len(ds) == ds.index.report.rows - 1


def test_boxes_outside_the_frame_are_clipped_and_degenerate_dropped(
        toy_copy):
    part = osp.join(toy_copy, 'annotations',
                    'training_videoinfo_full_part_00.txt')
    with open(part, encoding='utf-8') as f:
        lines = f.readlines()
    cols = lines[0].split('\t')
    boxes = json.loads(cols[2])
    boxes[0] = [-0.2, 0.1, 1.3, 0.9]  # outside
    boxes[1] = [0.5, 0.5, 0.4, 0.9]  # degenerate
    cols[2] = json.dumps(boxes)
    lines[0] = '\t'.join(cols)
    with open(part, 'w', encoding='utf-8') as f:
        f.writelines(lines)
    # One box of the file's ~30 is more than 1 %: an error naming the file,
    # the count, the line and the option that accepts it.
    with pytest.raises(TooManyDropped) as err:
        pairs(toy_copy)
    msg = str(err.value)
    assert msg.startswith(f'{osp.abspath(part)}:1: 1 of ')
    assert 'boxes dropped' in msg and 'max_drop_ratio=' in msg
    assert 'box [0.5, 0.5, 0.4, 0.9] is degenerate' in msg
    ds = pairs(toy_copy, max_drop_ratio=0.05)
    assert ds.index.report.boxes_clipped == 1
    assert ds.index.report.boxes_dropped == 1
    info = ds.get_data_info(0)
    assert info['frame_boxes'][0] == [[0.0, pytest.approx(0.1, abs=1e-3),
                                       1.0, pytest.approx(0.9, abs=1e-3)]]
    assert info['frame_boxes'][1] == []


def test_missing_and_corrupt_frames_are_skipped(toy_copy):
    ds = pairs(toy_copy)
    info = ds.get_data_info(0)
    store = FolderStore(osp.join(toy_copy, 'training_frames'), 'clip')
    os.remove(store.path(info['frame_ids'][0]))
    with open(store.path(info['frame_ids'][1]), 'wb') as f:
        f.write(b'\x00garbage')
    ds = pairs(toy_copy, pipeline=TRAIN_PIPE[:1] + TRAIN_PIPE[2:])
    out = ds[0]
    assert out['data_samples'].num_skipped_frames == 2
    assert int(out['inputs']['frame_mask'].sum()) == len(
        info['frame_ids']) - 2
    # A clip with no readable frame is excluded: another sample comes back.
    for fid in info['frame_ids']:
        if osp.exists(store.path(fid)):
            os.remove(store.path(fid))
    other = ds[0]
    assert other['data_samples'].clip_id != info['clip_id']


def test_shards_give_the_same_bytes_as_folders(toy_copy):
    toy_root = toy_copy
    shard_root = glob.glob(
        osp.join(toy_root, 'shards', 'training_frame_url_full_*'))[0]
    shards = ShardStore(shard_root)
    folder = FolderStore(osp.join(toy_root, 'training_frames'), 'clip')
    ds = pairs(toy_root, pipeline=[])
    for i in (0, 5):
        for fid in ds.get_data_info(i)['frame_ids']:
            assert shards.get(fid) == folder.get(fid)
    assert shards.get('7b601b02-2c63-11ee-bb6d-b8cef60c2fd0-1-2-0000') is None
    assert osp.isdir(osp.join(shard_root, 'lpr_shard_index'))
    assert len(ShardStore(shard_root)) == len(
        glob.glob(osp.join(shard_root, '[0-9]*', '*.json')))
    via_shards = pairs(
        toy_root,
        frame_store=dict(type='shards', root=osp.relpath(shard_root,
                                                         toy_root)),
        pipeline=TEST_PIPE)
    via_folder = pairs(toy_root, pipeline=TEST_PIPE)
    assert torch.equal(via_shards[3]['inputs']['frames'],
                       via_folder[3]['inputs']['frames'])


def queries(root, **kw):
    cfg = dict(type='LPR4MQueryDataset', data_root=root, pipeline=TEST_PIPE)
    cfg.update(kw)
    return DATASETS.build(cfg)


def test_queries_and_gallery(toy_root):
    q = queries(toy_root)
    g = DATASETS.build(
        dict(
            type='LPR4MGalleryDataset',
            data_root=toy_root,
            pipeline=GALLERY_PIPE))
    with open(find_annotation(
            osp.join(toy_root, 'annotations'), 'test_videoid_to_gtimage_')) \
            as f:
        gt = json.load(f)
    with open(find_annotation(
            osp.join(toy_root, 'annotations'), 'test_liveid_to_gallery_')) \
            as f:
        gallery = json.load(f)
    assert len(q) == len(gt)
    assert len(g) == sum(len(v) for v in gallery.values())
    by_live = {}
    for i in range(len(g)):
        info = g.get_data_info(i)
        by_live.setdefault(info['live_id'], []).append(info['image_id'])
    assert by_live == gallery
    multi = 0
    for i in range(len(q)):
        info = q.get_data_info(i)
        assert info['frame_ids'] == sorted(info['frame_ids'])
        assert info['gt_image_ids'] == gt[info['clip_id']]
        assert set(info['gt_image_ids']) <= set(by_live[info['live_id']])
        assert info['product_scale'] in ('small', 'medium', 'large')
        multi += len(info['gt_image_ids']) > 1
    assert multi > 0
    # Test-time sampling and loading are deterministic.
    a, b = q[2], q[2]
    assert torch.equal(a['inputs']['frames'], b['inputs']['frames'])
    assert g[0]['inputs']['image'].shape == (3, 32, 32)
    # Frame sources agree; the GT-box source lists only frames with boxes.
    folder = queries(toy_root, frame_source='folder')
    boxed = queries(toy_root, frame_source='gtbox')
    for i in range(len(q)):
        assert folder.get_data_info(i)['frame_ids'] == q.get_data_info(
            i)['frame_ids']
        assert set(boxed.get_data_info(i)['frame_ids']) <= set(
            q.get_data_info(i)['frame_ids'])


def _edit_json(root, prefix, fn):
    path = find_annotation(osp.join(root, 'annotations'), prefix)
    with open(path) as f:
        data = json.load(f)
    data = fn(data)
    with open(path, 'w') as f:
        json.dump(data, f)
    return path


def test_query_without_gallery_or_gt_outside_gallery(toy_copy):
    # GT image missing from its live's gallery.
    def drop_gt(gallery):
        with open(
                find_annotation(
                    osp.join(toy_copy, 'annotations'),
                    'test_videoid_to_gtimage_')) as f:
            clip, gts = next(iter(json.load(f).items()))
        gallery[parse_clip_id(clip).live_id].remove(gts[0])
        return gallery

    _edit_json(toy_copy, 'test_liveid_to_gallery_', drop_gt)
    with pytest.raises(ValueError, match="not in their live's gallery"):
        queries(toy_copy)
    # A live with no gallery at all.
    _edit_json(toy_copy, 'test_liveid_to_gallery_',
               lambda g: dict(list(g.items())[1:]))
    with pytest.raises(ValueError, match='without a gallery'):
        queries(toy_copy)


def test_ids_that_break_the_conventions(toy_copy):
    _edit_json(toy_copy, 'test_videoid_to_gtimage_',
               lambda gt: {**gt, 'clip-without-uuid': list(gt.values())[0]})
    with pytest.raises(AnnotationError, match='clip-without-uuid'):
        queries(toy_copy)


def test_missing_gallery_image_is_reported_at_build(toy_copy):
    victim = glob.glob(osp.join(toy_copy, 'test_images', '*.jpg'))[0]
    os.remove(victim)
    with pytest.raises(FileNotFoundError, match='1 gallery images'):
        DATASETS.build(
            dict(type='LPR4MGalleryDataset', data_root=toy_copy))


def test_query_with_no_readable_frame_counts_but_stays(toy_copy):
    q = queries(toy_copy)
    info = q.get_data_info(0)
    store = FolderStore(osp.join(toy_copy, 'test_frames'), 'clip')
    for fid in info['frame_ids']:
        os.remove(store.path(fid))
    out = queries(toy_copy)[0]
    assert not out['inputs']['frame_mask'].any()
    assert out['data_samples'].clip_id == info['clip_id']


def test_live_grouped_sampler(toy_copy):
    from lpr.datasets import LiveGroupedSampler
    ds = pairs(toy_copy, pipeline=[])
    lives = np.asarray(ds.live_ids())
    sampler = LiveGroupedSampler(ds, batch_size=8, clips_per_live=4, seed=0)
    idx = list(sampler)
    assert len(idx) == len(sampler) and len(idx) % 8 == 0
    for g in range(0, len(idx), 4):
        assert len(set(lives[idx[g:g + 4]])) == 1, 'one live per group'
    sampler.set_epoch(1)
    assert list(sampler) != idx
    with pytest.raises(ValueError):
        LiveGroupedSampler(ds, batch_size=6, clips_per_live=4)


def _append_line(root, prefix, line):
    path = find_annotation(osp.join(root, 'annotations'), prefix)
    with open(path, 'a', encoding='utf-8') as f:
        f.write(line + '\n')
    return path


def test_strict_means_the_same_for_queries_gallery_and_pairs(toy_copy):
    """Every LPR4M dataset takes ``strict``: a malformed entry raises naming
    the file (and line), ``strict=False`` skips and counts it."""
    n_queries = len(queries(toy_copy))
    n_gallery = len(DATASETS.build(
        dict(type='LPR4MGalleryDataset', data_root=toy_copy)))
    # One bad GT entry (not an image id), one bad frame URL, one bad title.
    gt_path = _edit_json(toy_copy, 'test_videoid_to_gtimage_', lambda gt: {
        **gt, next(iter(gt)): ['not-an-image-id']})
    url_path = _append_line(toy_copy, 'test_frame_url_',
                            'https://x.invalid/not-a-frame-id.jpg')
    title_path = _append_line(toy_copy, 'test_image_title_',
                              'not-an-image-id\tsome title')
    with pytest.raises(AnnotationError, match='not-an-image-id') as err:
        queries(toy_copy, strict=True)
    assert err.value.path == gt_path
    with pytest.raises(AnnotationError) as err:
        DATASETS.build(dict(type='LPR4MGalleryDataset', data_root=toy_copy))
    with open(title_path, encoding='utf-8') as f:
        n_lines = sum(1 for _ in f)
    assert (err.value.path, err.value.line) == (title_path, n_lines)
    assert str(err.value).startswith(f'{title_path}:{n_lines}: ')
    q = queries(toy_copy, strict=False)
    assert len(q) == n_queries - 1
    assert q.parse_report.skipped == 2  # the GT entry and the URL line
    assert q.parse_report.messages[0].startswith(gt_path)
    assert q.parse_report.messages[1].startswith(url_path + ':')
    g = DATASETS.build(dict(type='LPR4MGalleryDataset', data_root=toy_copy,
                            strict=False))
    assert len(g) == n_gallery and g.parse_report.skipped == 1
    # The training pairs read the same flag.
    assert len(pairs(toy_copy, strict=False)) > 0


def test_box_file_under_data_root_or_working_directory(toy_copy, tmp_path,
                                                       monkeypatch):
    gtbox = find_annotation(osp.join(toy_copy, 'annotations'),
                            'test_frameid2gtbox_')
    with open(gtbox) as f:
        boxes = json.load(f)
    frame = next(iter(boxes))
    cwd = tmp_path / 'cwd'
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    # Relative to the working directory (as tools/test.py --out-boxes
    # writes it) ...
    in_cwd = {frame: [[0.1, 0.2, 0.3, 0.4]]}
    (cwd / 'boxes.json').write_text(json.dumps(in_cwd))
    q = queries(toy_copy, box_file='boxes.json')
    assert q.box_file == str(cwd / 'boxes.json')
    # ... or under data_root, which wins when both exist.
    with open(osp.join(toy_copy, 'boxes.json'), 'w') as f:
        json.dump({frame: [[0.5, 0.5, 0.75, 1.0]]}, f)
    q = queries(toy_copy, box_file='boxes.json')
    assert q.box_file == osp.join(toy_copy, 'boxes.json')
    info = next(q.get_data_info(i) for i in range(len(q))
                if frame in q.get_data_info(i)['frame_ids'])
    at = info['frame_ids'].index(frame)
    assert info['frame_boxes'][at] == [[0.5, 0.5, 0.75, 1.0]]
    with pytest.raises(FileNotFoundError) as err:
        queries(toy_copy, box_file='nowhere.json')
    msg = str(err.value)
    assert osp.join(toy_copy, 'nowhere.json') in msg
    assert str(cwd / 'nowhere.json') in msg
    assert 'under data_root' in msg and 'working directory' in msg
    # An absolute path is taken as it is.
    q = queries(toy_copy, box_file=str(cwd / 'boxes.json'))
    assert q.box_file == str(cwd / 'boxes.json')
    with pytest.raises(FileNotFoundError, match='nowhere.json not found'):
        queries(toy_copy, box_file=str(cwd / 'nowhere.json'))
