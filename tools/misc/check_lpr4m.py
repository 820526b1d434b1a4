"""Check a downloaded LPR4M release before training or testing on it.

    python tools/misc/check_lpr4m.py data/lpr4m --shards
    python tools/misc/check_lpr4m.py data/toy_lpr4m   # id-named folders
    python tools/misc/check_lpr4m.py data/toy_lpr4m --shards \\
        --train-frames 'shards/training_frame_url_full_*' \\
        --train-images 'shards/training_image_url_full_*' \\
        --test-frames 'shards/test_frame_url_*' \\
        --test-images 'shards/test_image_url_*'

Checks, with the loaders that training and testing use: the annotation files
are present and parse (malformed rows and degenerate boxes counted per file),
each file's box encoding (normalised or pixels of the original frame), pixel
boxes against a sample of their frames' original sizes, and the coverage of
the frames and images the annotations name (from the img2dataset shard
indices with ``--shards``, else from the folders). Missing files are listed
(the first ``--max-list`` and a count). Prints one screen of ``[OK]``,
``[WARN]`` and ``[FAIL]`` lines; the exit status is 1 when training or
testing would fail or lose more than ``--max-drop-ratio`` of a file's rows,
boxes, frames or images, else 0.
"""
import argparse
import glob
import os
import os.path as osp
import sys
from collections import defaultdict
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.logging import MMLogger

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))), 'projects'))

from lpr.datasets.annotations import (find_annotation, load_box_file,  # noqa
                                      load_gallery, load_gt_images,
                                      load_id_text_pairs)
from lpr.datasets.clip_index import ClipIndex  # noqa: E402
from lpr.datasets.frame_store import build_store, probe_image  # noqa: E402
from lpr.datasets.lpr4m import (_frames_from_url_list,  # noqa: E402
                                check_queries_against_gallery)
from lpr.utils import ProgressBar  # noqa: E402

TRAIN_GLOB = 'annotations/training_videoinfo_full_part_*.txt'
TEST_FILES = ('test_videoid_to_gtimage_', 'test_liveid_to_gallery_',
              'test_frameid2gtbox_', 'test_videoid_asr_',
              'test_image_title_', 'test_frame_url_')


class Report:
    """Collects the check lines and the verdict."""

    def __init__(self, max_list: int):
        self.max_list = max_list
        self.lines: List[str] = []
        self.failed = False

    def add(self, status: str, what: str, details: Sequence[str] = ()) -> None:
        self.failed |= status == 'FAIL'
        self.lines.append(f'[{status}]'.ljust(7) + what)
        self.lines.extend('         ' + d for d in details)

    def listing(self, items: Sequence[str]) -> List[str]:
        shown = list(items[:self.max_list])
        if len(items) > len(shown):
            shown.append(f'... and {len(items) - len(shown):,} more '
                         f'({len(items):,} in all)')
        return shown


def _resolve(root: str, path: str) -> str:
    """A path relative to the data root; a glob must match one folder."""
    full = path if osp.isabs(path) else osp.join(root, path)
    if any(c in path for c in '*?['):
        matches = sorted(glob.glob(full))
        if len(matches) != 1:
            raise SystemExit(f'error: {path!r} matches {len(matches)} '
                             f'folders under {root}, expected one')
        return matches[0]
    return full


def _stores(args) -> Dict[str, object]:
    kind = 'shards' if args.shards else 'folder'
    out = {}
    for name, rel, layout in (('train_frames', args.train_frames, 'clip'),
                              ('train_images', args.train_images, 'flat'),
                              ('test_frames', args.test_frames, 'clip'),
                              ('test_images', args.test_images, 'flat')):
        root = _resolve(args.data_root, rel)
        cfg = dict(type=kind, root=root)
        if kind == 'folder':
            cfg['layout'] = layout
        out[name] = cfg
    return out


