"""Parsers for the official LPR4M annotation files.

Every error names the file and the line. Parsers that read rows skip and
count malformed rows (:attr:`ParseReport.skipped`, the first few messages
kept); when more than ``max_drop_ratio`` (1 %) of a file's rows are skipped
they raise :class:`~lpr.datasets.drops.TooManyDropped` (an
:class:`AnnotationError` naming the file, the count and three examples),
unless ``strict=False``. Fewer skipped rows are logged once per file.

Training videoinfo rows have 11 documented tab-separated fields::

    video_id  frame_ids  boxes  image_id  image_title  category_id
    category_name  asr  scale_type  duration_type  number_type

The authors' own scripts read variants with an SPU column before the ASR, or
with an image path inserted after the image id, so columns after the image id
are located by content, not by position.
"""
import glob
import json
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .boxes import clean_boxes, max_coordinate, resolve_box_format
from .diversity import DURATION_TYPES, NUMBER_TYPES, SCALE_TYPES
from .drops import MAX_DROP_RATIO, FileDrops, check_drops
from .errors import AnnotationError
from .ids import (FRAME_RE, check_image_id, is_uuid, parse_clip_id,
                  parse_frame_id)

PathOrPaths = Union[str, Sequence[str]]
DOCUMENTED_FIELDS = 11
#: Most fields of a known videoinfo layout (11 documented, plus an SPU and
#: an image path column).
MAX_FIELDS = 13
# The start of a JSON list of frame ids (or frame paths), as in column 2.
_FRAME_LIST_RE = re.compile(r'^\s*\[\s*["\'][^"\']*' + FRAME_RE.pattern[1:-1])


@dataclass
class ParseReport:
    """What a parse read, skipped and repaired.

    ``drops`` holds the per-file counts (rows, boxes) that
    :func:`~lpr.datasets.drops.check_drops` judged; ``box_formats`` the
    encoding of each file's boxes (``'pixel'`` or ``'normalised'``).
    """
    rows: int = 0
    skipped: int = 0
    messages: List[str] = field(default_factory=list)
    boxes_clipped: int = 0
    boxes_dropped: int = 0
    boxes: int = 0
    box_formats: Dict[str, str] = field(default_factory=dict)
    drops: list = field(default_factory=list)

    def add(self, err: AnnotationError, keep: int = 20) -> None:
        self.skipped += 1
        if len(self.messages) < keep:
            self.messages.append(str(err))


@dataclass
class VideoInfo:
    """One training clip of the videoinfo file."""
    video_id: str
    frame_ids: List[str]
    boxes: List[List[float]]  # one per frame; [] when the product is absent
    image_id: str
    title: str
    category_id: int
    category_name: str
    asr: str
    scale: Optional[str] = None
    duration: Optional[str] = None
    num_products: Optional[str] = None
    spu_id: Optional[str] = None
    image_path: Optional[str] = None

    @property
    def live_id(self) -> str:
        return parse_clip_id(self.video_id).live_id


def expand_paths(paths: PathOrPaths) -> List[str]:
    """A path, a glob pattern, or a list of them → sorted existing files."""
    if isinstance(paths, str):
        paths = [paths]
    out: List[str] = []
    for p in paths:
        matches = sorted(glob.glob(p)) if any(c in p for c in '*?[') else [p]
        if not matches:
            raise FileNotFoundError(f'no annotation file matches {p!r}')
        for m in matches:
            if not osp.isfile(m):
                raise FileNotFoundError(f'annotation file {m!r} not found')
            out.append(m)
    return out


def decode_utf8(raw: bytes, what: str = 'the line') -> str:
    """Decode UTF-8; a byte that is not UTF-8 raises ``ValueError`` naming
    it and its position (for callers that add the file and line)."""
    try:
        return raw.decode('utf-8')
    except UnicodeDecodeError as e:
        raise ValueError(f'{what} is not UTF-8 (byte 0x{raw[e.start]:02x} '
                         f'at byte {e.start + 1})') from None


def _json_list(text: str, what: str) -> list:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        # Some exports write Python list literals with single quotes.
        try:
            value = json.loads(text.replace("'", '"'))
        except json.JSONDecodeError as e:
            raise ValueError(f'{what} is not a JSON list ({e.msg})') from None
    if not isinstance(value, list):
        raise ValueError(f'{what} is not a list')
    return value


def _is_int(text: str) -> bool:
    return text.strip().lstrip('-').isdigit()


def parse_box(box, what: str = 'box') -> List[float]:
    """A box as 4 floats; an all-zero box means "no box" (the patch mask
    keeps the whole frame, as in V0) and gives []."""
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        raise ValueError(f'{what} {box!r} is not [x1, y1, x2, y2]')
    try:
        values = [float(v) for v in box]
    except (TypeError, ValueError):
        raise ValueError(f'{what} {box!r} has non-numeric values') from None
    if not any(values):
        return []
    return values


