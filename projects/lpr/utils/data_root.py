"""Point every dataset of a config at one data root.

A config's ``data_root`` variable is copied into each dataset at load time
(``dataset=dict(data_root=data_root, ...)``) and into paths built from it
(``ann_file=f'{data_root}/...'``), so overriding the variable afterwards
changes nothing. :func:`set_data_root` rewrites the copies instead: the
``data_root`` of every dataset of every dataloader (``train_dataloader``,
``val_dataloader``, ``test_dataloader``, the retrieval loops'
``gallery_dataloader``, datasets wrapped by ``ConcatDataset`` or
``RepeatDataset``), and every path below the old root anywhere else in the
config (the evaluators' ``ann_file``, a text vocabulary, box files). Paths
relative to a dataset's ``data_root`` (``ann_file``, ``data_prefix``, stores,
``box_file``) follow it unchanged.
"""
import os.path as osp
from typing import Any, Iterator, List, Optional, Set, Tuple

from mmengine.config import Config

# Keys whose paths are never data: where results go, what weights start.
_SKIP_KEYS = ('work_dir', 'load_from', 'resume_from')


def _norm(root: str) -> str:
    root = str(root)
    return root.rstrip('/') or root


def iter_dataloaders(cfg: Any,
                     prefix: str = '') -> Iterator[Tuple[str, dict]]:
    """Every dataloader config in ``cfg`` (a dict whose key ends with
    ``dataloader`` and that holds a ``dataset``), with its dotted key."""
    if isinstance(cfg, dict):
        for key, value in cfg.items():
            path = f'{prefix}.{key}' if prefix else str(key)
            if isinstance(value, dict) and str(key).endswith('dataloader') \
                    and 'dataset' in value:
                yield path, value
            yield from iter_dataloaders(value, path)
    elif isinstance(cfg, (list, tuple)):
        for i, value in enumerate(cfg):
            yield from iter_dataloaders(value, f'{prefix}.{i}')


def iter_datasets(dataset: Any,
                  prefix: str = 'dataset') -> Iterator[Tuple[str, dict]]:
    """The leaf dataset configs of a dataset config: itself, or those a
    wrapper holds in ``dataset`` (``RepeatDataset``, ...) or ``datasets``
    (``ConcatDataset``), recursively; with their dotted keys."""
    if not isinstance(dataset, dict):
        return
    inner = dataset.get('dataset')
    many = dataset.get('datasets')
    if isinstance(inner, dict):
        yield from iter_datasets(inner, f'{prefix}.dataset')
    elif isinstance(many, (list, tuple)):
        for i, ds in enumerate(many):
            yield from iter_datasets(ds, f'{prefix}.datasets.{i}')
    else:
        yield prefix, dataset


def _reroot(value: str, old_roots: List[str], new_root: str) -> str:
    for old in old_roots:
        if value == old:
            return new_root
        if value.startswith(old + '/'):
            return osp.join(new_root, value[len(old) + 1:])
    return value


def _reroot_paths(cfg: Any, old_roots: List[str], new_root: str,
                  prefix: str, seen: Set[int], changed: List[str]) -> None:
    if id(cfg) in seen:
        return
    seen.add(id(cfg))
    if isinstance(cfg, dict):
        items = list(cfg.items())
    elif isinstance(cfg, list):
        items = list(enumerate(cfg))
    else:
        return
    for key, value in items:
        path = f'{prefix}.{key}' if prefix else str(key)
        if key in _SKIP_KEYS:
            continue
        if isinstance(value, str):
            new = _reroot(value, old_roots, new_root)
            if new != value:
                cfg[key] = new
                changed.append(path)
        elif isinstance(value, tuple):
            new_tuple = tuple(
                _reroot(v, old_roots, new_root) if isinstance(v, str) else v
                for v in value)
            if new_tuple != value:
                cfg[key] = new_tuple
                changed.append(path)
        else:
            _reroot_paths(value, old_roots, new_root, path, seen, changed)


def set_data_root(cfg: Config,
                  data_root: str,
                  old_root: Optional[str] = None) -> List[str]:
    """Make every dataset of ``cfg`` read from ``data_root`` (in place).

    Args:
        cfg: a loaded config.
        data_root: the new root (absolute, or relative to the working
            directory as any config path).
        old_root: the root the config's paths were written with; by default
            the config's top-level ``data_root``. The datasets' own
            ``data_root`` values are re-rooted too.

    Returns:
        list[str]: the dotted keys that changed, for logging.

    Raises:
        ValueError: if ``data_root`` is empty, or the config has no
            dataloader with a dataset.
    """
    if not data_root:
        raise ValueError('data_root must be a non-empty path')
    new_root = _norm(osp.expanduser(data_root))
    tree = cfg._cfg_dict if isinstance(cfg, Config) else cfg
    loaders = list(iter_dataloaders(tree))
    if not loaders:
        raise ValueError('the config has no dataloader with a dataset to '
                         'point at a data root')
    leaves = []
    olds = {old_root if old_root is not None else cfg.get('data_root')}
    for key, loader in loaders:
        for ds_key, dataset in iter_datasets(loader['dataset']):
            leaves.append((f'{key}.{ds_key}.data_root', dataset))
            olds.add(dataset.get('data_root'))
    # Longest first; "." or "/" would match paths that are not data.
    old_roots = sorted({_norm(r) for r in olds if r} - {new_root, '.', '/'},
                       key=len, reverse=True)
    changed: List[str] = []
    if old_roots:  # first every path below an old root, datasets' included
        _reroot_paths(tree, old_roots, new_root, '', set(), changed)
    for key, dataset in leaves:  # then the datasets that had another root
        if dataset.get('data_root') != new_root:
            dataset['data_root'] = new_root
            changed.append(key)
    cfg['data_root'] = new_root
    return changed
