from .data_preprocessor import CLIP_MEAN, CLIP_STD, LPRDataPreprocessor

__all__ = ['CLIP_MEAN', 'CLIP_STD', 'LPRDataPreprocessor']
