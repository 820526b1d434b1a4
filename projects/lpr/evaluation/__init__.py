from .metrics import LPRRetrievalMetric

__all__ = ['LPRRetrievalMetric']