def _present(what: str, ids: Sequence[str], store) -> List[bool]:
    """Whether each id's file exists: one listing per folder (a clip's
    frames, a shard, the flat image folder) and set lookups, instead of one
    ``stat`` per file."""
    by_folder: Dict[str, List[Tuple[int, str]]] = defaultdict(list)
    for n, item_id in enumerate(ids):
        path = store.path(item_id)
        if path is not None:  # None: not in the shard index
            by_folder[osp.dirname(path)].append((n, osp.basename(path)))
    present = [False] * len(ids)
    if not by_folder:
        return present
    with ProgressBar(len(by_folder), desc=f'{what}: listing folders',
                     unit='folders', file=sys.stderr) as bar:
        for folder, items in by_folder.items():
            try:
                names = set(os.listdir(folder))
            except (FileNotFoundError, NotADirectoryError):
                names = set()  # a clip folder missing entirely
            for n, name in items:
                present[n] = name in names
            bar.update()
    return present


def _coverage(rep: Report, what: str, ids: Sequence[str], store_cfg: dict,
              max_ratio: float, affects: str, fatal_any: bool = False
              ) -> Optional[object]:
    """Check that every id is in its store; FAIL above ``max_ratio``."""
    root = store_cfg['root']
    if not osp.isdir(root):
        rep.add('FAIL', f'{what}: folder {root} not found ({affects})')
        return None
    try:
        store = build_store(store_cfg)
        present = _present(what, ids, store)
    except (OSError, ValueError) as e:
        rep.add('FAIL', f'{what}: cannot read {root}: {e}')
        return None
    missing = [i for i, ok in zip(ids, present) if not ok]
    ratio = len(missing) / max(len(ids), 1)
    head = f'{what}: {len(ids) - len(missing):,} of {len(ids):,} present'
    if not missing:
        rep.add('OK', head + f' in {root}')
        return store
    status = 'FAIL' if fatal_any or ratio > max_ratio else 'WARN'
    tail = (f'; {affects}' if status == 'FAIL' else
            '; the loaders skip and count them')
    rep.add(status, f'{head}, {len(missing):,} missing ({100 * ratio:.2f} %)'
            f' in {root}{tail}', rep.listing(missing))
    return store


def _check_pixel_boxes(rep: Report, what: str,
                       boxes: List[Tuple[str, List[float]]], store,
                       sample: int) -> None:
    """Pixel boxes against their frames' original sizes (a sample)."""
    if store is None or not boxes:
        return
    idx = np.unique(np.linspace(0, len(boxes) - 1, min(sample, len(boxes)),
                                dtype=np.int64))
    outside, checked, no_size = [], 0, 0
    for i in idx:
        fid, box = boxes[i]
        size = store.size(fid)
        if size is None:
            no_size += 1
            continue
        checked += 1
        w, h = size
        if box[2] > w * 1.01 or box[3] > h * 1.01:
            outside.append(f'{fid}: box {box} in a {w}x{h} frame')
    line = (f'{what}: {checked} sampled pixel boxes checked against their '
            f"frames' original size, {len(outside)} reach outside")
    if outside:
        rep.add('WARN', line + ' (clipped when loaded; are these pixels of '
                'the original frame?)', rep.listing(outside))
    else:
        rep.add('OK', line)


def _decode_sample(rep: Report, what: str, ids: Sequence[str], store,
                   sample: int, max_ratio: float) -> None:
    """Open a sample of files fully (truncated downloads, non-images)."""
    if store is None or not ids or sample <= 0:
        return
    idx = np.unique(np.linspace(0, len(ids) - 1, min(sample, len(ids)),
                                dtype=np.int64))
    bad, opened = [], 0
    for i in idx:
        data = store.get(ids[i])
        if data is None:
            continue  # reported as missing
        opened += 1
        size, reason = probe_image(data)
        if size is None:
            bad.append(f'{ids[i]}: {reason}')
    status = 'OK' if not bad else (
        'FAIL' if len(bad) / max(opened, 1) > max_ratio else 'WARN')
    rep.add(status, f'{what}, a sample opened: {opened - len(bad)} of '
            f'{opened} files are whole images', rep.listing(bad))


def _guard(rep: Report, what: str, fn: Callable, *args, **kwargs):
    """Run a loader; a raised error becomes a FAIL line."""
    try:
        return fn(*args, **kwargs)
    except (OSError, ValueError) as e:
        rep.add('FAIL', f'{what}: {e}')
        return None


