from .rice import RICE

__all__ = ['RICE']
