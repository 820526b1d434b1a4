from .registry_summary import registered_modules

__all__ = ['registered_modules']
