"""A compact, memory-mapped index of LPR4M training clips.

The full training videoinfo has 4,013,617 rows (about 118 frame ids and
boxes each). A list of Python dicts for it would need tens of GB and would be
copied into every dataloader worker. :class:`ClipIndex` keeps the rows as a
few flat numpy arrays instead (ids split into a live table and integer
timestamps, frame ids as 2-byte indices, boxes as float16), builds sample
dicts on demand, and reads the free text (ASR) lazily from the original
files by byte offset. Saved as ``.npy`` files, the index is memory-mapped:
dataloader workers share one copy through the page cache.

Only the frames a model can use are kept: with ``max_frames=10`` the
official rule (the first frame of each of 10 equal chunks) is applied when
the index is built, exactly as the official training file was prepared.
"""
import json
import os
import os.path as osp
import re
from multiprocessing import Pool
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..utils.progress import ProgressBar
from .annotations import (ParseReport, check_last_line, decode_utf8,
                          expand_paths, parse_videoinfo_row)
from .boxes import (check_box_format, clean_boxes, max_coordinate,
                    resolve_box_format)
from .diversity import DURATION_TYPES, NUMBER_TYPES, SCALE_TYPES
from .drops import MAX_DROP_RATIO, FileDrops, check_drops
from .errors import AnnotationError
from .ids import CLIP_RE, UUID_RE
from .transforms.clip_sampling import uniform_indices

INDEX_VERSION = 3
_FRAME_IDX_RE = re.compile(r'-([0-9]{4})(?:\.[a-z]+)?"')
_TYPE_CODES = {
    'scale': {t: i
              for i, t in enumerate(SCALE_TYPES)},
    'duration': {t: i
                 for i, t in enumerate(DURATION_TYPES)},
    'num_products': {t: i
                     for i, t in enumerate(NUMBER_TYPES)},
}
ARRAYS = ('live', 'start_ms', 'end_ms', 'frame_ptr', 'frame_idx', 'boxes',
          'image', 'category', 'types', 'asr_file', 'asr_offset', 'asr_len')


def _select_frames(idx: List[int], boxes: np.ndarray,
                   max_frames: Optional[int]):
    """Keep at most ``max_frames`` frames with the official chunk rule."""
    if max_frames is None:
        return idx, boxes
    keep = uniform_indices(len(idx), max_frames, 'chunk')
    return [idx[i] for i in keep], boxes[keep]


def _parse_row(line: bytes, max_frames: Optional[int]):
    """Fast parse of one documented 11-field row (bytes in, tuple out).

    Raises ValueError with a reason on anything malformed.
    """
    cols = line.rstrip(b'\r\n').split(b'\t')
    if len(cols) != 11:
        return _parse_variant_row(line, max_frames)
    clip = decode_utf8(cols[0], 'the clip id')
    m = CLIP_RE.match(clip)
    if not m:
        raise ValueError(f'{clip!r} is not an LPR4M clip id')
    frames = decode_utf8(cols[1], 'the frame id list')
    if not (frames.startswith('[') and frames.endswith(']')):
        raise ValueError('frame id list is not a JSON list')
    idx = [int(x) for x in _FRAME_IDX_RE.findall(frames)]
    if not idx or len(idx) != frames.count('"') // 2:
        raise ValueError('frame ids do not follow <clip id>-NNNN')
    if frames.count(clip) != len(idx):
        raise ValueError(f'frames that do not belong to {clip!r}')
    raw = cols[2].replace(b'[', b' ').replace(b']', b' ').replace(b',', b' ')
    try:
        boxes = np.array(raw.split(), dtype=np.float32)
    except ValueError:
        raise ValueError('box list has non-numeric values') from None
    if boxes.size != 4 * len(idx):
        raise ValueError(f'{boxes.size // 4} boxes for {len(idx)} frames '
                         '(expected one per frame)')
    idx, boxes = _select_frames(idx, boxes.reshape(-1, 4), max_frames)
    image = decode_utf8(cols[3], 'the image id')
    if not UUID_RE.match(image):
        raise ValueError(f'{image!r} is not an LPR4M image id (a UUID)')
    try:
        category = int(cols[5])
    except ValueError:
        raise ValueError(f'category id {cols[5][:20]!r} is not an integer') \
            from None
    types = []
    for key, col in zip(('scale', 'duration', 'num_products'), cols[8:11]):
        text = decode_utf8(col, f'the {key} type')
        code = _TYPE_CODES[key].get(text.strip())
        if code is None:
            raise ValueError(f'{key} type {text!r} is not one of '
                             f'{tuple(_TYPE_CODES[key])}')
        types.append(code)
    title = decode_utf8(cols[4], 'the title').strip()
    decode_utf8(cols[6], 'the category name')
    decode_utf8(cols[7], 'the ASR')  # read lazily, at sample time
    # Byte span of the ASR field inside the line, for lazy reading.
    asr_start = sum(len(c) + 1 for c in cols[:7])
    return (m.group(1), int(m.group(2)), int(m.group(3)), idx, boxes, image,
            title, category, types, asr_start, len(cols[7]))


