"""Prepare a training checkpoint of the LPR plugin for release: keep the
model weights (``state_dict``) and ``meta``, drop the optimizer, parameter
scheduler and message-hub state, and add the first 8 hex digits of the
file's SHA-256 to its name.

    python tools/model_converters/publish_model.py \\
        work_dirs/rice/epoch_18.pth rice_r18-slim_1xb32-18e_toy-lpr4m.pth
    # -> rice_r18-slim_1xb32-18e_toy-lpr4m-<sha256[:8]>.pth

The training checkpoint is read with ``torch.load(weights_only=True)``:
besides tensors it may hold numpy arrays and scalars and mmengine's
``HistoryBuffer`` (the message hub's log history, which pickles its
statistics methods as ``getattr(HistoryBuffer, 'min')``). Exactly these
are allowed, for this load only (``getattr`` only on ``HistoryBuffer``'s
own methods); any other global in the file is refused. The published file
holds tensors and plain Python values only, so it loads with torch's
default ``weights_only=True`` anywhere, without importing ``lpr``.
"""
import argparse
import hashlib
import inspect
import os
import os.path as osp
import pickle
import types
from contextlib import contextmanager
from importlib import metadata
from typing import Any, Dict, Iterator, List, Tuple

import numpy as np
import torch

#: top-level keys of a training checkpoint that a release keeps.
KEPT_KEYS = ('meta', 'state_dict')


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` restricted to the public methods of mmengine's
    ``HistoryBuffer`` (what its pickled ``statistics_methods`` hold)."""
    from mmengine.logging import HistoryBuffer
    if obj is HistoryBuffer and not name.startswith('_') and isinstance(
            inspect.getattr_static(HistoryBuffer, name, None),
            types.FunctionType):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refused getattr({obj!r}, {name!r}): only methods of '
        'mmengine.logging.HistoryBuffer may be fetched')


def _checkpoint_globals() -> List[Any]:
    """The globals an mmengine training checkpoint may reference besides
    torch's defaults: numpy arrays, dtypes and scalars, ``HistoryBuffer``
    and the restricted ``getattr``."""
    from mmengine.logging import HistoryBuffer
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    dtype_classes = [
        getattr(np.dtypes, name) for name in dir(np.dtypes)
        if name.endswith('DType')
    ] if hasattr(np, 'dtypes') else []
    return [
        np.ndarray, np.dtype, _reconstruct, scalar, HistoryBuffer,
        (_history_buffer_getattr, 'builtins.getattr')
    ] + dtype_classes


@contextmanager
def _allow_checkpoint_globals() -> Iterator[None]:
    with torch.serialization.safe_globals(_checkpoint_globals()):
        yield


def load_training_checkpoint(path: str) -> Dict[str, Any]:
    """Read a full mmengine checkpoint on the CPU with
    ``weights_only=True`` and the allow-list above.

    Raises:
        ValueError: the file holds anything else (the message names the
            file and the refused global).
    """
    try:
        with _allow_checkpoint_globals():
            return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as err:
        # torch's message wraps the reason in advice to load with
        # weights_only=False; keep the reason.
        lines = [
            line.strip() for line in str(err).splitlines()
            if 'GLOBAL' in line or 'refused' in line or 'Unsupported' in line
        ]
        reason = ' '.join(lines) or str(err)
        raise ValueError(
            f'{path}: not read as an mmengine checkpoint of tensors, numpy '
            f'values and HistoryBuffer objects: {reason}') from err


def strip_checkpoint(checkpoint: Dict[str, Any]) -> Tuple[dict, List[str]]:
    """Keep ``state_dict`` and ``meta`` (with ``lpr_version`` added when
    the plugin is installed).

    Args:
        checkpoint: a full training checkpoint, or a bare state dict of
            tensors.

    Returns:
        tuple: the release dict and the names of the dropped keys.
    """
    if 'state_dict' not in checkpoint:
        if checkpoint and all(
                isinstance(v, torch.Tensor) for v in checkpoint.values()):
            checkpoint = dict(state_dict=checkpoint)
        else:
            raise ValueError('the checkpoint has no "state_dict" and is not '
                             'a state dict of tensors; keys: '
                             f'{sorted(checkpoint)[:10]}')
    dropped = sorted(k for k in checkpoint if k not in KEPT_KEYS)
    meta = dict(checkpoint.get('meta') or {})
    try:
        meta.setdefault('lpr_version', metadata.version('lpr'))
    except metadata.PackageNotFoundError:
        pass
    return dict(meta=meta, state_dict=checkpoint['state_dict']), dropped


def sha256_of(path: str, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def publish(in_file: str, out_file: str) -> str:
    """Write the release of ``in_file`` as ``<out_file stem>-<sha8>.pth``.

    Returns:
        str: the path written.
    """
    release, dropped = strip_checkpoint(load_training_checkpoint(in_file))
    stem = out_file[:-4] if out_file.endswith('.pth') else out_file
    out_dir = osp.dirname(osp.abspath(stem))
    os.makedirs(out_dir, exist_ok=True)
    tmp = f'{stem}.tmp.pth'
    torch.save(release, tmp)
    final = f'{stem}-{sha256_of(tmp)[:8]}.pth'
    os.replace(tmp, final)
    print(f'dropped: {", ".join(dropped) or "nothing"}; '
          f'{len(release["state_dict"])} tensors -> {final}')
    return final


def main() -> None:
    parser = argparse.ArgumentParser(
        description='Publish a checkpoint: weights and meta only, SHA-256 '
        'prefix in the file name')
    parser.add_argument('in_file', help='training checkpoint (.pth)')
    parser.add_argument(
        'out_file', help='output name; "-<sha256[:8]>.pth" replaces .pth')
    args = parser.parse_args()
    try:
        publish(args.in_file, args.out_file)
    except (ValueError, FileNotFoundError) as err:
        raise SystemExit(f'error: {err}')


if __name__ == '__main__':
    main()
