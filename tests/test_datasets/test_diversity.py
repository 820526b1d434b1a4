"""Diversity types against hand-computed areas and ratios at the official
thresholds (scale 0.2 / 0.4, duration 0.4 / 0.7, number 3 / 7; the lower
type includes its threshold)."""
import pytest

from lpr.datasets import (product_number_type, product_scale_type,
                          visible_duration_type)


def _square(area):
    side = area**0.5
    return [0.0, 0.0, side, side]


@pytest.mark.parametrize('frame_boxes, expected', [
    # One frame, one box of area 0.2 exactly: small; just above: medium.
    ([[[0.0, 0.0, 0.5, 0.4]]], 'small'),
    ([[[0.0, 0.0, 0.5, 0.41]]], 'medium'),
    # 0.4 exactly (0.5 x 0.8): medium; 0.5 x 0.82 = 0.41: large.
    ([[[0.0, 0.0, 0.5, 0.8]]], 'medium'),
    ([[[0.0, 0.0, 0.5, 0.82]]], 'large'),
    # Frame means, then the clip mean: frame 1 has boxes of 0.6 and 0.2
    # (mean 0.4), frame 2 none (0): clip 0.2 → small.
    ([[[0.0, 0.0, 1.0, 0.6], [0.0, 0.0, 0.5, 0.4]], []], 'small'),
    # Frame 1: boxes of 0.9 and 0.5 (mean 0.7); frame 2: 0.25; clip
    # (0.7 + 0.25) / 2 = 0.475 → large.
    ([[[0, 0, 1, 0.9], [0, 0, 0.5, 1]], [[0, 0, 0.5, 0.5]]], 'large'),
    # 0.5 and 0.1 in one frame → 0.3 medium (the max, 0.5, would be large).
    ([[[0, 0, 1, 0.5], [0, 0, 0.5, 0.2]]], 'medium'),
])
def test_product_scale_by_hand(frame_boxes, expected):
    assert product_scale_type(frame_boxes) == expected


@pytest.mark.parametrize('visible, total, expected', [
    (2, 5, 'short'),     # 0.4 exactly
    (3, 7, 'medium'),    # 0.43
    (7, 10, 'medium'),   # 0.7 exactly
    (5, 7, 'long'),      # 0.71
    (0, 3, 'short'),
    (4, 4, 'long'),
])
def test_visible_duration_by_hand(visible, total, expected):
    frames = [[_square(0.1)]] * visible + [[]] * (total - visible)
    assert visible_duration_type(frames) == expected
    # Order and box size do not matter, only the fraction of frames.
    assert visible_duration_type(frames[::-1]) == expected


@pytest.mark.parametrize('counts, expected', [
    ([3, 3, 3], 'few'),          # mean 3 exactly
    ([3, 4], 'medium'),          # 3.5
    ([7, 7], 'medium'),          # 7 exactly
    ([6, 9], 'abundant'),        # 7.5
    ([1, 12, 2], 'medium'),      # 5
])
def test_product_number_by_hand(counts, expected):
    assert product_number_type(counts) == expected


def test_a_clip_needs_a_frame():
    for fn in (product_scale_type, visible_duration_type,
               product_number_type):
        with pytest.raises(ValueError, match='at least one frame'):
            fn([])
