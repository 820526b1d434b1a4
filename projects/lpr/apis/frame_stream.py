"""The frames a livestream recognizer reads: one every few seconds of video
time, from a video file, a folder of frames or a list of frame files."""
import os
import os.path as osp
from typing import Iterator, List, NamedTuple, Optional, Sequence, Union

import mmcv
import numpy as np

from .inputs import IMAGE_EXTENSIONS, list_images, read_image

StreamSource = Union[str, os.PathLike, Sequence[str]]


class StreamFrame(NamedTuple):
    """One frame read from a stream.

    Attributes:
        time: its video time (s).
        index: its index among the frames the source offers.
        frame_id: the file stem (folders, lists) or ``<video>_<frame
            index>`` (videos).
        image: (H, W, 3) RGB uint8, or ``None`` when it cannot be decoded.
    """
    time: float
    index: int
    frame_id: str
    image: Optional[np.ndarray]


class FrameStream:
    """Read one frame every ``every`` seconds of video time.

    A video (decoded with OpenCV) offers its frames at its own rate; a
    folder of frames (image files sorted by name) or a list of frame files
    offers them at ``fps``. At the step times ``0, every, 2 * every...``
    the latest frame shown at that time is read; a step whose frame was
    read already (``every`` shorter than the frame spacing) is skipped.

    Args:
        source: a video file, a folder of frames or a list of frame files.
        every: seconds of video time between two reads.
        fps: frame rate of a folder or list (default 1); ignored for
            videos.
        max_steps: stop after this many reads (``None``: the whole
            source).

    Attributes:
        name (str): the file or folder stem (``'stream'`` for lists).
        num_frames (int): frames the source offers.
        fps (float): their rate.
        duration (float): the video time they cover (s):
            ``num_frames / fps``.

    Raises:
        ValueError: the source does not exist, holds no frame or is not a
            readable video; ``every``, ``fps`` or ``max_steps`` is not
            positive.
    """

    def __init__(self,
                 source: StreamSource,
                 every: float = 3.0,
                 fps: float = 1.0,
                 max_steps: Optional[int] = None) -> None:
        if not every > 0:
            raise ValueError(f'every must be positive, got {every}')
        if max_steps is not None and max_steps < 1:
            raise ValueError(f'max_steps must be >= 1, got {max_steps}')
        self.every = float(every)
        self.max_steps = max_steps
        self._video = None
        self._paths: Optional[List[str]] = None
        if isinstance(source, (str, os.PathLike)):
            path = os.fspath(source)
            self.name = osp.splitext(osp.basename(osp.normpath(path)))[0]
            if osp.isdir(path):
                self._paths = list_images(path)
            elif osp.isfile(path) and not path.lower().endswith(
                    IMAGE_EXTENSIONS):
                self._open_video(path)
            elif osp.isfile(path):
                self._paths = [path]
            else:
                raise ValueError(f'stream {path} does not exist')
        else:
            self.name = 'stream'
            self._paths = [os.fspath(p) for p in source]
            if not self._paths:
                raise ValueError('the stream has no frame')
        if self._paths is not None:
            if not fps > 0:
                raise ValueError(f'fps must be positive, got {fps}')
            self.fps = float(fps)
            self.num_frames = len(self._paths)
        self.duration = self.num_frames / self.fps

    def _open_video(self, path: str) -> None:
        try:
            video = mmcv.VideoReader(path)
        except Exception as e:  # noqa: BLE001 - not a video OpenCV reads
            raise ValueError(f'{path} is not a readable video '
                             f'({type(e).__name__})') from None
        if video.frame_cnt <= 0 or not video.fps > 0:
            raise ValueError(f'{path} is not a readable video (no frame or '
                             'no frame rate)')
        self._video = video
        self.fps = float(video.fps)
        self.num_frames = int(video.frame_cnt)

    def indices(self) -> List[int]:
        """The frame indices read, one per step."""
        out: List[int] = []
        step = 0
        while self.max_steps is None or len(out) < self.max_steps:
            # A small tolerance: 3 s at 1/3 fps is frame 1, not frame 0.
            i = int(np.floor(step * self.every * self.fps + 1e-6))
            if i >= self.num_frames:
                break
            if not out or i != out[-1]:
                out.append(i)
            step += 1
        return out

    def __len__(self) -> int:
        return len(self.indices())

    def frame_id(self, index: int) -> str:
        if self._paths is not None:
            return osp.splitext(osp.basename(self._paths[index]))[0]
        return f'{self.name}_{index:06d}'

    def read(self, index: int) -> Optional[np.ndarray]:
        """Decode frame ``index`` as (H, W, 3) RGB uint8 (``None`` when it
        cannot be decoded)."""
        if self._paths is not None:
            return read_image(self._paths[index])
        bgr = self._video.get_frame(index)
        return None if bgr is None else np.ascontiguousarray(bgr[..., ::-1])

    def __iter__(self) -> Iterator[StreamFrame]:
        for i in self.indices():
            yield StreamFrame(i / self.fps, i, self.frame_id(i), self.read(i))
