"""Parsers for the official LPR4M annotation files.

Every error names the file and the line. Parsers that read rows take
``strict``: with ``strict=True`` (default) the first malformed row raises
:class:`AnnotationError`; with ``strict=False`` malformed rows are skipped and
counted in :attr:`ParseReport.skipped` (with the first few messages kept).

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
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .diversity import DURATION_TYPES, NUMBER_TYPES, SCALE_TYPES
from .ids import check_image_id, is_uuid, parse_clip_id, parse_frame_id

PathOrPaths = Union[str, Sequence[str]]


class AnnotationError(ValueError):
    """A malformed annotation; the message starts with ``file:line``."""

    def __init__(self, path: str, line: Optional[int], message: str):
        self.path = path
        self.line = line
        where = f'{path}:{line}' if line is not None else path
        super().__init__(f'{where}: {message}')


@dataclass
class ParseReport:
    """What a lenient parse skipped, and boxes it repaired."""
    rows: int = 0
    skipped: int = 0
    messages: List[str] = field(default_factory=list)
    boxes_clipped: int = 0
    boxes_dropped: int = 0

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
    """A box as 4 floats; an all-zero box means "no box" and gives []."""
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        raise ValueError(f'{what} {box!r} is not [x1, y1, x2, y2]')
    try:
        values = [float(v) for v in box]
    except (TypeError, ValueError):
        raise ValueError(f'{what} {box!r} has non-numeric values') from None
    if not any(values):
        return []
    return values


def sanitize_boxes(boxes: np.ndarray) -> Tuple[np.ndarray, int, int]:
    """Clip normalised boxes to the frame and drop degenerate ones.

    Args:
        boxes: (N, 4) ``[x1, y1, x2, y2]``; all-zero rows mean "no box".

    Returns:
        tuple: the boxes (clipped to [0, 1]; degenerate ones set to all
        zeros), how many were clipped, how many were dropped.
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    present = boxes.any(axis=1)
    clipped = np.clip(boxes, 0.0, 1.0)
    n_clipped = int((present & (clipped != boxes).any(axis=1)).sum())
    bad = present & ((clipped[:, 2] <= clipped[:, 0]) |
                     (clipped[:, 3] <= clipped[:, 1]))
    clipped[bad] = 0.0
    return clipped, n_clipped, int(bad.sum())


def parse_videoinfo_row(line: str) -> VideoInfo:
    """Parse one training videoinfo row (raises ValueError if malformed)."""
    cols = line.rstrip('\r\n').split('\t')
    if len(cols) < 8:
        raise ValueError(f'expected at least 8 tab-separated fields '
                         f'(11 documented), got {len(cols)}')
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
        strict: bool = True) -> Tuple[List[VideoInfo], ParseReport]:
    """Read the training videoinfo part files.

    Args:
        paths: a file, a glob (``.../training_videoinfo_full_part_*.txt``) or
            a list of them.
        strict: raise on the first malformed row, or skip and count it.

    Returns:
        tuple: the parsed rows and a :class:`ParseReport`.
    """
    report = ParseReport()
    rows: List[VideoInfo] = []
    for path in expand_paths(paths):
        with open(path, encoding='utf-8') as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                report.rows += 1
                try:
                    rows.append(parse_videoinfo_row(line))
                except ValueError as e:
                    err = AnnotationError(path, lineno, str(e))
                    if strict:
                        raise err from None
                    report.add(err)
    return rows, report


def load_id_text_pairs(path: str,
                       id_kind: str,
                       strict: bool = True) -> Tuple[Dict[str, str],
                                                     ParseReport]:
    """Read ``id \\t text`` lines (``test_videoid_asr``, ``test_image_title``).

    ``id_kind`` is ``'clip'`` or ``'image'``; the text may be empty.
    """
    check = {'clip': parse_clip_id, 'image': check_image_id}[id_kind]
    report = ParseReport()
    out: Dict[str, str] = {}
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            report.rows += 1
            key, sep, text = line.rstrip('\r\n').partition('\t')
            try:
                if not sep and not key.strip():
                    raise ValueError('empty row')
                check(key.strip())
                if key.strip() in out:
                    raise ValueError(f'duplicate id {key.strip()!r}')
            except ValueError as e:
                err = AnnotationError(path, lineno, str(e))
                if strict:
                    raise err from None
                report.add(err)
                continue
            out[key.strip()] = text.strip()
    return out, report


def load_json_dict(path: str) -> dict:
    """Load a JSON object; a syntax error names the file and line."""
    with open(path, encoding='utf-8') as f:
        try:
            value = json.load(f)
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


def find_annotation(ann_dir: str, prefix: str) -> str:
    """The single file in ``ann_dir`` whose name starts with ``prefix``
    (official names end with their counts, e.g. ``test_videoid_asr_20079``)."""
    matches = sorted(glob.glob(osp.join(ann_dir, prefix + '*')))
    if len(matches) != 1:
        raise FileNotFoundError(
            f'expected one {prefix}* file in {ann_dir}, found {len(matches)}')
    return matches[0]

