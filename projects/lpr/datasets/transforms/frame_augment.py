"""Fast per-frame resize → crop → flip for clips."""
from typing import Dict, Sequence, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS


@TRANSFORMS.register_module()
class ResizeCropFlipFrames(BaseTransform):
    """Resize every frame (and the shop image) to ``resize`` × ``resize``
    (aspect not kept), crop ``size`` × ``size`` (random or centred) and
    flip horizontally with probability ``flip_prob`` — the official
    recipe's spatial pipeline — in one OpenCV resize per frame.

    The crop is taken in the source image (rounded to whole source pixels)
    and resized straight to ``size``, which equals resize-then-crop up to
    interpolation and rounding, and writes fewer pixels. The same result can be had with
    ``ApplyToFrames`` around ``Resize``, ``RandomCrop`` and ``RandomFlip``;
    this transform is ~2× faster on 2 cores.

    Required Keys:

    - frames (list[np.ndarray]) and/or img

    Modified Keys:

    - frames, img, img_shape

    Added Keys:

    - frames_buffer (np.ndarray): (T, size, size, C) zero-padded clip that
      ``frames`` are views of

    Args:
        size: output side. Defaults to 224.
        resize: side of the (virtual) resized image the crop is taken from.
            Defaults to 256.
        random_crop: random crop position (training) or centre (test).
        flip_prob: probability of a horizontal flip.
        share_random_params: one crop position and flip for all frames of a
            clip (and the image); by default every frame draws its own, like
            the official training code.
        keys: which of ``frames`` and ``img`` to process.
    """

    def __init__(self,
                 size: int = 224,
                 resize: int = 256,
                 random_crop: bool = True,
                 flip_prob: float = 0.5,
                 share_random_params: bool = False,
                 keys: Sequence[str] = ('frames', 'img'),
                 interpolation: str = 'bilinear') -> None:
        assert resize >= size
        self.size = size
        self.resize = resize
        self.random_crop = random_crop
        self.flip_prob = flip_prob
        self.share_random_params = share_random_params
        self.keys = tuple(keys)
        self.interpolation = interpolation
        self._interp = {
            'bilinear': cv2.INTER_LINEAR,
            'bicubic': cv2.INTER_CUBIC,
            'area': cv2.INTER_AREA
        }[interpolation]

    def _params(self) -> Tuple[int, int, bool]:
        margin = self.resize - self.size
        if self.random_crop and margin > 0:
            x0, y0 = np.random.randint(0, margin + 1, size=2)
        else:
            x0 = y0 = margin // 2
        flip = bool(np.random.rand() < self.flip_prob)
        return int(x0), int(y0), flip

    def _apply(self, img: np.ndarray, params, out=None) -> np.ndarray:
        x0, y0, flip = params
        h, w = img.shape[:2]
        sx, sy = w / self.resize, h / self.resize
        # The crop's region in the source image, rounded to whole pixels.
        left, top = int(round(x0 * sx)), int(round(y0 * sy))
        right = min(w, max(left + 1, int(round((x0 + self.size) * sx))))
        bottom = min(h, max(top + 1, int(round((y0 + self.size) * sy))))
        out = cv2.resize(
            img[top:bottom, left:right], (self.size, self.size),
            dst=out,
            interpolation=self._interp)
        return cv2.flip(out, 1, dst=out) if flip else out

    def transform(self, results: Dict) -> Dict:
        shared = self._params() if self.share_random_params else None
        frames = results.get('frames')
        if 'frames' in self.keys and frames:
            # Write straight into the zero-padded clip buffer that
            # PackLPRInputs turns into the input tensor without a copy.
            num = max(int(results.get('num_frames', len(frames))),
                      len(frames))
            buf = np.empty((num, self.size, self.size, frames[0].shape[2]),
                           np.uint8)
            buf[len(frames):] = 0
            results['frames'] = [
                self._apply(f, shared or self._params(), out=buf[i])
                for i, f in enumerate(frames)
            ]
            results['frames_buffer'] = buf
        if 'img' in self.keys and results.get('img') is not None:
            results['img'] = self._apply(results['img'], shared
                                         or self._params())
            results['img_shape'] = results['img'].shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(size={self.size}, '
                f'resize={self.resize}, random_crop={self.random_crop}, '
                f'flip_prob={self.flip_prob}, share_random_params='
                f'{self.share_random_params}, keys={self.keys})')
