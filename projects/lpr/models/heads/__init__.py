from .icl_head import (ICLHead, MMFICLHead, clip_embedding,
                       mean_clip_embedding, same_product_mask)
from .pfr_head import BasePFRHead, MMFPFRHead, PFRHead
from .pmd_head import BasePMDHead, CrossAttention, MMFPMDHead, PMDHead

__all__ = [
    'ICLHead', 'MMFICLHead', 'clip_embedding', 'mean_clip_embedding',
    'same_product_mask', 'BasePFRHead', 'PFRHead', 'MMFPFRHead',
    'BasePMDHead', 'CrossAttention', 'PMDHead', 'MMFPMDHead'
]
