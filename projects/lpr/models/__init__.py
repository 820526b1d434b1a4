from . import detectors, layers, losses  # noqa: F401 (mmdet scope)
from .data_preprocessor import CLIP_MEAN, CLIP_STD, LPRDataPreprocessor
from .encoders import TokenEncoder
from .heads import (ICLHead, MMFICLHead, MMFPFRHead, MMFPMDHead, PFRHead,
                    PMDHead, clip_embedding, mean_clip_embedding)
from .retrievers import RICE

__all__ = [
    'CLIP_MEAN', 'CLIP_STD', 'LPRDataPreprocessor', 'TokenEncoder',
    'ICLHead', 'MMFICLHead', 'PFRHead', 'MMFPFRHead', 'PMDHead',
    'MMFPMDHead', 'clip_embedding', 'mean_clip_embedding', 'RICE'
]
