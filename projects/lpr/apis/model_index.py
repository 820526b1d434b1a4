"""Model names of the repository's ``model-index.yml`` (the configs'
``metafile.yml`` files, in the OpenMMLab layout) → config paths."""
import fnmatch
import os.path as osp
from functools import lru_cache
from typing import Dict, List, Optional

# projects/lpr/apis → the repository root.
REPO_ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))


@lru_cache(maxsize=None)
def _models(index_file: str) -> Dict[str, str]:
    if not osp.isfile(index_file):
        return {}
    from modelindex.load_model_index import load
    index = load(index_file)
    index.build_models_with_collections()
    root = osp.dirname(index_file)
    return {
        m.name.lower(): m.config if osp.isabs(m.config) else osp.join(
            root, m.config)
        for m in index.models if m.config
    }


def list_models(pattern: Optional[str] = None,
                index_file: str = osp.join(REPO_ROOT,
                                           'model-index.yml')) -> List[str]:
    """Names in the model index (matching a wildcard ``pattern``)."""
    names = sorted(_models(index_file))
    if pattern:
        names = [n for n in names if fnmatch.fnmatch(n, pattern.lower())]
    return names


def resolve_config(model: str,
                   index_file: str = osp.join(REPO_ROOT, 'model-index.yml')
                   ) -> str:
    """A config path, or a model-index name → its config path.

    Raises:
        ValueError: ``model`` is neither an existing file nor a name of the
            index.
    """
    if osp.isfile(model):
        return model
    config = _models(index_file).get(model.lower())
    if config is None:
        close = list_models(f'*{model}*', index_file)[:5]
        hint = f'; similar names: {", ".join(close)}' if close else ''
        raise ValueError(f'{model!r} is neither a config file nor a model '
                         f'name of {index_file}{hint}')
    return config
