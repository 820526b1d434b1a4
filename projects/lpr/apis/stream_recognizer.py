"""Online recognition of a livestream: the product of the last frames,
updated as each new frame arrives."""
import time
from collections import deque
from typing import Deque, Optional, Tuple, Union

import numpy as np
from mmpretrain.structures import DataSample

from .gallery_index import GalleryIndex
from .inferencer import GalleryInput, LPRInferencer, check_topk
from .inputs import ClipReader, check_rgb_array


class StreamRecognizer:
    """Rank a shop's images for a sliding window of a stream's last frames.

    Each :meth:`step` adds a frame to the window (the oldest leaves it when
    it is full) and ranks the gallery for the window as a clip (the
    config's sampling rule picks at most ``T`` of its frames).

    When the model allows it (:attr:`LPRInferencer.caches_frames`: RICE
    encodes each frame on its own and pools the clip vector from the
    per-frame vectors), each new frame is encoded once and its outputs are
    kept for as long as it stays in the window; otherwise the window is
    encoded again at every step. Both give the same ranking.

    Args:
        inferencer: the retriever (and its detector).
        gallery: the shop (see :meth:`LPRInferencer.load_gallery`).
        window: frames in the window.
        topk: images returned per step.
        cache_frames: reuse per-frame outputs when the model allows
            (``False``: always encode the whole window).

    Attributes:
        caching (bool): whether per-frame outputs are reused.

    Raises:
        ValueError: ``window`` or ``topk`` is not a positive integer, or
            the gallery cannot be loaded.
    """

    def __init__(self,
                 inferencer: LPRInferencer,
                 gallery: GalleryInput,
                 window: int = 10,
                 topk: int = 1,
                 cache_frames: bool = True) -> None:
        if isinstance(window, bool) or not isinstance(window, int) \
                or window < 1:
            raise ValueError(f'window must be a positive integer, got '
                             f'{window!r}')
        self.inferencer = inferencer
        self.gallery: GalleryIndex = inferencer.load_gallery(gallery)
        self.topk = check_topk(topk)
        self.window = window
        self.caching = bool(cache_frames) and inferencer.caches_frames
        self._frames: Deque[Tuple[str, Union[np.ndarray,
                                             DataSample]]] = deque(
                                                 maxlen=window)
        self._seen = 0

    def __len__(self) -> int:
        """Frames in the window now."""
        return len(self._frames)

    def reset(self) -> None:
        """Empty the window (e.g. when the stream changes)."""
        self._frames.clear()
        self._seen = 0

    def step(self, frame: np.ndarray, frame_id: Optional[str] = None,
             name: str = 'window') -> dict:
        """Add a frame and rank the gallery for the window.

        Args:
            frame: (H, W, 3) RGB uint8.
            frame_id: its id (default ``frame_<n>``, ``n`` counting the
                frames since the start or the last :meth:`reset`).
            name: the ``clip_id`` of the result.

        Returns:
            dict: :meth:`LPRInferencer.rank`'s prediction (``image_ids``,
            ``scores``, ``frame_ids`` of the frames used...) plus
            ``window`` (frames in the window) and ``latency`` (s: encoding
            and ranking).

        Raises:
            ValueError: ``frame`` is not an (H, W, 3) uint8 array.
        """
        check_rgb_array(frame, 'stream frame')
        start = time.perf_counter()
        if frame_id is None:
            frame_id = f'frame_{self._seen}'
        self._seen += 1
        inf = self.inferencer
        if self.caching:
            encoded = inf.encode_frames([frame], [frame_id])[0]
            self._frames.append((frame_id, encoded))
            sample = inf.pool_frames([f for _, f in self._frames],
                                     clip_id=name)
        else:
            self._frames.append((frame_id, frame))
            sample = inf.encode_clip(
                ClipReader([f for _, f in self._frames], name=name,
                           frame_ids=[i for i, _ in self._frames]))
        result = inf.rank(sample, self.gallery, self.topk)
        result['window'] = len(self._frames)
        result['latency'] = time.perf_counter() - start
        return result
