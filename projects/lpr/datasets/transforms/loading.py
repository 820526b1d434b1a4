"""Decode clip frames and shop images from a frame store, skipping (and
counting) missing or corrupt files instead of crashing a long job."""
import importlib
import logging
import os.path as osp
from collections import Counter
from typing import Dict, Optional

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log
from mmpretrain.registry import TRANSFORMS

from ..frame_store import is_truncated_jpeg
from .clip_sampling import uniform_indices

# Per-process tallies of what the loaders skipped (each dataloader worker has
# its own; the log lines name the process totals).
SKIPPED: Counter = Counter()


def _decode(data: Optional[bytes], to_rgb: bool):
    """(image, reason): the decoded image or ``None`` with a reason."""
    if data is None:
        return None, 'missing'
    try:
        img = mmcv.imfrombytes(
            data, flag='color', channel_order='rgb' if to_rgb else 'bgr')
    except Exception:  # noqa: BLE001 - any decoder failure is "corrupt"
        img = None
    if img is None or img.size == 0:
        return None, 'corrupt'
    if is_truncated_jpeg(data):  # decoded, with grey where data is missing
        return None, 'truncated'
    return img, None


def _report(kind: str, item: str, clip: Optional[str] = None,
            every: int = 100) -> None:
    SKIPPED[kind] += 1
    count = SKIPPED[kind]
    if count <= 10 or count % every == 0:
        where = f' of clip {clip}' if clip else ''
        print_log(
            f'skipped {kind} file {item}{where} '
            f'({count} {kind} so far in this process)',
            logger='current',
            level=logging.WARNING)


def _empty_clip(results: Dict, name: str, on_empty: str) -> Optional[Dict]:
    """Report a clip without readable frame; drop it (``'skip'``) or keep
    it (``'keep'``)."""
    SKIPPED['clip without readable frame'] += 1
    print_log(
        f'clip {name} has no readable frame; ' +
        ('excluded from this epoch' if on_empty == 'skip' else
         'kept with no frame (counts as a miss)'),
        logger='current',
        level=logging.WARNING)
    return None if on_empty == 'skip' else results


@TRANSFORMS.register_module()
class LoadClipFrames(BaseTransform):
    """Decode the frames of a clip.

    Missing, corrupt and truncated (JPEG without its end marker) frames are
    dropped (with their boxes), counted in
    :data:`SKIPPED` and logged. A clip with no readable frame is reported
    and, with ``on_empty='skip'`` (training), the transform returns ``None``
    so the dataset draws another sample; with ``on_empty='keep'`` (test) the
    clip stays with no frame, so metrics still count it (as a miss).

    Required Keys:

    - frame_ids (list[str])
    - frame_store (a store with ``get(id) -> bytes | None``)

    Modified Keys:

    - frame_ids (only the readable frames)
    - frame_boxes (optional)

    Added Keys:

    - frames (list[np.ndarray]): (H, W, 3) uint8 images
    - frame_shapes (list[tuple]): (H, W) of each frame as decoded
    - num_skipped_frames (int)

    Args:
        to_rgb: decode as RGB instead of OpenMMLab's BGR. Defaults to False.
        on_empty: ``'skip'`` or ``'keep'``. Defaults to ``'skip'``.
    """

    def __init__(self, to_rgb: bool = False, on_empty: str = 'skip') -> None:
        assert on_empty in ('skip', 'keep'), on_empty
        self.to_rgb = to_rgb
        self.on_empty = on_empty

    def transform(self, results: Dict) -> Optional[Dict]:
        store = results['frame_store']
        keep, frames = [], []
        for i, fid in enumerate(results['frame_ids']):
            img, reason = _decode(store.get(fid), self.to_rgb)
            if img is None:
                _report(f'{reason} frame', fid)
                continue
            keep.append(i)
            frames.append(img)
        skipped = len(results['frame_ids']) - len(keep)
        for key in ('frame_ids', 'frame_boxes'):
            if results.get(key) is not None:
                results[key] = [results[key][i] for i in keep]
        results['frames'] = frames
        results['frame_shapes'] = [f.shape[:2] for f in frames]
        results['num_skipped_frames'] = skipped
        if not frames:
            return _empty_clip(results, results.get('clip_id', '?'),
                               self.on_empty)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(to_rgb={self.to_rgb}, '
                f'on_empty={self.on_empty!r})')


@TRANSFORMS.register_module()
class LoadShopImage(BaseTransform):
    """Decode a shop image.

    A missing, corrupt or truncated image is counted and logged; the
    transform then
    returns ``None`` so a training dataset draws another sample (gallery
    datasets check their images when they are built).

    Required Keys:

    - image_id (str)
    - image_store

    Added Keys:

    - img (np.ndarray): (H, W, 3) uint8
    - img_shape, ori_shape (tuple): (H, W)

    Args:
        to_rgb: decode as RGB instead of BGR. Defaults to False.
    """

    def __init__(self, to_rgb: bool = False) -> None:
        self.to_rgb = to_rgb

    def transform(self, results: Dict) -> Optional[Dict]:
        image_id = results['image_id']
        img, reason = _decode(results['image_store'].get(image_id),
                              self.to_rgb)
        if img is None:
            _report(f'{reason} image', image_id)
            return None
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(to_rgb={self.to_rgb})'


