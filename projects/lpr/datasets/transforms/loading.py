"""Decode clip frames and shop images from a frame store, skipping (and
counting) missing or corrupt files instead of crashing a long job."""
import logging
from collections import Counter
from typing import Dict, Optional

import mmcv
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log
from mmpretrain.registry import TRANSFORMS

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


@TRANSFORMS.register_module()
class LoadClipFrames(BaseTransform):
    """Decode the frames of a clip.

    Missing and corrupt frames are dropped (with their boxes), counted in
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
            clip = results.get('clip_id', '?')
            SKIPPED['clip without readable frame'] += 1
            print_log(
                f'clip {clip} has no readable frame; '
                + ('excluded from this epoch' if self.on_empty == 'skip' else
                   'kept with no frame (counts as a miss)'),
                logger='current',
                level=logging.WARNING)
            if self.on_empty == 'skip':
                return None
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(to_rgb={self.to_rgb}, '
                f'on_empty={self.on_empty!r})')


@TRANSFORMS.register_module()
class LoadShopImage(BaseTransform):
    """Decode a shop image.

    A missing or corrupt image is counted and logged; the transform then
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
