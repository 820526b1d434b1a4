from .data_root import set_data_root
from .progress import ProgressBar, track_iter_progress
from .registry_summary import registered_modules
from .tool_setup import load_tool_config, set_local_rank

__all__ = [
    'registered_modules', 'load_tool_config', 'set_local_rank',
    'set_data_root', 'ProgressBar', 'track_iter_progress'
]