def check_training(rep: Report, args, stores: dict) -> None:
    paths = sorted(glob.glob(osp.join(args.data_root, args.train_ann)))
    if not paths:
        rep.add('FAIL', f'training annotations: no file matches '
                f'{args.train_ann} (training would fail)')
        return
    index = _guard(
        rep,
        'training annotations',
        ClipIndex.from_files,
        paths,
        max_frames=10,
        strict=False,
        box_format=args.box_format)
    if index is None:
        return
    r = index.report
    too_many = [d for d in r.drops if d.ratio > args.max_drop_ratio]
    formats = defaultdict(int)
    for f in index.box_formats:
        formats[f] += 1
    fmt = ', '.join(f'{k} ({v} files)' for k, v in sorted(formats.items()))
    head = (f'training annotations: {len(paths)} files, {len(index):,} clips'
            f' ({r.skipped:,} rows skipped), '
            f"{int(index.arrays['frame_ptr'][-1]):,} frames (<=10 per clip), "
            f'{r.boxes:,} boxes ({r.boxes_dropped:,} dropped, '
            f'{r.boxes_clipped:,} clipped); boxes: {fmt}')
    details = [
        f'{d.path}: {d.dropped:,} of {d.total:,} {d.kind} dropped; e.g. '
        f'{d.example_text()}' for d in too_many
    ]
    rep.add('FAIL' if too_many else 'OK', head + (
        f'; more than {args.max_drop_ratio} of a file dropped (training '
        'would fail)' if too_many else ''), details)
    a = index.arrays
    frames = [
        f'{index.clip_id(i)}-{int(k):04d}' for i in range(len(index))
        for k in a['frame_idx'][a['frame_ptr'][i]:a['frame_ptr'][i + 1]]
    ]
    store = _coverage(rep, 'training frames', frames, stores['train_frames'],
                      args.max_drop_ratio, 'training would lose them')
    _decode_sample(rep, 'training frames', frames, store, args.decode_sample,
                   args.max_drop_ratio)
    if 'pixel' in index.box_formats:
        pixel_files = {
            n
            for n, f in enumerate(index.box_formats) if f == 'pixel'
        }
        boxes = []
        for i in range(len(index)):
            if int(a['asr_file'][i]) not in pixel_files:
                continue
            lo, hi = int(a['frame_ptr'][i]), int(a['frame_ptr'][i + 1])
            for k, b in zip(a['frame_idx'][lo:hi], a['boxes'][lo:hi]):
                if b.any():
                    boxes.append((f'{index.clip_id(i)}-{int(k):04d}',
                                  [float(v) for v in b]))
        _check_pixel_boxes(rep, 'training boxes', boxes, store,
                           args.size_sample)
    _coverage(rep, 'training images', list(index.images),
              stores['train_images'], args.max_drop_ratio,
              'training would lose their clips')


