"""Official-format parsers: content-located columns, file:line errors and
the lenient mode."""
import json

import pytest

from lpr.datasets import (AnnotationError, load_gallery, load_gt_images,
                          load_id_text_pairs, load_training_videoinfo,
                          parse_videoinfo_row)

LIVE = '7b601b02-2c63-11ee-bb6d-b8cef60c2fd0'
CLIP = f'{LIVE}-1667916122888-1667916252390'
IMAGE = '0a1b2c3d-0000-1111-2222-333344445555'
FRAMES = json.dumps([f'{CLIP}-0000', f'{CLIP}-0001'])
BOXES = json.dumps([[0.1, 0.2, 0.5, 0.6], [0, 0, 0, 0]])


def row(*fields):
    return '\t'.join(fields) + '\n'


OFFICIAL = row(CLIP, FRAMES, BOXES, IMAGE, 'red dress 新款', '0', '女装',
               '家人们 红色', 'small', 'long', 'few')


def test_official_eleven_fields():
    info = parse_videoinfo_row(OFFICIAL)
    assert info.video_id == CLIP and info.live_id == LIVE
    assert info.frame_ids == [f'{CLIP}-0000', f'{CLIP}-0001']
    assert info.boxes == [[0.1, 0.2, 0.5, 0.6], []]
    assert (info.image_id, info.title, info.category_id,
            info.category_name, info.asr) == (IMAGE, 'red dress 新款', 0, '女装',
                                              '家人们 红色')
    assert (info.scale, info.duration, info.num_products) == ('small',
                                                              'long', 'few')


def test_variants_with_spu_and_image_path_columns():
    # [V0] internal layout: an SPU column between category name and ASR.
    info = parse_videoinfo_row(
        row(CLIP, FRAMES, BOXES, IMAGE, 'title', '3', '鞋靴', 'spu123', 'asr',
            'large', 'short', 'abundant'))
    assert (info.category_id, info.spu_id, info.asr) == (3, 'spu123', 'asr')
    # [MMF] layout: an image path inserted after the image id, no types.
    info = parse_videoinfo_row(
        row(CLIP, FRAMES, BOXES, IMAGE, 'training_image/x.jpg', 'title', '5',
            '包', 'spu', 'some asr'))
    assert info.image_path == 'training_image/x.jpg'
    assert (info.title, info.category_id, info.asr) == ('title', 5,
                                                        'some asr')
    assert info.scale is None


@pytest.mark.parametrize(
    'bad, reason',
    [
        (row(CLIP, FRAMES, BOXES), 'at least 8'),
        (row('not-a-clip', FRAMES, BOXES, IMAGE, 't', '0', 'c', 'a', 'small',
             'long', 'few'), 'clip id'),
        (row(CLIP, '[broken', BOXES, IMAGE, 't', '0', 'c', 'a', 'small',
             'long', 'few'), 'JSON'),
        (row(CLIP, FRAMES, json.dumps([[0, 0, 1, 1]]), IMAGE, 't', '0', 'c',
             'a', 'small', 'long', 'few'), 'one per frame'),
        (row(CLIP, FRAMES, BOXES, 'nope', 't', '0', 'c', 'a', 'small', 'long',
             'few'), 'image id'),
        (row(CLIP, json.dumps([f'{LIVE}-1-2-0000']), json.dumps([[0, 0, 0, 0]]),
             IMAGE, 't', '0', 'c', 'a', 'small', 'long', 'few'),
         'does not belong'),
    ])
def test_malformed_row_names_file_and_line(tmp_path, bad, reason):
    path = tmp_path / 'training_videoinfo_full_part_00.txt'
    path.write_text(OFFICIAL + bad + OFFICIAL, encoding='utf-8')
    with pytest.raises(AnnotationError) as err:
        load_training_videoinfo(str(path))
    assert str(err.value).startswith(f'{path}:2: ')
    assert reason in str(err.value)
    assert err.value.line == 2
    rows, report = load_training_videoinfo(str(path), strict=False)
    assert len(rows) == 2
    assert (report.rows, report.skipped) == (3, 1)
    assert report.messages[0].startswith(f'{path}:2: ')


def test_glob_and_missing_files(tmp_path):
    (tmp_path / 'part_00.txt').write_text(OFFICIAL, encoding='utf-8')
    (tmp_path / 'part_01.txt').write_text(OFFICIAL * 2, encoding='utf-8')
    rows, _ = load_training_videoinfo(str(tmp_path / 'part_*.txt'))
    assert len(rows) == 3
    with pytest.raises(FileNotFoundError):
        load_training_videoinfo(str(tmp_path / 'nothing_*.txt'))


def test_json_and_text_files(tmp_path):
    gt = tmp_path / 'gt.json'
    gt.write_text(json.dumps({CLIP: [IMAGE]}))
    assert load_gt_images(str(gt)) == {CLIP: [IMAGE]}
    gt.write_text(json.dumps({CLIP: []}))
    with pytest.raises(AnnotationError, match='non-empty'):
        load_gt_images(str(gt))
    gt.write_text('{\n"a": [1,\n}')
    with pytest.raises(AnnotationError, match=f'{gt}:3'):
        load_gt_images(str(gt))
    gal = tmp_path / 'gallery.json'
    gal.write_text(json.dumps({CLIP: [IMAGE]}))
    with pytest.raises(AnnotationError, match='live id'):
        load_gallery(str(gal))
    asr = tmp_path / 'asr.txt'
    asr.write_text(f'{CLIP}\thello\n{CLIP}-9\tbad\n{CLIP}\t\n')
    with pytest.raises(AnnotationError, match=f'{asr}:2'):
        load_id_text_pairs(str(asr), 'clip')
    pairs, report = load_id_text_pairs(str(asr), 'clip', strict=False)
    assert pairs == {CLIP: 'hello'}
    assert report.skipped == 2  # the bad id and the duplicate