def check_last_line(raw: bytes, fields_before: int) -> None:
    """A file's last line, without a line end, with fewer fields than the
    row before it (than the 11 documented when it is the only row) is the
    end of a file cut short (e.g. an interrupted download): a shorter row
    may still parse as another layout, without its last fields. Raises
    ``ValueError`` for such a line."""
    fields = raw.count(b'\t') + 1
    before = fields_before or DOCUMENTED_FIELDS
    if not raw.endswith(b'\n') and fields < before:
        raise ValueError(
            f'the last line has no line end and {fields} fields, '
            + (f'the row before it {before}' if fields_before else
               f'{before} are documented') + ': the file is cut short')


def parse_videoinfo_row(line: str) -> VideoInfo:
    """Parse one training videoinfo row (raises ValueError if malformed)."""
    cols = line.rstrip('\r\n').split('\t')
    if len(cols) < 8:
        raise ValueError(f'expected at least 8 tab-separated fields '
                         f'(11 documented), got {len(cols)}')
    # Two rows joined by a lost line break: too many fields, or a second
    # frame list among the later ones.
    if len(cols) > MAX_FIELDS:
        raise ValueError(f'{len(cols)} tab-separated fields, more than any '
                         f'known layout has ({MAX_FIELDS}); two rows joined '
                         'by a lost line break?')
    if any(_FRAME_LIST_RE.match(c) for c in cols[3:]):
        raise ValueError('a second frame id list after the boxes; two rows '
                         'joined by a lost line break?')
    video_id = cols[0].strip()
    parse_clip_id(video_id)
    frames = _json_list(cols[1], 'frame id list')
    if not frames:
        raise ValueError('the clip has no frame')
    frame_ids = []
    for f in frames:
        if not isinstance(f, str):
            raise ValueError(f'frame id {f!r} is not a string')
        # Frame lists may hold paths (``.../<frame_id>.jpg``) in derived files.
        fid = osp.splitext(osp.basename(f))[0]
        clip, _ = parse_frame_id(fid)
        if clip != video_id:
            raise ValueError(f'frame {fid!r} does not belong to {video_id!r}')
        frame_ids.append(fid)
    raw_boxes = _json_list(cols[2], 'box list')
    if len(raw_boxes) != len(frame_ids):
        raise ValueError(f'{len(raw_boxes)} boxes for {len(frame_ids)} '
                         'frames (expected one per frame)')
    boxes = [parse_box(b, f'box {i}') for i, b in enumerate(raw_boxes)]
    image_id = check_image_id(cols[3].strip())

    rest = cols[4:]
    types = {}
    for key, vocab in (('num_products', NUMBER_TYPES),
                       ('duration', DURATION_TYPES), ('scale', SCALE_TYPES)):
        if rest and rest[-1].strip() in vocab and len(rest) > 3:
            types[key] = rest.pop().strip()
    image_path = None
    if rest and rest[0].lower().endswith(('.jpg', '.jpeg', '.png')):
        image_path = rest.pop(0)
    # Documented layout: title, category id, ... ; otherwise the first integer.
    if len(rest) > 1 and _is_int(rest[1]):
        cat_pos: Optional[int] = 1
    else:
        cat_pos = next((i for i, c in enumerate(rest) if _is_int(c)), None)
    if cat_pos is None:
        raise ValueError('no integer category id field')
    title = ' '.join(rest[:cat_pos]).strip()
    category_id = int(rest[cat_pos])
    after = rest[cat_pos + 1:]
    if not after:
        raise ValueError('no category name after the category id')
    category_name = after[0].strip()
    asr = after[-1].strip() if len(after) > 1 else ''
    spu = '\t'.join(after[1:-1]).strip() or None if len(after) > 2 else None
    return VideoInfo(
        video_id=video_id,
        frame_ids=frame_ids,
        boxes=boxes,
        image_id=image_id,
        title=title,
        category_id=category_id,
        category_name=category_name,
        asr=asr,
        spu_id=spu,
        image_path=image_path,
        **types)


