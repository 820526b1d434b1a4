from .icl_head import ICLHead, clip_embedding, same_product_mask
from .pfr_head import PFRHead
from .pmd_head import CrossAttention, PMDHead

__all__ = ['ICLHead', 'clip_embedding', 'same_product_mask', 'PFRHead',
           'CrossAttention', 'PMDHead']
