from .seqhqm import SeqHQMStage, TemporalQueryEncoderLayer, gather_topk_queries
from .single_level_memory import single_level_memory

__all__ = [
    'SeqHQMStage', 'TemporalQueryEncoderLayer', 'gather_topk_queries',
    'single_level_memory'
]
