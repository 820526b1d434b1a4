"""Bad input, tried at random: the toy ``tests`` preset corrupted in many
ways (hypothesis draws which file, row, column, bytes and values), then
read by every dataset that uses the corrupted file, every sample decoded.

Each case must end in one of two ways:

* an error that names what is broken: an ``AnnotationError`` (the file and,
  for line files, ``file:line``) or a ``ValueError``/``FileNotFoundError``
  whose message holds the file name (or the id of the broken frame or
  image), raised by the plugin's own code (the last frame of the traceback
  is in ``lpr``), not from deep inside a library;
* a counted skip: the loaders' skip counters (``lpr.datasets.transforms.
  loading.SKIPPED``) went up, or a warning names the file or item.

Anything else (a library traceback, an error that does not say where, or
a run that loses data without a trace) fails. ``hypothesis`` runs a few
examples of every kind of corruption by default and many more with
``-m slow``; ``--hypothesis-show-statistics`` shows how each kind ended.
"""
import glob
import json
import logging
import os
import os.path as osp
import re
import shutil
import tempfile
import traceback
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from mmengine.logging import MMLogger
from mmpretrain.registry import DATASETS

import lpr
from lpr.datasets.transforms import loading

LPR_DIR = osp.dirname(osp.abspath(lpr.__file__))
ANN = 'annotations'
SHARD_NAMES = dict(
    train_frames='training_frame_url_full_',
    train_images='training_image_url_full_',
    test_frames='test_frame_url_',
    test_images='test_image_url_')
# Bytes that are not UTF-8 (a lone continuation byte, an invalid start
# byte, a truncated 3-byte sequence, an overlong encoding).
BAD_UTF8 = [b'\x80', b'\xff\xfe', b'\xe4\xbd', b'\xc0\xaf', b'\xed\xa0\x80']
# Not a list of frame ids / of boxes.
BAD_LISTS = [
    '', '[', '["abc"', 'null', '{}', '42', '"text"', '[1, 2]', '[[0.1, 0.2]]',
    '[["a", "b", "c", "d"]]', '[null]', 'not json at all', '[]'
]
WRONG_VALUES = [1, 2.5, 'text', None, True, {}, {'a': 1}, [1, 2], [[1, 2]],
                ['not-a-uuid']]


# --------------------------------------------------------------- the data
def _shard_root(root: str, key: str) -> str:
    return glob.glob(osp.join(root, 'shards', SHARD_NAMES[key] + '*'))[0]


def _ann(root: str, prefix: str) -> List[str]:
    return sorted(glob.glob(osp.join(root, ANN, prefix + '*')))


def _stores(root: str, shards: bool) -> dict:
    if not shards:
        return dict(pair={}, query={}, gallery={})
    rel = {k: osp.relpath(_shard_root(root, k), root) for k in SHARD_NAMES}
    return dict(
        pair=dict(
            frame_store=dict(type='shards', root=rel['train_frames']),
            image_store=dict(type='shards', root=rel['train_images'])),
        query=dict(frame_store=dict(type='shards', root=rel['test_frames'])),
        gallery=dict(image_store=dict(type='shards', root=rel['test_images'])))


def read_all(root: str, areas, strict: bool, shards: bool) -> None:
    """Build the datasets of ``areas`` (``'train'``, ``'test'``) on
    ``root`` and decode every sample (every listed frame: no sampling)."""
    stores = _stores(root, shards)
    if 'train' in areas:
        ds = DATASETS.build(
            dict(
                type='LPR4MPairDataset',
                data_root=root,
                index_dir=False,
                index_workers=1,
                strict=strict,
                pipeline=[
                    dict(type='LoadClipFrames'),
                    dict(type='LoadShopImage')
                ],
                **stores['pair']))
        for i in range(len(ds)):
            ds.get_data_info(i)  # every clip, even those a refetch skips
            ds[i]
    if 'test' in areas:
        for kind, pipeline in (
                ('LPR4MQueryDataset', [dict(type='LoadClipFrames',
                                            on_empty='keep')]),
                ('LPR4MGalleryDataset', [dict(type='LoadShopImage')])):
            ds = DATASETS.build(
                dict(
                    type=kind,
                    data_root=root,
                    strict=strict,
                    pipeline=pipeline,
                    serialize_data=False,  # no gc.collect() per case
                    **stores['query' if 'Query' in kind else 'gallery']))
            for i in range(len(ds)):
                ds[i]


