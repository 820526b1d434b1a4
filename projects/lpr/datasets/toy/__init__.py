"""A procedurally rendered LPR4M look-alike, written in the official formats.

Import-light on purpose (numpy and OpenCV only), so the generator runs
before the OpenMMLab stack is imported.
"""
from .categories import CATEGORIES, NUM_CATEGORIES, Category
from .generator import (PRESETS, ToyConfig, compute_stats, describe,
                        format_stats, generate, make_config)

__all__ = [
    'CATEGORIES', 'NUM_CATEGORIES', 'Category', 'PRESETS', 'ToyConfig',
    'compute_stats', 'describe', 'format_stats', 'generate', 'make_config'
]