def _parse_variant_row(line: bytes, max_frames: Optional[int]):
    """Rows that are not the documented 11 fields (SPU or image-path
    columns): the content-locating parser, converted to the fast tuple."""
    info = parse_videoinfo_row(line.decode('utf-8'))
    m = CLIP_RE.match(info.video_id)
    idx = [int(f[-4:]) for f in info.frame_ids]
    boxes = np.array([b if b else [0.0] * 4 for b in info.boxes], np.float32)
    idx, boxes = _select_frames(idx, boxes, max_frames)
    types = [
        _TYPE_CODES[key].get(getattr(info, key) or '', -1)
        for key in ('scale', 'duration', 'num_products')
    ]
    asr = info.asr.encode('utf-8')
    start = line.rfind(asr) if asr else len(line)
    return (m.group(1), int(m.group(2)), int(m.group(3)), idx, boxes,
            info.image_id, info.title, info.category_id, types, start,
            len(asr))


# Bytes parsed between two progress reports of an in-process parse.
_REPORT_BYTES = 1 << 22


def _parse_file(args: Tuple[int, str, Optional[int], str],
                progress: Optional[ProgressBar] = None) -> Dict:
    """Parse one videoinfo file: rows, the file's box encoding, and what
    was dropped (malformed rows, degenerate boxes) with examples.
    ``progress`` (in-process parsing only) advances by the bytes read."""
    file_no, path, max_frames, box_format = args
    rows_drops = FileDrops(path, 'rows')
    messages: List[str] = []
    parsed, lines = [], []
    max_coord = 0.0
    offset = reported = 0
    fields = 0  # of the row before
    with open(path, 'rb') as f:
        for lineno, line in enumerate(f, 1):
            start = offset
            offset += len(line)
            if progress is not None and offset - reported >= _REPORT_BYTES:
                progress.update(offset - reported)
                reported = offset
            if not line.strip():
                continue
            rows_drops.total += 1
            try:
                check_last_line(line, fields)
                fields = line.count(b'\t') + 1
                row = _parse_row(line, max_frames)
            except (ValueError, UnicodeDecodeError) as e:
                rows_drops.drop(lineno, str(e))
                if len(messages) < 20:
                    messages.append(str(AnnotationError(path, lineno,
                                                        str(e))))
                continue
            max_coord = max(max_coord, max_coordinate(row[4]))
            parsed.append(row[:9] + (row[9], row[10], file_no,
                                     start + row[9]))
            lines.append(lineno)
    if progress is not None and offset > reported:
        progress.update(offset - reported)
    out: Dict = dict(
        rows_drops=rows_drops.to_dict(), messages=messages, error=None)
    try:
        fmt = resolve_box_format(box_format, max_coord, path,
                                 max_coord > 0)
    except AnnotationError as e:  # exceptions with extra args do not pickle
        out['error'] = (path, None, str(e).split(': ', 1)[1])
        return out
    box_drops = FileDrops(path, 'boxes')
    clipped = 0
    for i, (row, lineno) in enumerate(zip(parsed, lines)):
        boxes, n_clip, bad = clean_boxes(row[4], fmt)
        present = np.asarray(row[4]).any(axis=1) | bad
        box_drops.total += int(present.sum())
        clipped += n_clip
        for k in np.flatnonzero(bad):
            fid = f'{row[0]}-{row[1]}-{row[2]}-{row[3][k]:04d}'
            box = [float(f'{v:.6g}') for v in row[4][k]]
            box_drops.drop(
                lineno, f'frame {fid}: box {box} is degenerate or not finite')
        parsed[i] = row[:4] + (boxes, ) + row[5:]
    out.update(
        box_format=fmt,
        boxes_drops=box_drops.to_dict(),
        clipped=clipped,
        # Compact arrays leave the worker, not millions of Python tuples.
        part=ClipIndex._from_rows(parsed, []))
    return out


