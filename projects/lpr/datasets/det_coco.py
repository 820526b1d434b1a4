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

Categories: the clip's product category (34 classes) or one class
``intended product``. The official test files carry no category; the toy
set writes it to its ``test_videoid_to_diversity`` file, otherwise the test
set can only be built with one class.

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
from typing import Dict, List, Optional

from ..utils.progress import track_iter_progress
from .annotations import find_annotation, load_box_file, load_diversity
from .boxes import normalise_boxes
from .clip_index import ClipIndex
from .drops import MAX_DROP_RATIO, FileDrops, check_drops
from .frame_store import StoreCfg, build_store, probe_image
from .ids import parse_frame_id
from .lpr4m import DIVERSITY_KEYS, _frames_from_url_list
from .toy.categories import CATEGORIES

ONE_CLASS = 'intended product'


def categories(num_classes: int) -> List[dict]:
    if num_classes == 1:
        return [dict(id=1, name=ONE_CLASS)]
    assert num_classes == len(CATEGORIES), num_classes
    return [dict(id=c.id + 1, name=c.name_en) for c in CATEGORIES]


class _Builder:

    def __init__(self, num_classes: int, root: str, frame_store: StoreCfg):
        self.num_classes = num_classes
        self.root = root
        self.store = build_store(frame_store, root)
        self.frames = FileDrops(getattr(self.store, 'root', str(self.store)),
                                'frames')
        self.images: List[dict] = []
        self.annotations: List[dict] = []
        self.videos: List[dict] = []

    def add_clip(self, clip_id: str, frame_ids: List[str],
                 frame_boxes: List[List[List[float]]], box_format: str,
                 category: Optional[int], types: Dict[str, str]) -> None:
        video_id = len(self.videos) + 1
        self.videos.append(dict(id=video_id, name=clip_id, **types))
        label = 1 if self.num_classes == 1 else int(category) + 1
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
            width, height = size  # the stored frame, which mmdet reads
            original = self.store.size(fid) if box_format == 'pixel' \
                else None
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
            for x1, y1, x2, y2 in normalise_boxes(boxes, original,
                                                  box_format):
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

    def dump(self, path: str) -> Dict[str, int]:
        with open(path, 'w', encoding='utf-8') as f:
            json.dump(
                dict(
                    info=dict(description='LPR4M intended products'),
                    categories=categories(self.num_classes),
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
                     ann_glob: str = 'annotations/'
                     'training_videoinfo_full_part_*.txt',
                     frame_dir: str = 'training_frames',
                     frame_store: Optional[StoreCfg] = None,
                     box_format: str = 'auto',
                     max_drop_ratio: float = MAX_DROP_RATIO) -> Dict[str, int]:
    """COCO/CocoVID file of the training frames (≤10 per clip).

    Args:
        data_root: the dataset root.
        out_file: the COCO file to write.
        num_classes: 34 (categories) or 1.
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
    """
    index = ClipIndex.from_files(
        osp.join(data_root, ann_glob),
        max_frames=frames_per_clip,
        max_drop_ratio=max_drop_ratio,
        box_format=box_format)
    builder = _Builder(num_classes, data_root,
                       _store(frame_store, frame_dir))
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
    return builder.dump(out_file)


def convert_test(data_root: str,
                 out_file: str,
                 num_classes: int = 1,
                 ann_dir: str = 'annotations',
                 frame_dir: str = 'test_frames',
                 frame_store: Optional[StoreCfg] = None,
                 box_format: str = 'auto',
                 max_drop_ratio: float = MAX_DROP_RATIO) -> Dict[str, int]:
    """COCO/CocoVID file of every test frame with its GT boxes (arguments
    as :func:`convert_training`)."""
    ann = osp.join(data_root, ann_dir)
    boxes, box_fmt, _ = load_box_file(
        find_annotation(ann, 'test_frameid2gtbox_'),
        box_format,
        max_drop_ratio=max_drop_ratio)
    clips = _frames_from_url_list(find_annotation(ann, 'test_frame_url_'))
    extra = {}
    div_files = glob.glob(osp.join(ann, 'test_videoid_to_diversity_*'))
    if div_files:
        extra = load_diversity(div_files[0])
    if num_classes != 1 and not all(
            'category_id' in extra.get(c, {}) for c in clips):
        raise ValueError('the test files carry no category for some clips; '
                         'build the test set with num_classes=1')
    builder = _Builder(num_classes, data_root,
                       _store(frame_store, frame_dir))
    for clip_id, frame_ids in track_iter_progress(
            clips.items(), desc='COCO test frames', unit='clips'):
        frame_ids = sorted(frame_ids, key=lambda f: parse_frame_id(f)[1])
        info = extra.get(clip_id, {})
        types = {
            dst: info[src]
            for src, dst in DIVERSITY_KEYS.items() if src in info
        }
        builder.add_clip(clip_id, frame_ids,
                         [boxes.get(f, []) for f in frame_ids], box_fmt,
                         info.get('category_id'), types)
    builder.check(max_drop_ratio)
    return builder.dump(out_file)
