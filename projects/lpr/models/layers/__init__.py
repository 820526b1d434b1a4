from .seqhqm import (FrameDecoderLayer, SeqHQMStage,
                     TemporalQueryEncoderLayer, gather_topk_queries)

__all__ = [
    'FrameDecoderLayer', 'SeqHQMStage', 'TemporalQueryEncoderLayer',
    'gather_topk_queries'
]
