"""The few environment fixes the plugin needs, applied when ``lpr`` is
imported, so users never patch installed packages.

* **Checkpoints under torch >= 2.6.** ``torch.load`` defaults to
  ``weights_only=True`` and rejects full mmengine checkpoints (their ``meta``
  holds numpy arrays and scalars and ``HistoryBuffer`` objects), which
  breaks ``--resume`` and ``load_from``. :func:`allow_mmengine_checkpoints`
  adds exactly those types to torch's safe globals, and in place of the
  built-in ``getattr`` that ``HistoryBuffer`` pickles (``getattr(cls,
  'min')``) a function that returns only ``HistoryBuffer``'s statistics
  methods (:func:`history_buffer_statistic`); everything else stays
  rejected.
* **mmpretrain with a new ``transformers``.** mmpretrain 1.2.0 imports
  ``apply_chunking_to_forward`` from ``transformers.modeling_utils``, which
  newer releases removed; :func:`guard_mmpretrain_multimodal` turns the
  multimodal models off before ``mmpretrain.models`` is imported when that
  import would fail.
* **mmaction2 1.2.0 wheel.** It lacks ``models/localizers/drn``, so
  ``import mmaction.models`` fails; :func:`patch_mmaction_drn` puts a
  placeholder module in its place.
* **Distributed runs without a GPU.** mmengine's ``pytorch`` launcher calls
  ``torch.cuda.set_device``; :func:`init_cpu_process_group` starts a gloo
  process group first, and mmengine then reuses it.
"""
import importlib
import importlib.util
import os
import pickle
import sys
import types
from typing import Optional

import torch


# The statistics methods HistoryBuffer registers by default; a pickled
# HistoryBuffer refers to each of them as getattr(HistoryBuffer, name).
HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


def history_buffer_statistic(owner: type, name: str):
    """What ``getattr`` resolves to in a ``weights_only`` checkpoint: only
    ``HistoryBuffer``'s default statistics methods.

    Args:
        owner: the object the pickle asks an attribute of.
        name: the attribute name.

    Returns:
        Callable: ``getattr(HistoryBuffer, name)``.

    Raises:
        pickle.UnpicklingError: for any other object or attribute.
    """
    from mmengine.logging import HistoryBuffer
    if owner is not HistoryBuffer or name not in HISTORY_BUFFER_STATISTICS:
        raise pickle.UnpicklingError(
            f'getattr({owner!r}, {name!r}) is not allowed in a weights-only '
            f'checkpoint: only HistoryBuffer.{{'
            f"{','.join(HISTORY_BUFFER_STATISTICS)}}} are")
    return getattr(HistoryBuffer, name)


def _torch_at_least(major: int, minor: int) -> bool:
    version = torch.__version__.split('+')[0].split('.')
    return tuple(int(v) for v in version[:2] if v.isdigit()) >= (major, minor)


def allow_mmengine_checkpoints() -> None:
    """Let ``torch.load(weights_only=True)`` read full mmengine checkpoints.

    Adds numpy's array, dtype and scalar types, ``HistoryBuffer`` and, under
    the name ``builtins.getattr``, :func:`history_buffer_statistic` to
    torch's safe globals. The built-in ``getattr`` itself is never
    allow-listed: a checkpoint that asks for any other attribute is
    refused.
    """
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is None:  # torch < 2.4: weights_only is not the default anyway
        return
    import numpy as np
    safe = [np.ndarray, np.dtype]
    try:  # numpy >= 1.25 / 2.x
        from numpy import dtypes
        safe += [
            getattr(dtypes, name) for name in dir(dtypes)
            if name.endswith('DType')
        ]
    except ImportError:  # pragma: no cover
        pass
    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    safe += [_reconstruct, scalar]
    from mmengine.logging import HistoryBuffer
    safe.append(HistoryBuffer)
    # (global, 'module.name') entries arrived in torch 2.6, with the
    # weights_only default; before it mmengine's loads are not weights-only.
    if _torch_at_least(2, 6):
        safe.append((history_buffer_statistic, 'builtins.getattr'))
    add(safe)


def guard_mmpretrain_multimodal() -> bool:
    """Disable mmpretrain's multimodal models if ``transformers`` is too new.

    Returns:
        bool: whether they were disabled.
    """
    if importlib.util.find_spec('transformers') is None:
        return False
    if 'mmpretrain.models' in sys.modules:
        return False  # too late to change; it imported fine
    try:
        modeling_utils = importlib.import_module('transformers.modeling_utils')
        compatible = hasattr(modeling_utils, 'apply_chunking_to_forward')
    except Exception:  # broken transformers install
        compatible = False
    if compatible:
        return False
    from mmpretrain.utils import dependency
    dependency.WITH_MULTIMODAL = False
    return True


def patch_mmaction_drn() -> bool:
    """Install a placeholder for mmaction2's missing ``drn`` localizer.

    Returns:
        bool: whether the placeholder was needed.
    """
    name = 'mmaction.models.localizers.drn'
    if name in sys.modules:
        return False
    spec = importlib.util.find_spec('mmaction')
    if spec is None or not spec.submodule_search_locations:
        return False
    pkg_dir = list(spec.submodule_search_locations)[0]
    if os.path.isdir(os.path.join(pkg_dir, 'models', 'localizers', 'drn')):
        return False

    class DRN:  # noqa: D401 - placeholder
        """Placeholder for the DRN localizer missing from the mmaction2
        1.2.0 wheel."""

        def __init__(self, *args, **kwargs):
            raise ImportError('DRN is not available in the mmaction2 1.2.0 '
                              'wheel (open-mmlab/mmaction2#2714)')

    pkg = types.ModuleType(name)
    pkg.__path__ = []  # a package
    mod = types.ModuleType(name + '.drn')
    mod.DRN = DRN
    pkg.drn = mod
    pkg.DRN = DRN
    sys.modules[name] = pkg
    sys.modules[name + '.drn'] = mod
    return True


def init_cpu_process_group(backend: Optional[str] = None) -> bool:
    """Start the default process group from torchrun's environment when no
    GPU is usable, so mmengine's launcher does not call
    ``torch.cuda.set_device``.

    Args:
        backend: process group backend; ``LPR_DIST_BACKEND`` or ``gloo`` by
            default.

    Returns:
        bool: whether this function started the process group.
    """
    import torch.distributed as dist
    if dist.is_initialized() or torch.cuda.is_available():
        return False
    if 'RANK' not in os.environ or 'WORLD_SIZE' not in os.environ:
        raise RuntimeError('--launcher pytorch needs RANK and WORLD_SIZE; '
                           'start it with tools/dist_train.sh (torchrun)')
    dist.init_process_group(
        backend=backend or os.environ.get('LPR_DIST_BACKEND', 'gloo'),
        init_method='env://')
    return True


def adapt_cfg_to_cpu_distributed(cfg) -> None:
    """Config changes for a distributed run on CPU processes: the gloo
    backend, and DDP without ``device_ids`` (mmengine's default wrapper passes
    ``device_ids=[LOCAL_RANK]``, which DDP rejects for CPU modules)."""
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    cfg.env_cfg.dist_cfg['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg', None)
    if wrapper is None:
        wrapper = dict(
            type='MMDistributedDataParallel',
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def apply_all() -> None:
    """The fixes that are safe to apply on import."""
    allow_mmengine_checkpoints()
    guard_mmpretrain_multimodal()
    patch_mmaction_drn()