@dataclass
class Reference:
    """Ids the clean toy set uses (what corruptions aim at)."""
    train_frames: List[str] = field(repr=False)
    train_images: List[str] = field(repr=False)
    test_frames: List[str] = field(repr=False)
    test_images: List[str] = field(repr=False)
    query_frames: Dict[str, List[str]] = field(repr=False)


def reference_of(root: str) -> Reference:
    pair = DATASETS.build(
        dict(type='LPR4MPairDataset', data_root=root, index_dir=False,
             index_workers=1))
    query = DATASETS.build(
        dict(type='LPR4MQueryDataset', data_root=root,
             serialize_data=False))
    gallery = DATASETS.build(
        dict(type='LPR4MGalleryDataset', data_root=root,
             serialize_data=False))
    infos = [pair.get_data_info(i) for i in range(len(pair))]
    qinfos = [query.get_data_info(i) for i in range(len(query))]
    return Reference(
        train_frames=sorted({f for d in infos for f in d['frame_ids']}),
        train_images=sorted({d['image_id'] for d in infos}),
        test_frames=sorted({f for d in qinfos for f in d['frame_ids']}),
        test_images=sorted({
            gallery.get_data_info(i)['image_id']
            for i in range(len(gallery))
        }),
        query_frames={d['clip_id']: d['frame_ids'] for d in qinfos})


# ---------------------------------------------------------- the mutations
@dataclass
class Case:
    """What a mutation broke: names an error must mention (any of them),
    the 1-based line of a line file when one line was broken, and the
    areas (datasets) that read it."""
    names: List[str]
    areas: tuple
    line: Optional[int] = None
    shards: bool = False
    note: str = ''
    files: List[str] = field(default_factory=list)


def _lines(path: str) -> List[bytes]:
    with open(path, 'rb') as f:
        return f.read().splitlines(keepends=True)


def _write(path: str, data: bytes) -> None:
    with open(path, 'wb') as f:
        f.write(data)


def _insert(text: bytes, draw, what: bytes) -> bytes:
    pos = draw(st.integers(0, len(text)), label='byte position')
    return text[:pos] + what + text[pos:]


def _tsv_case(root, draw, edit: Callable, note: str) -> Case:
    path = draw(st.sampled_from(_ann(root, 'training_videoinfo_full_part_')),
                label='videoinfo file')
    lines = _lines(path)
    r = draw(st.integers(0, len(lines) - 1), label='row')
    cols = lines[r].rstrip(b'\r\n').split(b'\t')
    lines, line = edit(lines, r, cols, draw)
    _write(path, b''.join(lines))
    return Case([osp.basename(path)], ('train', ), line=line, note=note)


def tsv_few_columns(root, draw):
    def edit(lines, r, cols, draw):
        k = draw(st.integers(1, 7), label='columns kept')
        lines[r] = b'\t'.join(cols[:k]) + b'\n'
        return lines, r + 1

    return _tsv_case(root, draw, edit, 'row cut to < 8 columns')


def tsv_merged_rows(root, draw):
    def edit(lines, r, cols, draw):
        if r == len(lines) - 1:
            r -= 1
        lines[r] = lines[r].rstrip(b'\r\n') + draw(
            st.sampled_from([b'', b'\t', b' ']), label='joint')
        return lines, r + 1

    return _tsv_case(root, draw, edit, 'newline lost: two rows in one')


