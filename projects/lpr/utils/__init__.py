from .registry_summary import registered_modules
from .tool_setup import load_tool_config, set_local_rank

__all__ = ['registered_modules', 'load_tool_config', 'set_local_rank']
