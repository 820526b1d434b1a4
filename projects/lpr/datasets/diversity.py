"""Clip diversity types of LPR4M (product scale, visible duration, number of
products), with the thresholds of the official analysis scripts.

Boxes are normalised ``[x1, y1, x2, y2]`` in ``[0, 1]`` (dataset samples carry
them so, whatever the files' encoding; see :mod:`lpr.datasets.boxes`); pixel
boxes are refused. A frame without a box contributes area 0 to the scale and
counts as "not visible".
"""
from typing import Sequence

from .boxes import PIXEL_MIN

SCALE_TYPES = ('small', 'medium', 'large')
DURATION_TYPES = ('short', 'medium', 'long')
NUMBER_TYPES = ('few', 'medium', 'abundant')

Boxes = Sequence[Sequence[float]]


def box_area(box: Sequence[float]) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def product_scale_type(frame_boxes: Sequence[Boxes]) -> str:
    """Mean over frames of the mean normalised box area: ≤0.2 small,
    >0.4 large, otherwise medium."""
    if not frame_boxes:
        raise ValueError('a clip needs at least one frame')
    if any(v > PIXEL_MIN for boxes in frame_boxes for b in boxes for v in b):
        raise ValueError('product_scale_type needs normalised boxes, got '
                         'pixel coordinates (normalise them by the frame '
                         'size first: lpr.datasets.boxes.normalise_boxes)')
    areas = [
        sum(box_area(b) for b in boxes) / len(boxes) if boxes else 0.0
        for boxes in frame_boxes
    ]
    scale = sum(areas) / len(areas)
    return 'small' if scale <= 0.2 else ('large' if scale > 0.4 else 'medium')


def visible_duration_type(frame_boxes: Sequence[Boxes]) -> str:
    """Fraction of frames with at least one box: ≤0.4 short, >0.7 long,
    otherwise medium."""
    if not frame_boxes:
        raise ValueError('a clip needs at least one frame')
    ratio = sum(1 for boxes in frame_boxes if boxes) / len(frame_boxes)
    return 'short' if ratio <= 0.4 else ('long' if ratio > 0.7 else 'medium')


def product_number_type(products_per_frame: Sequence[float]) -> str:
    """Mean number of products per frame: ≤3 few, >7 abundant, otherwise
    medium."""
    if not products_per_frame:
        raise ValueError('a clip needs at least one frame')
    mean = sum(products_per_frame) / len(products_per_frame)
    return 'few' if mean <= 3 else ('abundant' if mean > 7 else 'medium')
