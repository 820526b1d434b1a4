"""Test queries and livestreams of an LPR4M-layout data root (the toy set,
or a download with frames and images in id-named folders), as inputs of
the inference API: a clip's frame folder, its livestream's shop images and
its ground truth."""
import os.path as osp
from typing import Dict, List, NamedTuple, Optional

import numpy as np

from ..datasets import find_annotation, load_gallery, load_gt_images
from ..datasets.ids import parse_clip_id, parse_frame_id
from .inputs import list_images


class LPR4MQuery(NamedTuple):
    """One test query.

    Attributes:
        clip_id: its id.
        live_id: its livestream.
        clip_dir: the folder of its frames.
        gallery: the livestream's shop image files, in the gallery's order.
        gt_image_ids: its ground-truth image ids.
    """
    clip_id: str
    live_id: str
    clip_dir: str
    gallery: List[str]
    gt_image_ids: List[str]


class LPR4MLive(NamedTuple):
    """The test queries of one livestream, played back to back.

    Attributes:
        live_id: its id.
        clip_ids: its test clips, by start time.
        frames: their frame files, clip after clip.
        frame_clips: per frame, its clip id.
        spacing: seconds between two frames of a clip (the frame id's
            offsets; 1 when they cannot be read).
        gallery: the livestream's shop image files.
        gt_image_ids: ``{clip_id: [ground-truth image ids]}``.
    """
    live_id: str
    clip_ids: List[str]
    frames: List[str]
    frame_clips: List[str]
    spacing: float
    gallery: List[str]
    gt_image_ids: Dict[str, List[str]]


def _annotations(data_root: str):
    if not osp.isdir(data_root):
        raise ValueError(f'data root {data_root} does not exist')
    ann = osp.join(data_root, 'annotations')
    try:
        gt = load_gt_images(find_annotation(ann, 'test_videoid_to_gtimage_'))
        galleries = load_gallery(
            find_annotation(ann, 'test_liveid_to_gallery_'))
    except FileNotFoundError as e:
        raise ValueError(f'{data_root} is not an LPR4M data root: {e}') \
            from None
    if not gt:
        raise ValueError(f'{data_root} has no test query')
    return gt, galleries


def _gallery_files(data_root: str, galleries: Dict[str, List[str]],
                   live_id: str) -> List[str]:
    images = galleries.get(live_id) or []
    if not images:
        raise ValueError(f'livestream {live_id} has no gallery in '
                         f'{data_root}')
    files = [osp.join(data_root, 'test_images', f'{i}.jpg') for i in images]
    missing = [f for f in files if not osp.isfile(f)]
    if missing:
        raise ValueError(
            f'{len(missing)} of {len(files)} gallery images of livestream '
            f'{live_id} are missing, e.g. {missing[0]} (these lookups read '
            'test_images/<image_id>.jpg; for shards, give the images)')
    return files


def _clip_dir(data_root: str, clip_id: str) -> str:
    folder = osp.join(data_root, 'test_frames', clip_id)
    if not osp.isdir(folder):
        raise ValueError(f'no frame folder {folder} (these lookups read '
                         'test_frames/<clip_id>/; for shards, give the '
                         'frames)')
    return folder


def load_test_query(data_root: str,
                    clip_id: Optional[str] = None) -> LPR4MQuery:
    """A test query of ``data_root`` (default: the first of the GT file).

    Raises:
        ValueError: the data root, its test annotations, the clip, its
            frames or its gallery's images are missing.
    """
    gt, galleries = _annotations(data_root)
    if clip_id is None:
        clip_id = next(iter(gt))
    elif clip_id not in gt:
        raise ValueError(f'{clip_id} is not a test query of {data_root} '
                         f'(e.g. {next(iter(gt))})')
    live_id = parse_clip_id(clip_id).live_id
    return LPR4MQuery(clip_id, live_id, _clip_dir(data_root, clip_id),
                     _gallery_files(data_root, galleries, live_id),
                     list(gt[clip_id]))


def load_test_live(data_root: str, live_id: Optional[str] = None) -> LPR4MLive:
    """The test queries of a livestream of ``data_root`` (default: that of
    the first query), their frames back to back.

    Raises:
        ValueError: the data root, its test annotations, the livestream,
            its frames or its gallery's images are missing.
    """
    gt, galleries = _annotations(data_root)
    if live_id is None:
        live_id = parse_clip_id(next(iter(gt))).live_id
    clips = sorted((c for c in gt if parse_clip_id(c).live_id == live_id),
                   key=lambda c: parse_clip_id(c).start_ms)
    if not clips:
        raise ValueError(f'{live_id} is not a livestream of the test '
                         f'queries of {data_root}')
    frames, frame_clips, steps = [], [], []
    for clip in clips:
        files = list_images(_clip_dir(data_root, clip))
        frames += files
        frame_clips += [clip] * len(files)
        try:
            offsets = [
                parse_frame_id(osp.splitext(osp.basename(f))[0])[1]
                for f in files
            ]
            steps += np.diff(offsets).tolist()
        except ValueError:
            pass
    spacing = float(np.median(steps)) if steps else 1.0
    return LPR4MLive(live_id, clips, frames, frame_clips,
                    spacing if spacing > 0 else 1.0,
                    _gallery_files(data_root, galleries, live_id),
                    {c: list(gt[c]) for c in clips})


__all__ = ['LPR4MLive', 'LPR4MQuery', 'load_test_live', 'load_test_query']
