from .gather import gather_objects, gather_with_grad, is_distributed, rank_offset

__all__ = ['gather_objects', 'gather_with_grad', 'is_distributed',
           'rank_offset']
