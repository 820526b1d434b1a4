from .metrics import IntendedProductMetric, IPDBoxDumper, LPRRetrievalMetric

__all__ = ['IntendedProductMetric', 'IPDBoxDumper', 'LPRRetrievalMetric']
