from .amp import CPUAmpOptimWrapper, accelerator_available
from .clip_visualization_hook import ClipVisualizationHook
from .retrieval_loop import (LPRRetrievalTestLoop, LPRRetrievalValLoop,
                             rank_livestream, rank_queries)
from .retrieval_visualization_hook import RetrievalVisualizationHook

__all__ = [
    'CPUAmpOptimWrapper', 'ClipVisualizationHook', 'LPRRetrievalTestLoop',
    'LPRRetrievalValLoop', 'RetrievalVisualizationHook',
    'accelerator_available', 'rank_livestream', 'rank_queries'
]
