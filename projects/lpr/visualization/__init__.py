from .lpr_visualizer import GT_COLOR, PRED_COLOR, LPRVisualizer

__all__ = ['GT_COLOR', 'PRED_COLOR', 'LPRVisualizer']