def _replace_col(index: int, values):
    def edit(lines, r, cols, draw):
        cols[index] = draw(values, label=f'column {index}')
        lines[r] = b'\t'.join(cols) + b'\n'
        return lines, r + 1

    return edit


def tsv_bad_frame_json(root, draw):
    values = st.sampled_from(BAD_LISTS).map(str.encode) | st.text(
        max_size=30).map(str.encode)
    return _tsv_case(root, draw, _replace_col(1, values), 'frame list')


def tsv_bad_box_json(root, draw):
    values = st.sampled_from(BAD_LISTS).map(str.encode) | st.text(
        max_size=30).map(str.encode)
    return _tsv_case(root, draw, _replace_col(2, values), 'box list')


def tsv_bad_box_values(root, draw):
    def edit(lines, r, cols, draw):
        boxes = json.loads(cols[2])
        k = draw(st.integers(0, len(boxes) - 1), label='box')
        boxes[k] = draw(
            st.sampled_from([[float('nan')] * 4, [0.5, 0.5, 0.4, 0.9],
                             [0.1, 0.2, 0.1, 0.2], [-5.0, -5.0, -1.0, -1.0],
                             [0.1, 0.2, 0.3], [0.1, 0.2, 0.3, 0.4, 0.5],
                             ['a', 0.2, 0.3, 0.4], [float('inf'), 0, 1, 1]]),
            label='box')
        cols[2] = json.dumps(boxes).encode()
        lines[r] = b'\t'.join(cols) + b'\n'
        return lines, r + 1

    return _tsv_case(root, draw, edit, 'box values')


def tsv_non_utf8(root, draw):
    def edit(lines, r, cols, draw):
        c = draw(st.integers(0, len(cols) - 1), label='column')
        cols[c] = _insert(cols[c], draw, draw(st.sampled_from(BAD_UTF8)))
        lines[r] = b'\t'.join(cols) + b'\n'
        return lines, r + 1

    return _tsv_case(root, draw, edit, 'non-UTF-8 bytes')


def tsv_truncated_file(root, draw):
    path = draw(st.sampled_from(_ann(root, 'training_videoinfo_full_part_')),
                label='videoinfo file')
    with open(path, 'rb') as f:
        data = f.read()
    # Inside a line (a cut at a line end leaves a valid, shorter file).
    cuts = [i for i in range(1, len(data))
            if data[i - 1:i] != b'\n' and data[i:i + 1] != b'\n']
    cut = draw(st.sampled_from(cuts), label='cut at byte')
    _write(path, data[:cut])
    return Case([osp.basename(path)], ('train', ),
                line=data[:cut].count(b'\n') + 1, note='file cut short')


def _line_file_case(root, draw, prefix: str, edit, note: str) -> Case:
    path = _ann(root, prefix)[0]
    lines = _lines(path)
    r = draw(st.integers(0, len(lines) - 1), label='line')
    lines[r] = edit(lines[r], draw)
    _write(path, b''.join(lines))
    return Case([osp.basename(path)], ('test', ), line=r + 1, note=note)


def text_file_non_utf8(root, draw):
    prefix = draw(st.sampled_from(['test_videoid_asr_', 'test_image_title_',
                                   'test_frame_url_']), label='file')
    return _line_file_case(
        root, draw, prefix,
        lambda line, draw: _insert(line.rstrip(b'\n'), draw,
                                   draw(st.sampled_from(BAD_UTF8))) + b'\n',
        'non-UTF-8 bytes')


def text_file_bad_id(root, draw):
    prefix = draw(st.sampled_from(['test_videoid_asr_', 'test_image_title_',
                                   'test_frame_url_']), label='file')

    def edit(line, draw):
        # No line breaks (Python's splitlines() breaks on more than \n).
        junk = draw(st.text(st.characters(exclude_categories=('Cc', 'Cs',
                                                             'Zl', 'Zp')),
                            min_size=1, max_size=20).filter(str.strip),
                    label='id')
        _, sep, rest = line.partition(b'\t')
        return junk.encode() + sep + (rest if sep else b'\n')

    return _line_file_case(root, draw, prefix, edit, 'bad id')


