"""LPR: livestreaming product recognition for OpenMMLab.

Importing ``lpr`` applies the environment fixes in :mod:`lpr.compat` and
registers the plugin's datasets, transforms, models, metrics, hooks and
visualizer into the mmpretrain (retrieval) and mmdet (detection)
registries.
"""
from . import compat

compat.apply_all()

from . import datasets  # noqa: E402,F401
from . import models, text  # noqa: E402,F401
from . import engine, evaluation, visualization  # noqa: E402,F401
from .utils import registered_modules  # noqa: E402
from .version import __version__  # noqa: E402

__all__ = ['__version__', 'compat', 'registered_modules']
