"""LPR4M intended-product boxes as COCO / CocoVID annotation files, so
mmdet's ``CocoDataset`` (single-frame detector) and ``BaseVideoDataset``
(multi-frame detector, with ``TrackDataSample`` outputs) read them directly
and ``CocoMetric`` evaluates them.

Each image entry is a frame and carries its clip (``video_id``, ``clip_id``,
``frame_id`` = position in the clip) and the clip's diversity types
(``product_scale``, ``visible_duration``, ``product_number``), so metrics can
split by them. Each annotation is one intended-product box with
``instance_id`` = the clip (one product per clip).

* training: the frames of the training videoinfo rows, at most 10 evenly
  spaced per clip (how LPR4M's detection training subset was drawn), one
  box per frame; frames without the product are kept with no box;
* test: every test frame (frame URL list), with all its GT boxes.

Categories: one class ``intended product`` (``num_classes=1``), or the
product categories with the ids and names of the training videoinfo rows
(``category id`` and ``category name`` columns). The official test files
carry no category, so the test set of the release is built with one class
and detectors trained on categories are evaluated class-agnostically (the
paper's intended-product AP); only a set that gives each test clip a
category (the toy set's ``test_videoid_to_diversity`` file) can be built
with categories.

Split types (each file records its sources in ``info['split_sources']``):

* training: the type columns of the videoinfo rows;
* test, product scale and visible duration: derived from
  ``test_frameid2gtbox`` with the rules of the official analysis
  (:mod:`lpr.datasets.diversity`) over the clip's frames in the file;
* test, number of products: defined from *detected* boxes (mean boxes per
  frame), so it needs a detector's full output: a box file
  ``{frame_id: [boxes]}`` with every box above a score
  (``tools/test.py ... --out-boxes F --boxes-per-frame 0
  --box-score-thr T``), given as ``product_number_boxes``. Without one the
  type comes from a ``test_videoid_to_diversity`` file when there is one
  (the toy set's), otherwise it is left out and its split cells are empty.

Boxes in either encoding (see :mod:`lpr.datasets.boxes`) are normalised to
the frame (pixel boxes by the frame's original size) and written in pixels
of the stored frame that mmdet reads (its own width and height). Frames are
read from folders or img2dataset shards. A frame that cannot be opened
(missing, not an image, truncated) is left out and counted; more than
``max_drop_ratio`` of a split's frames is an error.
"""
import glob
import json
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..utils.progress import track_iter_progress
from .annotations import (find_annotation, load_box_file,
                          load_diversity, load_frame_boxes)
from .boxes import normalise_boxes
from .categories import load_categories
from .clip_index import ClipIndex
from .diversity import (product_number_type, product_scale_type,
                        visible_duration_type)
from .drops import MAX_DROP_RATIO, FileDrops, check_drops
from .errors import AnnotationError
from .frame_store import StoreCfg, build_store, probe_image
from .ids import parse_frame_id
from .lpr4m import DIVERSITY_KEYS, _frames_from_url_list

ONE_CLASS = 'intended product'
TRAIN_GLOB = 'annotations/training_videoinfo_full_part_*.txt'
#: The class-agnostic test file every config evaluates on the release.
TEST_1CLS = 'annotations/lpr_det_test_1cls.json'
#: The config that trains on categories and evaluates class-agnostically.
CATEGORY_CONFIG = 'configs/ipd/dab-detr_r50_8xb8-20e_lpr4m.py'
_FILE_RE = re.compile(r'lpr_det_(train|test)_(\d+)cls\.json$')


def det_file(split: str, num_classes: int) -> str:
    """The COCO file of a split, relative to the data root."""
    return f'annotations/lpr_det_{split}_{num_classes}cls.json'


def missing_file_message(path: str) -> str:
    """What to do when a config's COCO file is missing: the converter
    command, or (a test file with categories, which the release cannot
    give) the class-agnostic file and config to use instead."""
    m = _FILE_RE.search(osp.basename(path))
    if m is None:
        return f'{path} not found'
    split, n = m.group(1), int(m.group(2))
    root = osp.dirname(osp.dirname(path)) or '.'
    tool = 'python tools/dataset_converters/lpr4m_to_coco.py'
    if split == 'test' and n != 1:
        return (f'{path} not found. The LPR4M release\'s test files carry no '
                f'product category, so a {n}-class test file cannot be built '
                f'from them: evaluate class-agnostically on {TEST_1CLS} '
                f'(IntendedProductMetric(class_agnostic=True), as '
                f'{CATEGORY_CONFIG} does; write it with {tool} {root} '
                f'--splits test)')
    if split == 'test':
        return f'{path} not found: write it with {tool} {root} --splits test'
    return (f'{path} not found: write it with {tool} {root} --classes {n} '
            f'--splits train')


