"""Pack LPR samples for the retriever's data preprocessor."""
from typing import Dict, Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS
from mmpretrain.structures import DataSample

DEFAULT_META_KEYS = ('sample_idx', 'clip_id', 'live_id', 'image_id',
                     'gt_image_ids', 'category_id', 'product_scale',
                     'visible_duration', 'product_number', 'asr', 'title',
                     'num_skipped_frames')


def _to_chw(img: np.ndarray) -> torch.Tensor:
    """(H, W, C) array → (C, H, W) tensor view (no copy)."""
    if img.ndim == 2:
        img = img[..., None]
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)


@TRANSFORMS.register_module()
class PackLPRInputs(BaseTransform):
    """Pack a clip and/or a shop image.

    ``inputs`` is a dict:

    - ``frames``: (T, 3, H, W) uint8, zero-padded to ``T = num_frames``
      (present when the sample has frames; a channels-last view, which
      batching makes contiguous);
    - ``frame_mask``: (T,) bool, True for real frames;
    - ``image``: (3, H, W) uint8 (present when the sample has a shop image).

    ``data_samples`` is an mmpretrain :class:`DataSample` whose metainfo
    carries the ids, GT image ids, category, diversity types and raw text
    (tokenisation belongs to the model), and, in box mode, ``patch_masks``
    (T, L) bool padded with all-True rows.

    Required Keys:

    - frames and num_frames, and/or img

    Args:
        meta_keys: result keys copied into the metainfo when present.
        empty_frame_size: (H, W) of the zero frames of a clip that has no
            readable frame (kept at test time); set it to the input size.
    """

    def __init__(self,
                 meta_keys: Sequence[str] = DEFAULT_META_KEYS,
                 empty_frame_size: Sequence[int] = (224, 224)) -> None:
        self.meta_keys = tuple(meta_keys)
        self.empty_frame_size = tuple(empty_frame_size)

    def transform(self, results: Dict) -> Dict:
        inputs: Dict[str, torch.Tensor] = {}
        sample = DataSample()
        if 'frames' in results:
            frames = results['frames']
            num = int(results.get('num_frames', len(frames)))
            if len(frames) > num:
                raise ValueError(f'{len(frames)} frames exceed num_frames='
                                 f'{num}; sample the clip first')
            shapes = {f.shape for f in frames}
            if len(shapes) > 1:
                raise ValueError(
                    f'frames of clip {results.get("clip_id")} have different '
                    f'shapes {sorted(shapes)}; resize them to one size')
            buf = results.get('frames_buffer')
            if (buf is not None and len(buf) == num and frames
                    and all(f.ctypes.data == buf[i].ctypes.data
                            for i, f in enumerate(frames))):
                # Frames were written in place (ResizeCropFlipFrames).
                inputs['frames'] = torch.from_numpy(buf).permute(0, 3, 1, 2)
            elif frames:
                # One copy into a zero-padded (T, H, W, C) buffer; the CHW
                # tensor is a view of it (collation makes the batch copy).
                buf = np.zeros((num, ) + frames[0].shape, np.uint8)
                for i, f in enumerate(frames):
                    buf[i] = f
                inputs['frames'] = torch.from_numpy(buf).permute(0, 3, 1, 2)
            else:
                inputs['frames'] = torch.zeros((num, 3) +
                                               self.empty_frame_size,
                                               dtype=torch.uint8)
            mask = torch.zeros(num, dtype=torch.bool)
            mask[:len(frames)] = True
            inputs['frame_mask'] = mask
            if 'patch_masks' in results:
                pm = torch.from_numpy(np.asarray(results['patch_masks']))
                full = torch.ones((num, pm.shape[1]), dtype=torch.bool)
                full[:len(pm)] = pm
                sample.set_field(full, 'patch_masks', field_type='data')
        if 'img' in results:
            inputs['image'] = _to_chw(results['img'])
        if not inputs:
            raise KeyError('nothing to pack: neither frames nor img')
        meta = {k: results[k] for k in self.meta_keys if k in results}
        sample.set_metainfo(meta)
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(meta_keys={self.meta_keys}, '
                f'empty_frame_size={self.empty_frame_size})')
