"""Geometry of the pictures: resizing images into rows and cells, box
coordinates, and a canvas that collects what the visualizer renders.

Images are (H, W, 3) uint8 RGB arrays; boxes are ``(K, 4)``
``[x1, y1, x2, y2]``, in pixels or, when every coordinate lies in
``[0, 1]``, as fractions of the image size (LPR4M's annotation format).
"""
import textwrap
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import mmcv
import numpy as np

Color = Tuple[int, int, int]

BACKGROUND: Color = (255, 255, 255)
CELL_FILL: Color = (235, 235, 235)
MARGIN = 8
GAP = 8
BORDER = 4
# Pixels per text line at the default font size (9 pt at 100 dpi).
LINE = 15


@dataclass
class Canvas:
    """An image under construction plus the boxes and texts to render on it
    (in canvas pixels).

    Attributes:
        image: (H, W, 3) uint8.
        boxes: ``(boxes (K, 4), colour)`` pairs.
        texts: ``(text, (x, y), colour, on_image)``; ``(x, y)`` is the
            top-left corner; texts ``on_image`` get a light background.
    """
    image: np.ndarray
    boxes: List[Tuple[np.ndarray, Color]] = field(default_factory=list)
    texts: List[Tuple[str, Tuple[float, float], Color, bool]] = field(
        default_factory=list)


def to_rgb_uint8(img: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 1), (H, W, 3) or (H, W, 4) → (H, W, 3) uint8."""
    img = np.asarray(img)
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[2] not in (1, 3, 4):
        raise ValueError(f'expected an (H, W, 3) image, got {img.shape}')
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    return np.ascontiguousarray(img[..., :3].clip(0, 255).astype(np.uint8))


def resize_to_height(img: np.ndarray, height: int) -> Tuple[np.ndarray,
                                                             float]:
    """Resize keeping the aspect ratio.

    Returns:
        tuple: the (height, W', 3) image and the scale factor.
    """
    scale = height / img.shape[0]
    width = max(1, int(round(img.shape[1] * scale)))
    return mmcv.imresize(img, (width, height)), scale


def letterbox(img: np.ndarray, size: int,
              fill: Color = CELL_FILL) -> np.ndarray:
    """Fit ``img`` into a ``size`` x ``size`` cell, centred, padded with
    ``fill``."""
    scale = size / max(img.shape[:2])
    h = max(1, int(round(img.shape[0] * scale)))
    w = max(1, int(round(img.shape[1] * scale)))
    cell = np.empty((size, size, 3), np.uint8)
    cell[:] = fill
    y, x = (size - h) // 2, (size - w) // 2
    cell[y:y + h, x:x + w] = mmcv.imresize(img, (w, h))
    return cell


def boxes_to_pixels(boxes: Optional[np.ndarray],
                    shape: Sequence[int]) -> np.ndarray:
    """(K, 4) boxes of an image of ``shape`` (H, W) in its pixels, clipped
    to it; boxes whose coordinates all lie in [0, 1] are read as fractions
    of the size. All-zero rows ("no box") are dropped."""
    if boxes is None:
        return np.zeros((0, 4), np.float32)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    boxes = boxes[boxes.any(axis=1)]
    h, w = shape[:2]
    size = np.array([w, h, w, h], np.float32)
    if len(boxes) and boxes.min() >= 0 and boxes.max() <= 1:
        boxes = boxes * size
    return np.clip(boxes, 0, size)


def paint_border(image: np.ndarray, x: int, y: int, w: int, h: int,
                 color: Color, width: int = BORDER) -> None:
    """Paint the outer ``width`` pixels of the ``w`` x ``h`` region at
    ``(x, y)`` in place."""
    region = image[y:y + h, x:x + w]
    region[:width] = color
    region[-width:] = color
    region[:, :width] = color
    region[:, -width:] = color


def wrap(text: str, width_px: int, line_px: int = LINE,
         max_lines: int = 3) -> List[str]:
    """Split ``text`` into at most ``max_lines`` lines that fit
    ``width_px`` (about half a line height per Latin character, a full one
    per CJK character); a cut text ends with an ellipsis."""
    if not text:
        return []
    per_line = max(8, int(width_px / (0.47 * line_px)))
    wide = sum(1 for c in text if ord(c) > 0x2e80)
    if wide:
        per_line = max(4, int(per_line * len(text) /
                              (len(text) + wide)))
    lines = textwrap.wrap(text, per_line) or [text]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][:max(1, per_line - 1)] + '…'
    return lines


@dataclass
class Placed:
    """An image placed on the canvas: its top-left corner and the scale
    from its original pixels."""
    x: int
    y: int
    image: np.ndarray
    scale: float


def frame_grid(frames: Sequence[np.ndarray], height: int, per_row: int,
               max_width: int) -> Tuple[List[Placed], int, int]:
    """Lay frames out in rows of ``per_row``, all ``height`` high (lower
    when a row would be wider than ``max_width``).

    Returns:
        tuple: the placed frames (relative to the grid's origin), the
        grid's width and height.
    """
    rows = [frames[i:i + per_row] for i in range(0, len(frames), per_row)]
    widest = max(
        sum(f.shape[1] * height / f.shape[0] for f in row) + GAP *
        (len(row) - 1) for row in rows)
    if widest > max_width:
        height = max(16, int(height * max_width / widest))
    placed, y, width = [], 0, 0
    for row in rows:
        x = 0
        for f in row:
            img, scale = resize_to_height(f, height)
            placed.append(Placed(x, y, img, scale))
            x += img.shape[1] + GAP
        width = max(width, x - GAP)
        y += height + GAP
    return placed, width, y - GAP