def coco_categories(num_classes: int,
                    names: Optional[Dict[int, str]] = None) -> List[dict]:
    """COCO ``categories``: one ``intended product`` class, or the product
    categories (COCO id = LPR4M category id + 1, ``lpr4m_id`` kept)."""
    if num_classes == 1:
        return [dict(id=1, name=ONE_CLASS)]
    return [
        dict(id=cid + 1, name=name, lpr4m_id=cid)
        for cid, name in sorted((names or {}).items())
    ]


def _check_num_categories(names: Dict[int, str], num_classes: int,
                          source: str) -> None:
    if len(names) > num_classes:
        raise AnnotationError(
            source, None, f'{len(names)} product categories, more than '
            f'num_classes={num_classes}: set --classes / num_classes to '
            f'{len(names)} (and the config\'s num_classes), or use one class')


class _Builder:

    def __init__(self,
                 num_classes: int,
                 root: str,
                 frame_store: StoreCfg,
                 categories: Optional[Dict[int, str]] = None):
        self.num_classes = num_classes
        self.categories = categories or {}
        self.root = root
        self.store = build_store(frame_store, root)
        self.frames = FileDrops(getattr(self.store, 'root', str(self.store)),
                                'frames')
        self.images: List[dict] = []
        self.annotations: List[dict] = []
        self.videos: List[dict] = []

    def _read_frames(self, frame_ids: Sequence[str],
                     frame_boxes: Sequence[Sequence[Sequence[float]]],
                     box_format: str) -> List[tuple]:
        """(position, frame id, path, stored size, normalised boxes) of the
        frames that can be opened; the others are counted as dropped."""
        frames = []
        for pos, (fid, boxes) in enumerate(zip(frame_ids, frame_boxes)):
            self.frames.total += 1
            path = self.store.path(fid)
            size, reason = probe_image(
                None if path is None else self.store.get(fid))
            if size is None:
                self.frames.drop(
                    None, f'frame {fid} ({path or "not in the store"}): '
                    f'{reason}')
                continue
            original = self.store.size(fid) if box_format == 'pixel' \
                else None
            frames.append((pos, fid, path, size,
                           normalise_boxes(boxes, original, box_format)))
        return frames

    def add_clip(self,
                 clip_id: str,
                 frame_ids: List[str],
                 frame_boxes: List[List[List[float]]],
                 box_format: str,
                 category: Optional[int],
                 types: Dict[str, str],
                 derive_types: bool = False,
                 frame_counts: Optional[Sequence[int]] = None) -> None:
        """Add a clip's readable frames and their boxes.

        Args:
            clip_id: the clip.
            frame_ids: (T,) its frames in order.
            frame_boxes: (T,) lists of boxes in ``box_format``.
            box_format: ``'pixel'`` or ``'normalised'``.
            category: the LPR4M category id (ignored with one class).
            types: split types given by the annotation files.
            derive_types: derive product scale and visible duration from
                the boxes of the readable frames.
            frame_counts: (T,) detected boxes per frame: derive the number
                of products from those of the readable frames.
        """
        frames = self._read_frames(frame_ids, frame_boxes, box_format)
        types = dict(types)
        if frames and derive_types:
            boxes = [f[4] for f in frames]
            types['product_scale'] = product_scale_type(boxes)
            types['visible_duration'] = visible_duration_type(boxes)
        if frames and frame_counts is not None:
            types['product_number'] = product_number_type(
                [frame_counts[f[0]] for f in frames])
        video_id = len(self.videos) + 1
        self.videos.append(dict(id=video_id, name=clip_id, **types))
        label = 1 if self.num_classes == 1 else int(category) + 1
        for pos, fid, path, (width, height), boxes in frames:
            # width, height: the stored frame, which mmdet reads.
            image_id = len(self.images) + 1
            self.images.append(
                dict(
                    id=image_id,
                    file_name=osp.relpath(path, self.root),
                    width=width,
                    height=height,
                    video_id=video_id,
                    frame_id=pos,
                    frame_name=fid,
                    clip_id=clip_id,
                    **types))
            for x1, y1, x2, y2 in boxes:
                w, h = (x2 - x1) * width, (y2 - y1) * height
                self.annotations.append(
                    dict(
                        id=len(self.annotations) + 1,
                        image_id=image_id,
                        category_id=label,
                        bbox=[x1 * width, y1 * height, w, h],
                        area=w * h,
                        iscrowd=0,
                        instance_id=video_id))

    def check(self, max_drop_ratio: float) -> None:
        check_drops(
            self.frames,
            max_drop_ratio,
            option='max_drop_ratio={0} (--max-drop-ratio {0} in '
            'lpr4m_to_coco.py)')

    def dump(self, path: str,
             split_sources: Dict[str, str]) -> Dict[str, int]:
        with open(path, 'w', encoding='utf-8') as f:
            json.dump(
                dict(
                    info=dict(
                        description='LPR4M intended products',
                        split_sources=split_sources),
                    categories=coco_categories(self.num_classes,
                                               self.categories),
                    videos=self.videos,
                    images=self.images,
                    annotations=self.annotations),
                f,
                ensure_ascii=False)
        return dict(
            clips=len(self.videos),
            frames=len(self.images),
            boxes=len(self.annotations),
            frames_unreadable=self.frames.dropped)