def load_training_videoinfo(
        paths: PathOrPaths,
        strict: bool = True,
        max_drop_ratio: float = MAX_DROP_RATIO,
        box_format: str = 'auto') -> Tuple[List[VideoInfo], ParseReport]:
    """Read the training videoinfo part files.

    Boxes are returned as read; ``report.box_formats`` gives each file's
    encoding (see :mod:`lpr.datasets.boxes`).

    Args:
        paths: a file, a glob (``.../training_videoinfo_full_part_*.txt``) or
            a list of them.
        strict: raise when more than ``max_drop_ratio`` of a file's rows are
            malformed; ``False`` skips and counts them whatever their share.
        max_drop_ratio: share of a file's rows that may be skipped.
        box_format: ``'auto'``, ``'pixel'`` or ``'normalised'``.

    Returns:
        tuple: the parsed rows and a :class:`ParseReport`.
    """
    report = ParseReport()
    rows: List[VideoInfo] = []
    for path in expand_paths(paths):
        drops = FileDrops(path, 'rows')
        file_rows: List[VideoInfo] = []
        fields = 0  # of the row before
        with open(path, 'rb') as f:
            for lineno, raw in enumerate(f, 1):
                if not raw.strip():
                    continue
                report.rows += 1
                drops.total += 1
                try:
                    check_last_line(raw, fields)
                    fields = raw.count(b'\t') + 1
                    file_rows.append(parse_videoinfo_row(decode_utf8(raw)))
                except ValueError as e:
                    err = AnnotationError(path, lineno, str(e))
                    report.add(err)
                    drops.drop(lineno, str(e))
        report.drops.append(drops)
        check_drops(drops, max_drop_ratio, strict)
        boxes = np.array([b for r in file_rows for b in r.boxes if b],
                         np.float64).reshape(-1, 4)
        report.box_formats[path] = resolve_box_format(
            box_format, max_coordinate(boxes), path, len(boxes) > 0)
        rows.extend(file_rows)
    return rows, report


def load_id_text_pairs(
        path: str,
        id_kind: str,
        strict: bool = True,
        max_drop_ratio: float = MAX_DROP_RATIO
) -> Tuple[Dict[str, str], ParseReport]:
    """Read ``id \\t text`` lines (``test_videoid_asr``, ``test_image_title``).

    ``id_kind`` is ``'clip'`` or ``'image'``; the text may be empty. Rows
    with a bad or duplicate id are skipped and counted; more than
    ``max_drop_ratio`` of them is an error unless ``strict=False``.
    """
    check = {'clip': parse_clip_id, 'image': check_image_id}[id_kind]
    report = ParseReport()
    drops = FileDrops(path, 'rows')
    out: Dict[str, str] = {}
    with open(path, 'rb') as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            report.rows += 1
            drops.total += 1
            try:
                line = decode_utf8(raw)
                key, sep, text = line.rstrip('\r\n').partition('\t')
                if not sep and not key.strip():
                    raise ValueError('empty row')
                check(key.strip())
                if key.strip() in out:
                    raise ValueError(f'duplicate id {key.strip()!r}')
            except ValueError as e:
                report.add(AnnotationError(path, lineno, str(e)))
                drops.drop(lineno, str(e))
                continue
            out[key.strip()] = text.strip()
    report.drops.append(drops)
    check_drops(drops, max_drop_ratio, strict)
    return out, report


def load_json_dict(path: str) -> dict:
    """Load a JSON object; a syntax error names the file and line."""
    with open(path, 'rb') as f:
        data = f.read()
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as e:
        raise AnnotationError(
            path, data.count(b'\n', 0, e.start) + 1,
            f'not UTF-8 (byte 0x{data[e.start]:02x})') from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise AnnotationError(path, e.lineno, e.msg) from None
    if not isinstance(value, dict):
        raise AnnotationError(path, None, 'expected a JSON object at the top')
    return value


def _check_entries(path: str,
                   data: dict,
                   key_check,
                   value_check,
                   strict: bool = True,
                   report: Optional[ParseReport] = None) -> dict:
    """Check every entry of a JSON object file.

    Returns:
        dict: ``data`` (``strict=True``) or its well-formed entries, the
        others counted in ``report`` (``strict=False``).

    Raises:
        AnnotationError: on the first malformed entry (``strict=True``).
    """
    report = report if report is not None else ParseReport()
    kept = {}
    for key, value in data.items():
        report.rows += 1
        try:
            key_check(key)
            value_check(value)
        except ValueError as e:
            err = AnnotationError(path, None, f'entry {key!r}: {e}')
            if strict:
                raise err from None
            report.add(err)
            continue
        kept[key] = value
    return kept


def _image_list(value) -> None:
    if not isinstance(value, list) or not value:
        raise ValueError('expected a non-empty list of image ids')
    for v in value:
        if not isinstance(v, str) or not is_uuid(v):
            raise ValueError(f'{v!r} is not an image id (a UUID)')


def _box_list(value) -> None:
    if not isinstance(value, list):
        raise ValueError('expected a list of boxes')
    for b in value:
        parse_box(b)


def load_gt_images(path: str,
                   strict: bool = True,
                   report: Optional[ParseReport] = None
                   ) -> Dict[str, List[str]]:
    """``test_videoid_to_gtimage``: ``{video_id: [gt image id, ...]}``.

    With ``strict=False`` malformed entries are left out and counted in
    ``report``.
    """
    data = load_json_dict(path)
    return _check_entries(path, data, parse_clip_id, _image_list, strict,
                          report)


