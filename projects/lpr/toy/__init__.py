"""A procedurally rendered LPR4M look-alike, written in the official formats.

The renderer itself needs only numpy and OpenCV.
"""
from .categories import CATEGORIES, NUM_CATEGORIES, Category
from .generator import (PRESETS, ToyConfig, compute_stats, format_stats,
                        generate, make_config)

__all__ = [
    'CATEGORIES', 'NUM_CATEGORIES', 'Category', 'PRESETS', 'ToyConfig',
    'compute_stats', 'format_stats', 'generate', 'make_config'
]
