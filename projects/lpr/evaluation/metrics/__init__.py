from .lpr_retrieval import LPRRetrievalMetric

__all__ = ['LPRRetrievalMetric']