JSON_FILES = dict(
    gt='test_videoid_to_gtimage_',
    gallery='test_liveid_to_gallery_',
    boxes='test_frameid2gtbox_',
    diversity='test_videoid_to_diversity_')


def _json_case(root, draw, edit, note) -> Case:
    key = draw(st.sampled_from(sorted(JSON_FILES)), label='json file')
    path = _ann(root, JSON_FILES[key])[0]
    with open(path, 'rb') as f:
        data = f.read()
    _write(path, edit(key, data, draw))
    return Case([osp.basename(path)], ('test', ), note=f'{key}: {note}')


def json_wrong_entry_type(root, draw):
    def edit(key, data, draw):
        obj = json.loads(data)
        k = draw(st.sampled_from(sorted(obj)), label='entry')
        bad = WRONG_VALUES
        if key == 'diversity':  # {} (no types) is valid there
            bad = [v for v in bad if v != {}] + [
                {'scale': 'huge'}, {'category_id': 'x'}, {'duration': 3}]
        if key == 'boxes':
            bad = [v for v in bad if v != []]
        obj[k] = draw(st.sampled_from(bad), label='value')
        return json.dumps(obj).encode()

    return _json_case(root, draw, edit, 'entry of a wrong type')


def json_wrong_top_level(root, draw):
    def edit(key, data, draw):
        value = draw(st.sampled_from([[], [1, 2], 'text', 3, None,
                                      list(json.loads(data).items())[:2]]),
                     label='document')
        return json.dumps(value).encode()

    return _json_case(root, draw, edit, 'not an object')


def json_syntax(root, draw):
    def edit(key, data, draw):
        how = draw(st.sampled_from(['cut', 'garbage']), label='how')
        if how == 'cut':
            return data[:draw(st.integers(0, len(data) - 2), label='cut')]
        return _insert(data, draw, draw(st.sampled_from(
            [b'}', b'{', b',,', b'\x00', b'nope'])))

    return _json_case(root, draw, edit, 'syntax')


def json_non_utf8(root, draw):
    return _json_case(
        root, draw,
        lambda key, data, draw: _insert(data, draw,
                                        draw(st.sampled_from(BAD_UTF8))),
        'non-UTF-8 bytes')


def empty_gallery(root, draw):
    path = _ann(root, JSON_FILES['gallery'])[0]
    with open(path) as f:
        gallery = json.load(f)
    how = draw(st.sampled_from(['one live', 'all']), label='emptied')
    if how == 'all':
        gallery = {}
    else:
        gallery[draw(st.sampled_from(sorted(gallery)), label='live')] = []
    _write(path, json.dumps(gallery).encode())
    return Case([osp.basename(path)], ('test', ), note=f'empty: {how}')


# Images: an item the datasets use, broken in one of several ways.
ITEM_AREAS = dict(
    train_frames=('training_frames', 'clip', 'train'),
    train_images=('training_images', 'flat', 'train'),
    test_frames=('test_frames', 'clip', 'test'),
    test_images=('test_images', 'flat', 'test'))


def _break_jpeg(path: str, how: str, draw) -> None:
    if how == 'missing':
        os.remove(path)
        return
    with open(path, 'rb') as f:
        data = f.read()
    if how == 'zero bytes':
        data = b''
    elif how == 'truncated':
        data = data[:draw(st.integers(1, len(data) - 3), label='kept bytes')]
    elif how == 'garbage':
        data = draw(st.binary(min_size=1, max_size=64), label='bytes')
    elif how == 'header only':
        data = data[:data.find(b'\xff\xda')]  # no scan data
    _write(path, data)


JPEG_BREAKS = ['missing', 'zero bytes', 'truncated', 'garbage', 'header only']


def _folder_path(root, kind, item):
    folder, layout, _ = ITEM_AREAS[kind]
    if layout == 'clip':
        return osp.join(root, folder, item.rsplit('-', 1)[0], item + '.jpg')
    return osp.join(root, folder, item + '.jpg')


