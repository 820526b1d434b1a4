"""The bad inputs the fuzz test (test_fuzz_inputs.py) found, one by one:
each is now an error naming the file (and line) or a counted skip."""
import glob
import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest
from mmpretrain.registry import DATASETS

from lpr.datasets import (AnnotationError, ClipIndex, find_annotation,
                          load_training_videoinfo)
from lpr.datasets.annotations import load_diversity, load_id_text_pairs
from lpr.datasets.frame_store import (FolderStore, build_shard_index,
                                      is_truncated_jpeg)
from lpr.datasets.transforms import loading


@pytest.fixture
def toy(toy_root, tmp_path):
    dst = str(tmp_path / 'toy')
    shutil.copytree(toy_root, dst, ignore=shutil.ignore_patterns(
        'lpr_clip_index_*', 'lpr_shard_index*'))
    return dst


def ann(root, prefix):
    return find_annotation(osp.join(root, 'annotations'), prefix)


def part(root):
    return osp.join(root, 'annotations', 'training_videoinfo_full_part_00.txt')


def edit_bytes(path, fn):
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(fn(data))


def test_rows_joined_by_a_lost_line_break(toy):
    path = part(toy)
    edit_bytes(path, lambda d: d.replace(b'\n', b'', 1))
    for read in (lambda: load_training_videoinfo(path),
                 lambda: ClipIndex.from_files(path)):
        with pytest.raises(AnnotationError, match='lost line break') as err:
            read()
        assert str(err.value).startswith(f'{path}:1: ')
    index = ClipIndex.from_files(path, strict=False)
    assert index.report.skipped == 1


def test_file_cut_short_inside_its_last_row(toy):
    path = part(toy)
    with open(path, 'rb') as f:
        lines = f.read().splitlines(keepends=True)
    # Cut before the diversity types: 8 fields, a layout the parser accepts.
    cut = b'\t'.join(lines[-1].split(b'\t')[:8])
    edit_bytes(path, lambda d: b''.join(lines[:-1]) + cut)
    n = len(lines)
    with pytest.raises(AnnotationError, match='cut short') as err:
        ClipIndex.from_files(path)
    assert str(err.value).startswith(f'{osp.abspath(path)}:{n}: ')
    with pytest.raises(AnnotationError, match='cut short'):
        load_training_videoinfo(path)
    rows, report = load_training_videoinfo(path, strict=False)
    assert len(rows) == n - 1 and report.skipped == 1
    # A last row without a line end but complete is kept.
    edit_bytes(path, lambda d: b''.join(lines).rstrip(b'\n'))
    assert len(ClipIndex.from_files(path)) == n


@pytest.mark.parametrize('column', [4, 6, 7])  # title, category name, ASR
def test_videoinfo_text_that_is_not_utf8(toy, column):
    path = part(toy)

    def corrupt(data):
        lines = data.split(b'\n')
        cols = lines[2].split(b'\t')
        cols[column] += b'\xff'
        lines[2] = b'\t'.join(cols)
        return b'\n'.join(lines)

    edit_bytes(path, corrupt)
    for read in (lambda: load_training_videoinfo(path),
                 lambda: ClipIndex.from_files(path)):
        with pytest.raises(AnnotationError, match='not UTF-8') as err:
            read()
        assert f'{path}:3: ' in str(err.value)


@pytest.mark.parametrize('prefix', ['test_videoid_asr_', 'test_image_title_'])
def test_id_text_file_not_utf8(toy, prefix):
    path = ann(toy, prefix)
    edit_bytes(path, lambda d: d.replace(b'\t', b'\t\xc0\xaf', 1))
    kind = 'clip' if 'asr' in prefix else 'image'
    with pytest.raises(AnnotationError, match='not UTF-8') as err:
        load_id_text_pairs(path, kind)
    assert str(err.value).startswith(f'{path}:1: ')
    out, report = load_id_text_pairs(path, kind, strict=False)
    assert report.skipped == 1 and len(out) == report.rows - 1


def test_frame_url_list_not_utf8(toy):
    path = ann(toy, 'test_frame_url_')
    edit_bytes(path, lambda d: b'\x80' + d)
    with pytest.raises(AnnotationError, match='not UTF-8') as err:
        DATASETS.build(dict(type='LPR4MQueryDataset', data_root=toy))
    assert str(err.value).startswith(f'{path}:1: ')


@pytest.mark.parametrize('prefix', [
    'test_videoid_to_gtimage_', 'test_liveid_to_gallery_',
    'test_frameid2gtbox_', 'test_videoid_to_diversity_'
])
def test_json_not_utf8_names_file_and_line(toy, prefix):
    path = ann(toy, prefix)
    edit_bytes(path, lambda d: d.replace(b'\n', b'\n\xe4\xbd', 3))
    with pytest.raises(AnnotationError, match='not UTF-8') as err:
        DATASETS.build(dict(type='LPR4MQueryDataset', data_root=toy))
    assert str(err.value).startswith(f'{path}:2: ')