# backend: (mmaction2 init transform, decode transform, module, pip package)
_VIDEO_BACKENDS = {
    'opencv': ('OpenCVInit', 'OpenCVDecode', 'cv2', 'opencv-python'),
    'decord': ('DecordInit', 'DecordDecode', 'decord', 'decord'),
    'pyav': ('PyAVInit', 'PyAVDecode', 'av', 'av'),
}


def check_video_backend(backend: str) -> None:
    """Fail early when a video backend is unknown or not installed (each
    video would otherwise be skipped as unreadable).

    Raises:
        ValueError: an unknown backend.
        ImportError: naming the backend and the ``pip install`` command.
    """
    if backend not in _VIDEO_BACKENDS:
        raise ValueError(f'unknown video backend {backend!r}; choose one of '
                         f'{sorted(_VIDEO_BACKENDS)}')
    _, _, module, package = _VIDEO_BACKENDS[backend]
    try:
        importlib.import_module(module)
    except ImportError as e:
        raise ImportError(
            f'the {backend!r} video backend needs the {module!r} module, '
            f'which cannot be imported ({e}): pip install {package} '
            f'(MovingFashion: pip install -r requirements/optional.txt), '
            f'or choose another backend') from None


@TRANSFORMS.register_module()
class LoadVideoFrames(BaseTransform):
    """Decode at most ``num_frames`` frames of a video file with mmaction2's
    decoders (OpenCV, decord or PyAV).

    With ``fps=1`` the video's 1-fps grid is taken first (what
    ``ffmpeg -vf fps=1`` extracts), then the LPR uniform rule picks the
    frames, so decoded videos and pre-extracted frame folders give the same
    frames. An unreadable video is counted and logged and handled like a
    clip without readable frames (see :class:`LoadClipFrames`).

    Required Keys:

    - filename (str): the video path

    Added Keys:

    - frames (list[np.ndarray]), frame_ids (``<video>_<index>``),
      frame_shapes, num_frames, num_skipped_frames

    Args:
        backend: ``'opencv'``, ``'decord'`` or ``'pyav'``; a backend that is
            not installed is an error when the transform is built.
        num_frames: the most frames kept. Defaults to 10.
        rule: uniform rule. Defaults to ``'floor'`` (MovingFashion's).
        fps: rate of the grid frames are picked from; ``None`` uses every
            frame.
        to_rgb: keep RGB (the decoders' order) instead of BGR.
        on_empty: ``'skip'`` (training) or ``'keep'`` (test).
    """

    def __init__(self,
                 backend: str = 'opencv',
                 num_frames: int = 10,
                 rule: str = 'floor',
                 fps: Optional[float] = 1.0,
                 to_rgb: bool = False,
                 on_empty: str = 'skip') -> None:
        from mmaction.registry import TRANSFORMS as ACTION_TRANSFORMS
        check_video_backend(backend)
        if on_empty not in ('skip', 'keep'):
            raise ValueError(f"on_empty must be 'skip' or 'keep', "
                             f'got {on_empty!r}')
        init, decode = _VIDEO_BACKENDS[backend][:2]
        self.init = ACTION_TRANSFORMS.build(dict(type='mmaction.' + init))
        self.decode = ACTION_TRANSFORMS.build(
            dict(type='mmaction.' + decode))
        self.backend = backend
        self.num_frames = num_frames
        self.rule = rule
        self.fps = fps
        self.to_rgb = to_rgb
        self.on_empty = on_empty

    def _video_fps(self, reader) -> float:
        if self.backend == 'opencv':
            return float(reader.fps)
        if self.backend == 'decord':
            return float(reader.get_avg_fps())
        return float(reader.streams.video[0].average_rate)

    def transform(self, results: Dict) -> Optional[Dict]:
        video = results['filename']
        clip = results.get('clip_id') or osp.splitext(osp.basename(video))[0]
        frames, inds = [], []
        try:
            state = self.init(dict(filename=video))
            total = int(state['total_frames'])
            if total > 0:
                if self.fps:
                    step = max(self._video_fps(state['video_reader']) /
                               self.fps, 1.0)
                    grid = np.unique(
                        np.minimum(
                            np.round(np.arange(0, total, step)),
                            total - 1).astype(np.int64))
                else:
                    grid = np.arange(total)
                inds = grid[uniform_indices(len(grid), self.num_frames,
                                            self.rule)]
                state['frame_inds'] = inds
                state = self.decode(state)
                frames = [
                    np.ascontiguousarray(f if self.to_rgb else f[..., ::-1])
                    for f in state['imgs']
                ]
        except Exception as e:  # noqa: BLE001 - unreadable video
            _report('unreadable video', f'{video} ({type(e).__name__})')
            frames = []
        results['frames'] = frames
        results['frame_ids'] = [f'{clip}_{int(i):04d}' for i in inds
                                ][:len(frames)]
        results['frame_shapes'] = [f.shape[:2] for f in frames]
        results['num_frames'] = results.get('num_frames', self.num_frames)
        results['num_skipped_frames'] = 0
        if not frames:
            return _empty_clip(results, video, self.on_empty)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(backend={self.backend!r}, '
                f'num_frames={self.num_frames}, rule={self.rule!r}, '
                f'fps={self.fps})')