def broken_jpeg(root, draw, ref: Reference):
    kind = draw(st.sampled_from(sorted(ITEM_AREAS)), label='item kind')
    item = draw(st.sampled_from(getattr(ref, kind)), label='item')
    how = draw(st.sampled_from(JPEG_BREAKS), label='how')
    _break_jpeg(_folder_path(root, kind, item), how, draw)
    return Case([item], (ITEM_AREAS[kind][2], ), note=f'{kind}: {how}')


def query_without_readable_frame(root, draw, ref: Reference):
    clip = draw(st.sampled_from(sorted(ref.query_frames)), label='query')
    for fid in ref.query_frames[clip]:
        _break_jpeg(_folder_path(root, 'test_frames', fid),
                    draw(st.sampled_from(JPEG_BREAKS), label='how'), draw)
    return Case([clip] + ref.query_frames[clip], ('test', ),
                note='every frame of a query')


def _shard_item(root, kind, item):
    """The JSON path of ``item`` in its img2dataset shard."""
    for path in glob.glob(osp.join(_shard_root(root, kind), '*', '*.json')):
        with open(path) as f:
            if f'/{item}.jpg' in json.load(f)['url']:
                return path
    raise AssertionError(item)


def shard_member(root, draw, ref: Reference):
    kind = draw(st.sampled_from(sorted(ITEM_AREAS)), label='item kind')
    item = draw(st.sampled_from(getattr(ref, kind)), label='item')
    meta = _shard_item(root, kind, item)
    how = draw(
        st.sampled_from([
            'jpg missing', 'json missing', 'json syntax', 'json not object',
            'json without url', 'download failed', 'jpg truncated',
            'jpg zero bytes'
        ]),
        label='how')
    jpg = meta[:-5] + '.jpg'
    if how == 'jpg missing':
        os.remove(jpg)
    elif how == 'json missing':
        os.remove(meta)
    elif how.startswith('jpg '):
        _break_jpeg(jpg, how.split(' ', 1)[1], draw)
    else:
        with open(meta) as f:
            obj = json.load(f)
        if how == 'json syntax':
            text = json.dumps(obj)[:-1]
        elif how == 'json not object':
            text = json.dumps([obj])
        elif how == 'json without url':
            obj.pop('url')
            text = json.dumps(obj)
        else:
            obj.update(status='failed_to_download', error_message='timeout')
            text = json.dumps(obj)
        _write(meta, text.encode())
    return Case([item, osp.basename(meta),
                 osp.relpath(meta, _shard_root(root, kind))],
                (ITEM_AREAS[kind][2], ),
                shards=True,
                note=f'{kind}: {how}')


KINDS = dict(
    tsv_few_columns=tsv_few_columns,
    tsv_merged_rows=tsv_merged_rows,
    tsv_bad_frame_json=tsv_bad_frame_json,
    tsv_bad_box_json=tsv_bad_box_json,
    tsv_bad_box_values=tsv_bad_box_values,
    tsv_non_utf8=tsv_non_utf8,
    tsv_truncated_file=tsv_truncated_file,
    text_file_non_utf8=text_file_non_utf8,
    text_file_bad_id=text_file_bad_id,
    json_wrong_entry_type=json_wrong_entry_type,
    json_wrong_top_level=json_wrong_top_level,
    json_syntax=json_syntax,
    json_non_utf8=json_non_utf8,
    empty_gallery=empty_gallery,
    broken_jpeg=broken_jpeg,
    query_without_readable_frame=query_without_readable_frame,
    shard_member=shard_member,
)
NEEDS_REF = {'broken_jpeg', 'query_without_readable_frame', 'shard_member'}