@pytest.mark.parametrize('value,match', [
    ('text', 'expected an object of diversity types'),
    ({'scale': 'huge'}, "scale 'huge' is not one of"),
    ({'category_id': '3'}, "category_id '3' is not an integer"),
    ({'num_{products': 'few'}, 'unknown fields'),
])
def test_diversity_file_is_checked(toy, value, match):
    path = ann(toy, 'test_videoid_to_diversity_')
    with open(path) as f:
        data = json.load(f)
    first = next(iter(data))
    data[first] = value
    with open(path, 'w') as f:
        json.dump(data, f)
    with pytest.raises(AnnotationError, match=match) as err:
        load_diversity(path)
    assert str(err.value).startswith(path)
    with pytest.raises(AnnotationError, match=match):
        DATASETS.build(dict(type='LPR4MQueryDataset', data_root=toy))
    with open(path, 'w') as f:
        json.dump([1, 2], f)
    with pytest.raises(AnnotationError, match='JSON object'):
        load_diversity(path)


def test_empty_gallery_names_the_gallery_file(toy):
    path = ann(toy, 'test_liveid_to_gallery_')
    with open(path, 'w') as f:
        json.dump({}, f)
    with pytest.raises(ValueError, match='without a gallery') as err:
        DATASETS.build(dict(type='LPR4MQueryDataset', data_root=toy))
    assert str(err.value).startswith(path)


@pytest.mark.parametrize('how', ['truncated', 'garbage', 'missing'])
def test_unreadable_gallery_image_fails_at_build(toy, how):
    victim = sorted(glob.glob(osp.join(toy, 'test_images', '*.jpg')))[0]
    image = osp.splitext(osp.basename(victim))[0]
    if how == 'missing':
        os.remove(victim)
    else:
        edit_bytes(victim, lambda d: d[:len(d) // 2]
                   if how == 'truncated' else b'not a jpeg')
    error = FileNotFoundError if how == 'missing' else ValueError
    with pytest.raises(error, match='1 gallery images') as err:
        DATASETS.build(dict(type='LPR4MGalleryDataset', data_root=toy))
    assert image in str(err.value)
    if how != 'missing':
        assert victim in str(err.value)


def test_truncated_frame_is_a_counted_skip(toy, monkeypatch):
    ds = DATASETS.build(
        dict(type='LPR4MPairDataset', data_root=toy, index_dir=False,
             pipeline=[dict(type='LoadClipFrames')]))
    info = ds.get_data_info(0)
    path = FolderStore(osp.join(toy, 'training_frames'),
                       'clip').path(info['frame_ids'][1])
    with open(path, 'rb') as f:
        data = f.read()
    assert not is_truncated_jpeg(data)
    edit_bytes(path, lambda d: d[:len(d) * 2 // 3])
    before = sum(loading.SKIPPED.values())
    out = ds[0]
    assert sum(loading.SKIPPED.values()) == before + 1
    assert out['frame_ids'] == info['frame_ids'][:1] + info['frame_ids'][2:]
    assert out['num_skipped_frames'] == 1
    # OpenCV here gives up on a truncated JPEG ('corrupt'); decoders that
    # fill the missing rows with grey are caught by the end marker.
    monkeypatch.setattr(loading.mmcv, 'imfrombytes',
                        lambda *a, **k: np.zeros((4, 4, 3), np.uint8))
    assert loading._decode(data, False)[1] is None
    assert loading._decode(data[:-2], False) == (None, 'truncated')
    # Zero padding after the end marker is not truncation.
    assert not is_truncated_jpeg(data + b'\x00' * 8)
    assert not is_truncated_jpeg(b'PNG or anything else')


@pytest.mark.parametrize('content,match', [
    (b'{"url": "x.jpg"', 'not a JSON item description'),
    (b'[1, 2]', 'not a JSON object'),
    (b'{"status": "success"}', 'no url'),
    (b'{"url": "a/b.jpg", "original_width": "wide"}', 'not integers'),
])
def test_broken_shard_json_names_the_file(toy, content, match):
    root = glob.glob(osp.join(toy, 'shards', 'training_image_url_full_*'))[0]
    meta = sorted(glob.glob(osp.join(root, '*', '*.json')))[0]
    with open(meta, 'wb') as f:
        f.write(content)
    with pytest.raises(ValueError, match=match) as err:
        build_shard_index(root)
    assert str(err.value).startswith(meta)
