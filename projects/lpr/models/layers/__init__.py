from .seqhqm import CascadeSeqHQMStage, SeqHQMStage, gather_topk_queries
from .single_level_memory import single_level_memory

__all__ = [
    'CascadeSeqHQMStage', 'SeqHQMStage', 'gather_topk_queries',
    'single_level_memory'
]
