from .retrieval_loop import (LPRRetrievalTestLoop, LPRRetrievalValLoop,
                             rank_queries)

__all__ = ['LPRRetrievalTestLoop', 'LPRRetrievalValLoop', 'rank_queries']