# ------------------------------------------------------------ the verdict
class _Records(logging.Handler):

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: List[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def judge(case: Case, run: Callable[[], None]) -> str:
    """Run the loaders and return ``'error'`` or ``'counted skip'``;
    fail with the reason otherwise."""
    logger = MMLogger.get_current_instance()
    records = _Records()
    logger.addHandler(records)
    skipped_before = sum(loading.SKIPPED.values())
    try:
        run()
    except Exception as e:  # noqa: BLE001 - judged below
        tb = traceback.extract_tb(e.__traceback__)
        where = tb[-1].filename if tb else '?'
        detail = (f'{case.note}: {type(e).__name__}: {e}\n' +
                  ''.join(traceback.format_exception(e))[-3000:])
        assert isinstance(e, (ValueError, FileNotFoundError)), \
            f'not a clear error type; {detail}'
        assert where.startswith(LPR_DIR), \
            f'raised inside a library ({where}); {detail}'
        msg = str(e)
        assert any(n in msg for n in case.names), \
            f'the error names none of {case.names}; {detail}'
        if case.line is not None and not case.shards:
            assert re.search(re.escape(case.names[0]) + r':\d+', msg), \
                f'the error does not give the line; {detail}'
        return 'error'
    finally:
        logger.removeHandler(records)
    skipped = sum(loading.SKIPPED.values()) - skipped_before
    named = [m for m in records.messages if any(n in m for n in case.names)]
    assert skipped or named, (
        f'{case.note}: read without an error, a counted skip or a warning '
        f'naming {case.names} (a silent loss); warnings: '
        f'{records.messages[:5]}')
    return 'counted skip'


# -------------------------------------------------------------- the tests
@pytest.fixture(scope='module')
def clean(toy_root, tmp_path_factory):
    """A clean copy (no cached indexes) and the ids it uses."""
    root = str(tmp_path_factory.mktemp('fuzz_clean') / 'toy')
    shutil.copytree(toy_root, root, ignore=shutil.ignore_patterns(
        'lpr_clip_index_*', 'lpr_shard_index*'))
    return root, reference_of(root)


def fuzz_one(clean, kind, data, strict):
    src, ref = clean
    work = tempfile.mkdtemp(prefix='lpr_fuzz_')
    try:
        root = osp.join(work, 'toy')
        shutil.copytree(src, root, ignore=shutil.ignore_patterns(
            'lpr_clip_index_*', 'lpr_shard_index*'))
        args = (ref, ) if kind in NEEDS_REF else ()
        case = KINDS[kind](root, data.draw, *args)
        outcome = judge(
            case,
            lambda: read_all(root, case.areas, strict, case.shards))
        event(f'{kind}: {outcome}')
    finally:
        shutil.rmtree(work, ignore_errors=True)


# Reproducible examples, no example database; no shrinking: a failing case
# is reported as drawn (each step of a shrink is a whole case).
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow,
                           HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize('kind', sorted(KINDS))
@settings(FUZZ, max_examples=3)
@given(data=st.data(), strict=st.booleans())
def test_bad_input_is_an_error_or_a_counted_skip(clean, kind, data, strict):
    fuzz_one(clean, kind, data, strict)


@pytest.mark.slow
@pytest.mark.parametrize('kind', sorted(KINDS))
@settings(FUZZ, max_examples=40)
@given(data=st.data(), strict=st.booleans())
def test_bad_input_sweep(clean, kind, data, strict):
    fuzz_one(clean, kind, data, strict)


def test_clean_copy_reads_without_skips(clean):
    """The baseline the verdicts rely on: nothing is skipped or warned
    about on the clean set, on folders and on shards."""
    root, ref = clean
    assert ref.train_frames and ref.test_images and ref.query_frames
    before = sum(loading.SKIPPED.values())
    for shards in (False, True):
        outcome = None
        records = _Records()
        logger = MMLogger.get_current_instance()
        logger.addHandler(records)
        try:
            read_all(root, ('train', 'test'), True, shards)
        finally:
            logger.removeHandler(records)
        outcome = records.messages
        assert outcome == [], outcome
    assert sum(loading.SKIPPED.values()) == before
