"""What the inference API reads: clips (a video file, a folder of frames or
a list of frame arrays) and shop images (files or arrays), as (H, W, 3) RGB
uint8 arrays.

A clip is opened without decoding it: :class:`ClipReader` lists its frame
ids, the caller picks the frames to keep (the test pipeline's sampling
rule), and only those are decoded.
"""
import logging
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
from mmengine.logging import print_log

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif',
                    '.tiff')

# A clip: a video file, a folder of frames, one image file, a sequence of
# (H, W, 3) RGB uint8 arrays or a (T, H, W, 3) array.
ClipInput = Union[str, os.PathLike, Sequence[np.ndarray], np.ndarray]
# A shop image: a file path or an (H, W, 3) RGB uint8 array.
ImageInput = Union[str, os.PathLike, np.ndarray]


def check_rgb_array(array, what: str = 'frame') -> np.ndarray:
    """Check that ``array`` is an (H, W, 3) uint8 image.

    Raises:
        ValueError: naming ``what`` and what is wrong.
    """
    if not isinstance(array, np.ndarray):
        raise ValueError(f'{what} is a {type(array).__name__}, not an '
                         '(H, W, 3) uint8 array')
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f'{what} has shape {tuple(array.shape)}; expected '
                         '(H, W, 3) RGB')
    if array.dtype != np.uint8:
        raise ValueError(f'{what} has dtype {array.dtype}; expected uint8')
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f'{what} is empty ({tuple(array.shape)})')
    return array


def decode_image(data: bytes, what: str = 'image') -> np.ndarray:
    """Encoded image bytes (JPEG, PNG...) → (H, W, 3) RGB uint8.

    Raises:
        ValueError: the bytes are empty or not a readable image.
    """
    if not data:
        raise ValueError(f'{what} is empty')
    try:
        img = mmcv.imfrombytes(data, flag='color', channel_order='rgb')
    except Exception:  # noqa: BLE001 - any decoder failure
        img = None
    if img is None or img.size == 0:
        raise ValueError(f'{what} is not a readable image')
    return img


def read_image(path: str) -> Optional[np.ndarray]:
    """An image file → (H, W, 3) RGB uint8, or ``None`` when it cannot be
    read or decoded."""
    try:
        with open(path, 'rb') as f:
            return decode_image(f.read(), path)
    except (OSError, ValueError):
        return None


def list_images(folder: str) -> List[str]:
    """The image files of ``folder`` (not recursive), sorted by name.

    Raises:
        ValueError: the folder holds no image file.
    """
    names = sorted(n for n in os.listdir(folder)
                   if n.lower().endswith(IMAGE_EXTENSIONS)
                   and osp.isfile(osp.join(folder, n)))
    if not names:
        raise ValueError(f'{folder} holds no image file '
                         f'({", ".join(IMAGE_EXTENSIONS)})')
    return [osp.join(folder, n) for n in names]


def load_image(image: ImageInput, what: str = 'image') -> np.ndarray:
    """A shop image (path or array) → (H, W, 3) RGB uint8.

    Raises:
        ValueError: it cannot be read or is not an RGB uint8 image.
    """
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        if not osp.isfile(path):
            raise ValueError(f'{what} {path} does not exist')
        img = read_image(path)
        if img is None:
            raise ValueError(f'{what} {path} is not a readable image')
        return img
    return check_rgb_array(image, what)


