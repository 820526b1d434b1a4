from .transvod_lite import TransVODLite

__all__ = ['TransVODLite']
