from .seqhqm import (CascadeSeqHQMStage, SeqHQMStage,
                     TemporalQueryEncoderLayer, gather_topk_queries)
from .single_level_memory import single_level_memory

__all__ = [
    'CascadeSeqHQMStage', 'SeqHQMStage', 'TemporalQueryEncoderLayer',
    'gather_topk_queries', 'single_level_memory'
]
