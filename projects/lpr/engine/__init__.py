from .amp import CPUAmpOptimWrapper, accelerator_available
from .retrieval_loop import (LPRRetrievalTestLoop, LPRRetrievalValLoop,
                             rank_livestream, rank_queries)

__all__ = [
    'CPUAmpOptimWrapper', 'LPRRetrievalTestLoop', 'LPRRetrievalValLoop',
    'accelerator_available', 'rank_livestream', 'rank_queries'
]