def check_test(rep: Report, args, stores: dict) -> None:
    ann = osp.join(args.data_root, 'annotations')
    found = {}
    missing = []
    for prefix in TEST_FILES:
        try:
            found[prefix] = find_annotation(ann, prefix)
        except FileNotFoundError as e:
            missing.append(str(e))
    if missing:
        rep.add('FAIL', f'test annotations: {len(missing)} of '
                f'{len(TEST_FILES)} files missing (testing would fail)',
                missing)
        if 'test_videoid_to_gtimage_' not in found:
            return
    gt = _guard(rep, 'test GT images', load_gt_images,
                found['test_videoid_to_gtimage_'])
    gallery = None
    if 'test_liveid_to_gallery_' in found:
        gallery = _guard(rep, 'test gallery', load_gallery,
                         found['test_liveid_to_gallery_'])
    if gt is not None and gallery is not None:
        try:
            check_queries_against_gallery(gt, gallery,
                                          found['test_liveid_to_gallery_'])
        except ValueError as e:
            rep.add('FAIL', f'test queries vs gallery: {e}')
        else:
            n_images = sum(len(v) for v in gallery.values())
            rep.add('OK', f'test annotations: {len(gt):,} queries of '
                    f'{len(gallery)} lives, {n_images:,} gallery images, '
                    'every GT image in its live\'s gallery')
    for prefix, kind in (('test_videoid_asr_', 'clip'),
                         ('test_image_title_', 'image')):
        if prefix in found:
            res = _guard(rep, prefix.rstrip('_'), load_id_text_pairs,
                         found[prefix], kind, strict=False)
            if res is not None:
                d = res[1].drops[0]
                if d.ratio > args.max_drop_ratio:
                    rep.add('FAIL', f'{d.path}: {d.dropped} of {d.total} '
                            'rows malformed (testing would fail)',
                            [d.example_text()])
    boxes = None
    if 'test_frameid2gtbox_' in found:
        res = _guard(rep, 'test GT boxes', load_box_file,
                     found['test_frameid2gtbox_'], args.box_format,
                     strict=False)
        if res is not None:
            boxes, fmt, d = res
            bad = d.ratio > args.max_drop_ratio
            rep.add('FAIL' if bad else 'OK',
                    f'test GT boxes: {d.total - d.dropped:,} boxes of '
                    f'{len(boxes):,} frames, {fmt}, {d.dropped:,} dropped' +
                    (' (testing would fail)' if bad else ''),
                    [d.example_text()] if d.dropped else [])
            if fmt != 'pixel':
                boxes = None
    store = None
    if 'test_frame_url_' in found and gt is not None:
        clips = _guard(rep, 'test frame URL list', _frames_from_url_list,
                       found['test_frame_url_'])
        if clips is not None:
            no_frames = [c for c in gt if not clips.get(c)]
            if no_frames:
                rep.add('WARN', f'{len(no_frames):,} test queries have no '
                        'frame in the URL list (they count as misses)',
                        rep.listing(no_frames))
            frames = sorted(f for c in gt for f in clips.get(c, []))
            store = _coverage(rep, 'test frames', frames,
                              stores['test_frames'], args.max_drop_ratio,
                              'testing would lose them')
            _decode_sample(rep, 'test frames', frames, store,
                           args.decode_sample, args.max_drop_ratio)
    if boxes and store is not None:
        flat = [(f, b) for f, bs in sorted(boxes.items()) for b in bs]
        _check_pixel_boxes(rep, 'test GT boxes', flat, store,
                           args.size_sample)
    if gallery is not None:
        images = [i for ids in gallery.values() for i in ids]
        _coverage(rep, 'test gallery images', images, stores['test_images'],
                  args.max_drop_ratio,
                  'testing would fail: the gallery dataset needs every image',
                  fatal_any=True)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n', 2)[2])
    parser.add_argument('data_root')
    parser.add_argument('--shards', action='store_true',
                        help='frames and images are img2dataset shards '
                        '(else id-named folders)')
    parser.add_argument('--max-list', type=int, default=20,
                        help='missing files listed per check')
    parser.add_argument('--max-drop-ratio', type=float, default=0.01,
                        help='share of a file that may be lost before the '
                        'check fails (the loaders\' default)')
    parser.add_argument('--box-format', default='auto',
                        choices=['auto', 'pixel', 'normalised'])
    parser.add_argument('--train-ann', default=TRAIN_GLOB)
    parser.add_argument('--train-frames', default='training_frames')
    parser.add_argument('--train-images', default='training_images')
    parser.add_argument('--test-frames', default='test_frames')
    parser.add_argument('--test-images', default='test_images')
    parser.add_argument('--size-sample', type=int, default=2000,
                        help='pixel boxes checked against their frame size')
    parser.add_argument('--decode-sample', type=int, default=200,
                        help='frames opened fully, per split')
    parser.add_argument('--skip', nargs='+', default=[],
                        choices=['train', 'test'], help='splits not checked')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not osp.isdir(args.data_root):
        print(f'error: {args.data_root} is not a folder')
        return 1
    # The loaders' per-file warnings are summarised in the report instead.
    if MMLogger.check_instance_created('check_lpr4m'):
        MMLogger.get_instance('check_lpr4m')  # the current logger again
    else:
        MMLogger.get_instance('check_lpr4m', log_level='ERROR')
    rep = Report(args.max_list)
    stores = _stores(args)
    if 'train' not in args.skip:
        check_training(rep, args, stores)
    if 'test' not in args.skip:
        check_test(rep, args, stores)
    kind = 'img2dataset shards' if args.shards else 'folders'
    print(f'LPR4M check of {args.data_root} (frames and images in {kind})')
    print('\n'.join(rep.lines))
    verdict = ('FAIL: fix the [FAIL] lines before training or testing'
               if rep.failed else 'OK: training and testing can read this '
               'release')
    print(verdict)
    return 1 if rep.failed else 0


if __name__ == '__main__':
    sys.exit(main())
