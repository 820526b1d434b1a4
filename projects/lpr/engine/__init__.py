from .amp import CPUAmpOptimWrapper, accelerator_available
from .resumable_loop import (ResumableEpochBasedTrainLoop, iteration_seed,
                             seed_iteration)
from .retrieval_loop import (LPRRetrievalTestLoop, LPRRetrievalValLoop,
                             rank_livestream, rank_queries)

__all__ = [
    'CPUAmpOptimWrapper', 'LPRRetrievalTestLoop', 'LPRRetrievalValLoop',
    'ResumableEpochBasedTrainLoop', 'accelerator_available',
    'iteration_seed', 'rank_livestream', 'rank_queries', 'seed_iteration'
]