def load_gallery(path: str,
                 strict: bool = True,
                 report: Optional[ParseReport] = None
                 ) -> Dict[str, List[str]]:
    """``test_liveid_to_gallery``: ``{live_id: [image id, ...]}``.

    With ``strict=False`` malformed entries are left out and counted in
    ``report``.
    """
    data = load_json_dict(path)

    def live(key):
        if not is_uuid(key):
            raise ValueError('not a live id (a UUID)')

    return _check_entries(path, data, live, _image_list, strict, report)


def load_frame_boxes(path: str,
                     strict: bool = True,
                     report: Optional[ParseReport] = None
                     ) -> Dict[str, List[List[float]]]:
    """``test_frameid2gtbox``: ``{frame_id: [[x1, y1, x2, y2], ...]}``.

    With ``strict=False`` malformed entries are left out and counted in
    ``report``.
    """
    data = load_json_dict(path)
    return _check_entries(path, data, parse_frame_id, _box_list, strict,
                          report)


DIVERSITY_FIELDS = ('scale', 'duration', 'num_products', 'category_id')


def _diversity_entry(value) -> None:
    if not isinstance(value, dict):
        raise ValueError('expected an object of diversity types')
    unknown = set(value) - set(DIVERSITY_FIELDS)
    if unknown:
        raise ValueError(f'unknown fields {sorted(unknown)} (known: '
                         f'{DIVERSITY_FIELDS})')
    for key, vocab in (('scale', SCALE_TYPES), ('duration', DURATION_TYPES),
                       ('num_products', NUMBER_TYPES)):
        if key in value and value[key] not in vocab:
            raise ValueError(f'{key} {value[key]!r} is not one of {vocab}')
    cat = value.get('category_id', 0)
    if not isinstance(cat, int) or isinstance(cat, bool):
        raise ValueError(f'category_id {cat!r} is not an integer')


def load_diversity(path: str) -> Dict[str, dict]:
    """``test_videoid_to_diversity`` (written by the toy generator):
    ``{video_id: {scale, duration, num_products, category_id}}``, each key
    optional."""
    data = load_json_dict(path)
    _check_entries(path, data, parse_clip_id, _diversity_entry)
    return data


def find_annotation(ann_dir: str, prefix: str) -> str:
    """The single file in ``ann_dir`` whose name starts with ``prefix``
    (official names end with their counts, e.g. ``test_videoid_asr_20079``)."""
    matches = sorted(glob.glob(osp.join(ann_dir, prefix + '*')))
    if len(matches) != 1:
        raise FileNotFoundError(
            f'expected one {prefix}* file in {ann_dir}, found {len(matches)}')
    return matches[0]


def load_box_file(
        path: str,
        box_format: str = 'auto',
        max_drop_ratio: float = MAX_DROP_RATIO,
        strict: bool = True) -> Tuple[Dict[str, List[List[float]]], str,
                                      FileDrops]:
    """Read a ``{frame_id: [boxes]}`` file (``test_frameid2gtbox`` or a
    detector's box file) in either encoding.

    Args:
        path: the JSON file.
        box_format: ``'auto'``, ``'pixel'`` or ``'normalised'``.
        max_drop_ratio: share of the boxes that may be dropped as degenerate
            before it is an error.
        strict: ``False`` never raises for dropped boxes.

    Returns:
        tuple: ``{frame_id: [boxes]}`` for every frame of the file, with
        all-zero and dropped boxes left out and the rest kept in the file's
        encoding (clipped at 0), the encoding, and the box counts.

    Raises:
        AnnotationError: a malformed file, a contradicted ``box_format``, or
            (:class:`~lpr.datasets.drops.TooManyDropped`) too many boxes
            dropped.
    """
    data = load_frame_boxes(path)
    flat = [b for boxes in data.values() for b in boxes]
    arr = np.asarray(flat, np.float64).reshape(-1, 4)
    fmt = resolve_box_format(box_format, max_coordinate(arr), path,
                             bool(arr.size and arr.any()))
    drops = FileDrops(path, 'boxes')
    out: Dict[str, List[List[float]]] = {}
    for fid, boxes in data.items():
        raw = np.asarray(boxes, np.float64).reshape(-1, 4)
        fixed, _, bad = clean_boxes(raw, fmt)
        keep = []
        for b, r, is_bad in zip(fixed, raw, bad):
            if not r.any() and not is_bad:
                continue  # all zeros: no box
            drops.total += 1
            if is_bad:
                drops.drop(None, f'frame {fid}: box {json.dumps(r.tolist())}'
                           ' is degenerate or not finite')
            else:
                keep.append([float(v) for v in b])
        out[fid] = keep
    check_drops(drops, max_drop_ratio, strict)
    return out, fmt, drops