class ClipIndex:
    """Training clips as flat arrays; ``len()`` and ``[i]`` give sample
    dicts.

    Use :meth:`from_files` to build one from videoinfo files, :meth:`save`
    and :meth:`load` to keep it next to the data.
    """

    def __init__(self, arrays: Dict[str, np.ndarray], lives: List[str],
                 images: List[str], titles: List[str], files: List[str]):
        self.arrays = arrays
        self.lives = lives
        self.images = images
        self.titles = titles
        self.files = files
        self.report = ParseReport()
        # Box encoding of each file ('pixel' or 'normalised').
        self.box_formats = ['normalised'] * len(files)

    # ----------------------------------------------------------- building
    @classmethod
    def from_files(cls,
                   paths,
                   max_frames: Optional[int] = 10,
                   strict: bool = True,
                   workers: int = 1,
                   max_drop_ratio: float = MAX_DROP_RATIO,
                   box_format: str = 'auto') -> 'ClipIndex':
        """Parse videoinfo files (in parallel over files).

        Malformed rows and degenerate boxes are dropped and counted per
        file; more than ``max_drop_ratio`` of a file's rows or boxes is an
        error (:class:`~lpr.datasets.drops.TooManyDropped`) unless
        ``strict=False``; fewer are logged once per file. Boxes are kept in
        their file's encoding (``box_formats``); samples carry it as
        ``box_format``.

        Args:
            paths: a file, a glob or a list of them.
            max_frames: frames kept per clip with the official chunk rule;
                ``None`` keeps every frame.
            strict: whether too many drops raise.
            workers: parsing processes.
            max_drop_ratio: share of a file's rows (or boxes) that may be
                dropped.
            box_format: ``'auto'`` (per file), ``'pixel'`` or
                ``'normalised'``.
        """
        check_box_format(box_format)
        files = [osp.abspath(p) for p in expand_paths(paths)]
        tasks = [(i, p, max_frames, box_format) for i, p in enumerate(files)]
        sizes = [osp.getsize(p) for p in files]
        bar = ProgressBar(
            sum(sizes),
            desc=f'indexing {len(files)} videoinfo file(s)',
            unit='MB',
            scale=1e-6)
        if workers > 1 and len(files) > 1:
            parts = []
            with Pool(min(workers, len(files))) as pool:
                for part, size in zip(
                        pool.imap(_parse_file, tasks, chunksize=1), sizes):
                    parts.append(part)
                    bar.update(size)
        else:
            parts = [_parse_file(t, bar) for t in tasks]
        bar.finish()
        report = ParseReport()
        for part in parts:
            rows = FileDrops.from_dict(part['rows_drops'])
            report.drops.append(rows)
            check_drops(rows, max_drop_ratio, strict)
            if part['error']:
                raise AnnotationError(*part['error'])
            boxes = FileDrops.from_dict(part['boxes_drops'])
            report.drops.append(boxes)
            check_drops(boxes, max_drop_ratio, strict)
            report.skipped += rows.dropped
            report.messages.extend(part['messages'][:20 -
                                                    len(report.messages)])
            report.boxes_clipped += part['clipped']
            report.boxes_dropped += boxes.dropped
            report.boxes += boxes.total - boxes.dropped
            report.box_formats[rows.path] = part['box_format']
        index = cls._merge([part['part'] for part in parts], files)
        index.box_formats = [report.box_formats[p] for p in files]
        report.rows = len(index) + report.skipped
        index.report = report
        return index

    @classmethod
    def _merge(cls, parts: List['ClipIndex'], files: List[str]) -> 'ClipIndex':
        """Concatenate per-file indexes, unifying the live/image tables."""
        lives: Dict[str, int] = {}
        images: Dict[str, int] = {}
        titles: List[str] = []
        chunks: Dict[str, list] = {k: [] for k in ARRAYS}
        frame_base = 0
        for part in parts:
            a = part.arrays
            live_map = np.array(
                [lives.setdefault(x, len(lives)) for x in part.lives],
                np.int32)
            image_map = []
            for img, title in zip(part.images, part.titles):
                if img not in images:
                    images[img] = len(images)
                    titles.append(title)
                image_map.append(images[img])
            image_map = np.array(image_map, np.int32)
            for k in ARRAYS:
                v = a[k]
                if k == 'live':
                    v = live_map[v] if len(v) else v
                elif k == 'image':
                    v = image_map[v] if len(v) else v
                elif k == 'frame_ptr':
                    v = v[:-1] + frame_base
                chunks[k].append(v)
            frame_base += int(a['frame_ptr'][-1])
        arrays = {k: np.concatenate(v) if v else np.empty(0)
                  for k, v in chunks.items()}
        arrays['frame_ptr'] = np.append(arrays['frame_ptr'].astype(np.int64),
                                        frame_base)
        return cls(arrays, list(lives), list(images), titles, files)

    @classmethod
    def _from_rows(cls, rows: Sequence[tuple], files: List[str]) -> 'ClipIndex':
        n = len(rows)
        live_ids: Dict[str, int] = {}
        image_ids: Dict[str, int] = {}
        titles: List[str] = []
        live = np.empty(n, np.int32)
        start = np.empty(n, np.int64)
        end = np.empty(n, np.int64)
        image = np.empty(n, np.int32)
        category = np.empty(n, np.int16)
        types = np.empty((n, 3), np.int8)
        asr_file = np.empty(n, np.uint16)
        asr_offset = np.empty(n, np.int64)
        asr_len = np.empty(n, np.int32)
        counts = np.empty(n, np.int64)
        for i, r in enumerate(rows):
            (lid, s, e, idx, _, img, title, cat, typ, _, alen, fno,
             aoff) = r
            live[i] = live_ids.setdefault(lid, len(live_ids))
            if img not in image_ids:
                image_ids[img] = len(image_ids)
                titles.append(title)
            image[i] = image_ids[img]
            start[i], end[i], category[i] = s, e, cat
            types[i] = typ
            asr_file[i], asr_offset[i], asr_len[i] = fno, aoff, alen
            counts[i] = len(idx)
        frame_ptr = np.zeros(n + 1, np.int64)
        np.cumsum(counts, out=frame_ptr[1:])
        frame_idx = np.empty(frame_ptr[-1], np.int16)
        boxes = np.empty((frame_ptr[-1], 4), np.float16)
        for i, r in enumerate(rows):
            frame_idx[frame_ptr[i]:frame_ptr[i + 1]] = r[3]
            boxes[frame_ptr[i]:frame_ptr[i + 1]] = r[4]
        arrays = dict(
            live=live,
            start_ms=start,
            end_ms=end,
            frame_ptr=frame_ptr,
            frame_idx=frame_idx,
            boxes=boxes,
            image=image,
            category=category,
            types=types,
            asr_file=asr_file,
            asr_offset=asr_offset,
            asr_len=asr_len)
        return cls(arrays, list(live_ids), list(image_ids), titles, files)

    # ------------------------------------------------------------ storage
    def save(self, path: str) -> None:
        """Write the index to the folder ``path`` (atomically)."""
        tmp = f'{path}.tmp{os.getpid()}'
        os.makedirs(tmp, exist_ok=True)
        for key in ARRAYS:
            np.save(osp.join(tmp, key + '.npy'), self.arrays[key])
        with open(osp.join(tmp, 'tables.json'), 'w', encoding='utf-8') as f:
            json.dump(
                dict(
                    version=INDEX_VERSION,
                    lives=self.lives,
                    images=self.images,
                    titles=self.titles,
                    files=self.files,
                    file_sizes=[osp.getsize(p) for p in self.files],
                    rows=self.report.rows,
                    skipped=self.report.skipped,
                    messages=self.report.messages,
                    boxes_clipped=self.report.boxes_clipped,
                    boxes_dropped=self.report.boxes_dropped,
                    boxes=self.report.boxes,
                    box_formats=self.box_formats,
                    drops=[d.to_dict() for d in self.report.drops]),
                f,
                ensure_ascii=False)
        if osp.isdir(path):
            import shutil
            shutil.rmtree(path)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str, mmap: bool = True) -> 'ClipIndex':
        with open(osp.join(path, 'tables.json'), encoding='utf-8') as f:
            tables = json.load(f)
        if tables.get('version') != INDEX_VERSION:
            raise ValueError(f'{path}: index version {tables.get("version")}'
                             f' != {INDEX_VERSION}; rebuild it')
        arrays = {
            k: np.load(
                osp.join(path, k + '.npy'), mmap_mode='r' if mmap else None)
            for k in ARRAYS
        }
        index = cls(arrays, tables['lives'], tables['images'],
                    tables['titles'], tables['files'])
        index.report = ParseReport(
            tables['rows'],
            tables['skipped'],
            tables['messages'],
            tables['boxes_clipped'],
            tables['boxes_dropped'],
            tables['boxes'],
            dict(zip(tables['files'], tables['box_formats'])),
            [FileDrops.from_dict(d) for d in tables['drops']])
        index.box_formats = tables['box_formats']
        index.file_sizes = tables['file_sizes']
        return index

    def is_fresh(self) -> bool:
        """Whether the annotation files still have the sizes indexed."""
        sizes = getattr(self, 'file_sizes', None)
        if sizes is None:
            return True
        return all(
            osp.exists(p) and osp.getsize(p) == s
            for p, s in zip(self.files, sizes))

    # ------------------------------------------------------------- access
    def __len__(self) -> int:
        return len(self.arrays['live'])

    def clip_id(self, i: int) -> str:
        a = self.arrays
        return (f"{self.lives[int(a['live'][i])]}-{int(a['start_ms'][i])}-"
                f"{int(a['end_ms'][i])}")

    def _fd(self, file_no: int) -> int:
        """A read-only descriptor of an annotation file, opened once per
        process (``os.pread`` keeps no shared file position, so forked
        dataloader workers may use it too)."""
        fds = getattr(self, '_fds', None)
        if fds is None or fds[0] != os.getpid():
            fds = self._fds = (os.getpid(), {})
        if file_no not in fds[1]:
            fds[1][file_no] = os.open(self.files[file_no], os.O_RDONLY)
        return fds[1][file_no]

    def asr(self, i: int) -> str:
        a = self.arrays
        data = os.pread(
            self._fd(int(a['asr_file'][i])), int(a['asr_len'][i]),
            int(a['asr_offset'][i]))
        return data.decode('utf-8').strip()

    def __getitem__(self, i: int) -> dict:
        """Clip ``i`` as a sample dict; ``frame_boxes`` are in the encoding
        given by ``box_format`` (``'pixel'`` boxes still need the frames'
        original sizes, see :func:`lpr.datasets.boxes.normalise_frame_boxes`).
        """
        a = self.arrays
        clip = self.clip_id(i)
        lo, hi = int(a['frame_ptr'][i]), int(a['frame_ptr'][i + 1])
        boxes = np.asarray(a['boxes'][lo:hi], np.float32)
        image = int(a['image'][i])
        scale, duration, number = (int(t) for t in a['types'][i])
        return dict(
            clip_id=clip,
            live_id=self.lives[int(a['live'][i])],
            frame_ids=[f'{clip}-{int(k):04d}' for k in a['frame_idx'][lo:hi]],
            frame_boxes=[[b.tolist()] if b.any() else [] for b in boxes],
            box_format=self.box_formats[int(a['asr_file'][i])],
            image_id=self.images[image],
            gt_image_ids=[self.images[image]],
            title=self.titles[image],
            category_id=int(a['category'][i]),
            product_scale=SCALE_TYPES[scale] if scale >= 0 else None,
            visible_duration=(DURATION_TYPES[duration]
                              if duration >= 0 else None),
            product_number=NUMBER_TYPES[number] if number >= 0 else None,
            asr=self.asr(i))
