from .token_encoder import TokenEncoder

__all__ = ['TokenEncoder']
