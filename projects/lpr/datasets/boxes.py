"""Box encodings of LPR4M annotation files, told apart per file, and boxes
normalised to the frame.

Boxes are ``[x1, y1, x2, y2]``, a list per frame, in one of two encodings:

* ``'normalised'``: fractions of the frame's width and height (the toy set's
  default, the retriever's box files written by ``IPDBoxDumper``);
* ``'pixel'``: pixels of the **original** frame, as the released files are
  read by the official V0 code (it divides each box by the frame's height
  and width). img2dataset resizes what it stores, so the original size is
  ``original_width``/``original_height`` in each item's JSON; a frame in a
  folder is at its original size.

An all-zero box means "no box"; the patch mask then keeps the whole frame,
as in V0.

``box_format='auto'`` decides per file: ``'pixel'`` when any coordinate of
a non-zero box is above :data:`PIXEL_MIN` (1.5), ``'normalised'`` otherwise.
Normalised boxes overshoot 1 only by annotation noise (they are clipped); a
pixel box with every coordinate at most 1.5 would sit inside the 1.5-pixel
top-left corner of the frame, smaller than any product. A file without a
box counts as normalised (there is nothing to convert). An explicit
``'pixel'`` or ``'normalised'`` is checked against the same rule, so a wrong
setting fails naming the file instead of silently breaking every box.

Samples always carry normalised boxes: datasets keep a pixel file's boxes as
read and divide them by the frame's original size (from the frame store)
when a sample is drawn, so nothing needs the size of 40M frames up front.
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .errors import AnnotationError

BOX_FORMATS = ('auto', 'pixel', 'normalised')
#: Coordinates above this mark a file as pixel boxes.
PIXEL_MIN = 1.5
Size = Tuple[int, int]  # (width, height)


def check_box_format(box_format: str) -> str:
    if box_format not in BOX_FORMATS:
        raise ValueError(f'box_format must be one of {BOX_FORMATS}, got '
                         f'{box_format!r}')
    return box_format


def max_coordinate(boxes: np.ndarray) -> float:
    """The largest coordinate of the finite non-zero boxes (0 if none).

    Args:
        boxes: (N, 4) boxes.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    boxes = boxes[np.isfinite(boxes).all(axis=1) & boxes.any(axis=1)]
    return float(boxes.max()) if len(boxes) else 0.0


def detect_box_format(max_coord: float) -> str:
    """``'pixel'`` if a coordinate exceeds :data:`PIXEL_MIN`, else
    ``'normalised'``."""
    return 'pixel' if max_coord > PIXEL_MIN else 'normalised'


def resolve_box_format(requested: str, max_coord: float, path: str,
                       has_boxes: bool = True) -> str:
    """The encoding of a file's boxes.

    Args:
        requested: ``'auto'``, ``'pixel'`` or ``'normalised'``.
        max_coord: the file's :func:`max_coordinate`.
        path: the file, for the error.
        has_boxes: whether the file has a non-zero box at all.

    Raises:
        AnnotationError: an explicit format that the coordinates contradict.
    """
    check_box_format(requested)
    detected = detect_box_format(max_coord)
    if requested == 'auto' or not has_boxes:
        return detected if requested == 'auto' else requested
    if requested != detected:
        raise AnnotationError(
            path, None,
            f"box_format='{requested}' but the largest box coordinate is "
            f'{max_coord:g}, which means {detected} boxes (coordinates above '
            f"{PIXEL_MIN} are pixels); set box_format='{detected}' or "
            "'auto'")
    return requested


def clean_boxes(boxes: np.ndarray,
                box_format: str) -> Tuple[np.ndarray, int, np.ndarray]:
    """Repair what can be repaired without the frame size; mark the rest.

    Normalised boxes are clipped to [0, 1]; pixel boxes to x, y ≥ 0 (the
    upper bound is the frame's size, applied by :func:`normalise_boxes`).
    A box that is not finite or whose x2 ≤ x1 or y2 ≤ y1 after clipping is
    dropped (set to all zeros).

    Args:
        boxes: (N, 4) ``[x1, y1, x2, y2]``; all-zero rows mean "no box".
        box_format: ``'pixel'`` or ``'normalised'``.

    Returns:
        tuple: the (N, 4) float32 boxes, how many were clipped, and an (N,)
        bool array of the dropped ones.
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    finite = np.isfinite(boxes).all(axis=1)
    present = ~finite | (boxes != 0).any(axis=1)
    safe = np.where(finite[:, None], boxes, 0.0).astype(np.float32)
    upper = 1.0 if box_format == 'normalised' else np.inf
    clipped = np.clip(safe, 0.0, upper)
    n_clipped = int((present & finite & (clipped != safe).any(axis=1)).sum())
    bad = present & (~finite | (clipped[:, 2] <= clipped[:, 0]) |
                     (clipped[:, 3] <= clipped[:, 1]))
    clipped[bad] = 0.0
    return clipped, n_clipped, bad


def normalise_boxes(boxes: Sequence[Sequence[float]], size: Optional[Size],
                    box_format: str) -> List[List[float]]:
    """One frame's boxes as fractions of the frame, clipped to [0, 1].

    Args:
        boxes: the frame's non-zero boxes in ``box_format``.
        size: the frame's original (width, height); needed for pixel boxes.
        box_format: ``'pixel'`` or ``'normalised'``.

    Returns:
        list: the normalised boxes; a box with nothing left inside the frame
        is left out (the frame keeps its other boxes, or none = whole
        frame).
    """
    if not len(boxes):
        return []
    arr = np.asarray(boxes, np.float64).reshape(-1, 4)
    if box_format == 'pixel':
        if size is None:
            raise ValueError('pixel boxes need the frame size')
        w, h = size
        arr = arr / np.array([w, h, w, h], np.float64)
    arr = np.clip(arr, 0.0, 1.0)
    keep = (arr[:, 2] > arr[:, 0]) & (arr[:, 3] > arr[:, 1])
    return [[float(v) for v in b] for b in arr[keep]]


def normalise_frame_boxes(frame_ids: Sequence[str],
                          frame_boxes: Sequence[Sequence[Sequence[float]]],
                          box_format: str, store) -> List[List[List[float]]]:
    """Normalise a clip's boxes with the frames' original sizes.

    Args:
        frame_ids: (T,) frame ids.
        frame_boxes: (T,) lists of boxes in ``box_format``.
        box_format: ``'pixel'`` or ``'normalised'``.
        store: the frame store; ``store.size(frame_id)`` gives the original
            (width, height), or ``None`` for a frame that cannot be read
            (its boxes are left out: the loader skips the frame anyway).

    Returns:
        list: (T,) lists of normalised boxes.
    """
    out = []
    for fid, boxes in zip(frame_ids, frame_boxes):
        if not boxes:
            out.append([])
            continue
        size = store.size(fid) if box_format == 'pixel' else None
        if box_format == 'pixel' and size is None:
            out.append([])
            continue
        out.append(normalise_boxes(boxes, size, box_format))
    return out