def _store(frame_store: Optional[StoreCfg], frame_dir: str) -> StoreCfg:
    if frame_store is None:
        return dict(type='folder', root=frame_dir, layout='clip')
    return frame_store


def convert_training(data_root: str,
                     out_file: str,
                     num_classes: int = 34,
                     frames_per_clip: int = 10,
                     ann_glob: str = TRAIN_GLOB,
                     frame_dir: str = 'training_frames',
                     frame_store: Optional[StoreCfg] = None,
                     box_format: str = 'auto',
                     max_drop_ratio: float = MAX_DROP_RATIO) -> Dict[str, int]:
    """COCO/CocoVID file of the training frames (≤10 per clip).

    Args:
        data_root: the dataset root.
        out_file: the COCO file to write.
        num_classes: 1, or the most categories the detector has (34 for
            LPR4M); the categories are those the videoinfo rows name.
        frames_per_clip: frames kept per clip (official chunk rule).
        ann_glob: the videoinfo files, relative to ``data_root``.
        frame_dir: the frame folder (``<clip_id>/<frame_id>.jpg``).
        frame_store: a store config instead of ``frame_dir`` (e.g.
            ``dict(type='shards', root='training_frames')``).
        box_format: ``'auto'``, ``'pixel'`` or ``'normalised'``.
        max_drop_ratio: share of the rows, boxes or frames that may be
            dropped before it is an error.

    Returns:
        dict: counts of clips, frames, boxes and unreadable frames.

    Raises:
        AnnotationError: malformed files, too much dropped, or more
            categories than ``num_classes``.
    """
    pattern = osp.join(data_root, ann_glob)
    index = ClipIndex.from_files(
        pattern,
        max_frames=frames_per_clip,
        max_drop_ratio=max_drop_ratio,
        box_format=box_format)
    names = None
    if num_classes != 1:
        names = load_categories(
            pattern, ids=np.unique(index.arrays['category']))
        _check_num_categories(names, num_classes, pattern)
    builder = _Builder(num_classes, data_root,
                       _store(frame_store, frame_dir), names)
    for i in track_iter_progress(
            range(len(index)), desc='COCO training frames', unit='clips'):
        info = index[i]
        builder.add_clip(
            info['clip_id'], info['frame_ids'], info['frame_boxes'],
            info['box_format'], info['category_id'], {
                k: info[k]
                for k in DIVERSITY_KEYS.values() if info.get(k)
            })
    builder.check(max_drop_ratio)
    source = 'training videoinfo type columns'
    return builder.dump(out_file, {k: source for k in DIVERSITY_KEYS.values()})


def _frame_counts(path: str, frames: set) -> Dict[str, int]:
    """Boxes per frame of a detector's box file, checked to be about the
    test frames."""
    boxes = load_frame_boxes(path)
    if boxes and not frames & boxes.keys():
        raise AnnotationError(
            path, None, f'none of its {len(boxes)} frames is a test frame: '
            'give the box file of a detector run on the test split')
    return {
        fid: sum(1 for b in frame_boxes if any(b))
        for fid, frame_boxes in boxes.items()
    }