class ClipReader:
    """Open a clip and decode chosen frames.

    Args:
        clip: a video file (decoded with OpenCV), a folder of frames (image
            files sorted by name), one image file (a one-frame clip), a
            sequence of (H, W, 3) RGB uint8 arrays or a (T, H, W, 3) array.
        video_fps: videos are read on a grid of this rate (what
            ``ffmpeg -vf fps=1`` extracts, as ``LoadVideoFrames`` reads
            videos); ``None`` reads every frame.
        name: the clip's name (default: the file or folder stem, or
            ``'clip'``).
        frame_ids: ids of the frames of an array clip (default
            ``<name>_<index>``).

    Attributes:
        name (str): the clip's name.
        frame_ids (list[str]): every frame the clip offers (folder: file
            stems; video: ``<name>_<frame index>`` of the grid frames).

    Raises:
        ValueError: the clip does not exist, is empty, or is not a
            readable video, image folder or list of RGB uint8 arrays.
    """

    def __init__(self,
                 clip: ClipInput,
                 video_fps: Optional[float] = 1.0,
                 name: Optional[str] = None,
                 frame_ids: Optional[Sequence[str]] = None) -> None:
        self._arrays: Optional[List[np.ndarray]] = None
        self._paths: Optional[List[str]] = None
        self._video = None
        self._grid: Optional[np.ndarray] = None
        if isinstance(clip, (str, os.PathLike)):
            path = os.fspath(clip)
            self.name = name or osp.splitext(osp.basename(
                osp.normpath(path)))[0]
            if osp.isdir(path):
                self._paths = list_images(path)
                self.frame_ids = [
                    osp.splitext(osp.basename(p))[0] for p in self._paths
                ]
            elif osp.isfile(path):
                if path.lower().endswith(IMAGE_EXTENSIONS):
                    self._paths = [path]
                    self.frame_ids = [self.name]
                else:
                    self._open_video(path, video_fps)
            else:
                raise ValueError(f'clip {path} does not exist')
        else:
            self.name = name or 'clip'
            if isinstance(clip, np.ndarray) and clip.ndim == 4:
                clip = list(clip)
            if not isinstance(clip, (list, tuple)) or not clip:
                raise ValueError('a clip is a video file, a folder of frames '
                                 'or a non-empty list of (H, W, 3) RGB uint8 '
                                 'arrays')
            self._arrays = [
                check_rgb_array(a, f'frame {i} of clip {self.name}')
                for i, a in enumerate(clip)
            ]
            self.frame_ids = list(frame_ids) if frame_ids is not None else [
                f'{self.name}_{i:04d}' for i in range(len(clip))
            ]
            if len(self.frame_ids) != len(self._arrays):
                raise ValueError(f'{len(self.frame_ids)} frame ids for '
                                 f'{len(self._arrays)} frames')

    def _open_video(self, path: str, video_fps: Optional[float]) -> None:
        try:
            video = mmcv.VideoReader(path)
        except Exception as e:  # noqa: BLE001 - not a video OpenCV reads
            raise ValueError(f'{path} is not a readable video '
                             f'({type(e).__name__})') from None
        total = video.frame_cnt
        if total <= 0:
            raise ValueError(f'{path} is not a readable video (no frame)')
        if video_fps and video.fps > 0:
            step = max(video.fps / video_fps, 1.0)
            grid = np.unique(
                np.minimum(np.round(np.arange(0, total, step)),
                           total - 1).astype(np.int64))
        else:
            grid = np.arange(total, dtype=np.int64)
        self._video, self._grid = video, grid
        self.frame_ids = [f'{self.name}_{int(i):04d}' for i in grid]

    def __len__(self) -> int:
        return len(self.frame_ids)

    def read(self, indices: Sequence[int]
             ) -> Tuple[List[int], List[np.ndarray]]:
        """Decode the frames at ``indices`` (into :attr:`frame_ids`).

        Frames that cannot be decoded are left out (and logged), as the
        dataset loaders skip missing and corrupt frames.

        Returns:
            tuple: the indices that were read and their (H, W, 3) RGB uint8
            frames.
        """
        kept, frames = [], []
        for i in indices:
            i = int(i)
            if self._arrays is not None:
                img = self._arrays[i]
            elif self._paths is not None:
                img = read_image(self._paths[i])
            else:
                bgr = self._video.get_frame(int(self._grid[i]))
                img = None if bgr is None else np.ascontiguousarray(
                    bgr[..., ::-1])
            if img is None:
                print_log(
                    f'skipped unreadable frame {self.frame_ids[i]} of clip '
                    f'{self.name}',
                    logger='current',
                    level=logging.WARNING)
                continue
            kept.append(i)
            frames.append(img)
        return kept, frames
