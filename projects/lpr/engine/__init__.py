from .amp import CPUAmpOptimWrapper, accelerator_available
from .clip_visualization_hook import ClipVisualizationHook
from .resumable_loop import (ResumableEpochBasedTrainLoop, iteration_seed,
                             seed_iteration)
from .retrieval_loop import (LPRRetrievalTestLoop, LPRRetrievalValLoop,
                             rank_livestream, rank_queries)
from .retrieval_visualization_hook import RetrievalVisualizationHook

__all__ = [
    'CPUAmpOptimWrapper', 'ClipVisualizationHook', 'LPRRetrievalTestLoop',
    'LPRRetrievalValLoop', 'ResumableEpochBasedTrainLoop',
    'RetrievalVisualizationHook', 'accelerator_available', 'iteration_seed',
    'rank_livestream', 'rank_queries', 'seed_iteration'
]
