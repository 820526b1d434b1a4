from .ipd_box_dumper import IPDBoxDumper
from .ipd_metric import IntendedProductMetric
from .lpr_retrieval import LPRRetrievalMetric

__all__ = ['IPDBoxDumper', 'IntendedProductMetric', 'LPRRetrievalMetric']