def convert_test(data_root: str,
                 out_file: str,
                 num_classes: int = 1,
                 ann_dir: str = 'annotations',
                 frame_dir: str = 'test_frames',
                 frame_store: Optional[StoreCfg] = None,
                 box_format: str = 'auto',
                 max_drop_ratio: float = MAX_DROP_RATIO,
                 product_number_boxes: Optional[str] = None,
                 train_ann_glob: str = TRAIN_GLOB) -> Dict[str, int]:
    """COCO/CocoVID file of every test frame with its GT boxes.

    Args:
        data_root, out_file, frame_dir, frame_store, box_format,
            max_drop_ratio: as :func:`convert_training`.
        num_classes: 1 (the release), or the categories of the training
            videoinfo (needs a category per test clip, which only the toy
            set gives).
        ann_dir: the annotation folder, relative to ``data_root``.
        product_number_boxes: a detector's box file (every box above a
            score per frame) from which the number-of-products type is
            derived.
        train_ann_glob: the training videoinfo files that name the
            categories (``num_classes`` > 1 only).

    Returns:
        dict: counts of clips, frames, boxes and unreadable frames.

    Raises:
        AnnotationError: malformed files, too much dropped, a box file not
            about the test frames, or categories the test files lack.
    """
    ann = osp.join(data_root, ann_dir)
    boxes, box_fmt, _ = load_box_file(
        find_annotation(ann, 'test_frameid2gtbox_'),
        box_format,
        max_drop_ratio=max_drop_ratio)
    url_list = find_annotation(ann, 'test_frame_url_')
    clips = _frames_from_url_list(url_list)
    extra: Dict[str, dict] = {}
    div_files = glob.glob(osp.join(ann, 'test_videoid_to_diversity_*'))
    if div_files:
        extra = load_diversity(div_files[0])
    names = None
    if num_classes != 1:
        missing = [c for c in clips if 'category_id' not in extra.get(c, {})]
        if missing:
            raise AnnotationError(
                url_list, None, f'{len(missing)} of {len(clips)} test clips '
                f'have no product category (e.g. {missing[0]}; the LPR4M '
                'test files carry none): write the test split with one '
                f'class ({det_file("test", 1)}, lpr4m_to_coco.py '
                '--test-classes 1) and evaluate class-agnostically, as '
                f'{CATEGORY_CONFIG} does')
        pattern = osp.join(data_root, train_ann_glob)
        names = load_categories(pattern)
        _check_num_categories(names, num_classes, pattern)
        unnamed = sorted({int(extra[c]['category_id'])
                          for c in clips} - names.keys())
        if unnamed:
            raise AnnotationError(
                div_files[0], None, f'test categories {unnamed} are not '
                f'among the training categories of {pattern}: the detector '
                'has no class for them; build the test split with one class')
    counts = None
    if product_number_boxes is not None:
        counts = _frame_counts(product_number_boxes,
                               {f for fs in clips.values() for f in fs})
    builder = _Builder(num_classes, data_root,
                       _store(frame_store, frame_dir), names)
    for clip_id, frame_ids in track_iter_progress(
            clips.items(), desc='COCO test frames', unit='clips'):
        frame_ids = sorted(frame_ids, key=lambda f: parse_frame_id(f)[1])
        info = extra.get(clip_id, {})
        types = {}
        if counts is None and 'num_products' in info:
            types['product_number'] = info['num_products']
        builder.add_clip(
            clip_id,
            frame_ids, [boxes.get(f, []) for f in frame_ids],
            box_fmt,
            info.get('category_id'),
            types,
            derive_types=True,
            frame_counts=None if counts is None else
            [counts.get(f, 0) for f in frame_ids])
    builder.check(max_drop_ratio)
    if counts is not None:
        number = f'detector boxes per frame ({product_number_boxes})'
    elif any('num_products' in extra.get(c, {}) for c in clips):
        number = osp.basename(div_files[0])
    else:
        number = 'none (give a detector box file: product_number_boxes)'
    return builder.dump(
        out_file,
        dict(
            product_scale='test_frameid2gtbox: mean normalised GT box area',
            visible_duration='test_frameid2gtbox: share of frames with a '
            'GT box',
            product_number=number))
