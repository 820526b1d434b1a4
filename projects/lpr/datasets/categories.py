"""LPR4M product categories (id → name) as the annotation files give them.

The training videoinfo rows carry a category id and a category name
(documented columns 6 and 7); the release has no separate name table. The
official test files carry no category at all.
"""
from typing import Dict, Iterable, Optional, Tuple

from .annotations import PathOrPaths, expand_paths, parse_videoinfo_row
from .errors import AnnotationError


def _row_category(line: str) -> Tuple[int, str]:
    """(category id, name) of one videoinfo row (ValueError if malformed)."""
    cols = line.rstrip('\r\n').split('\t')
    if len(cols) == 11:  # the documented layout: no full parse needed
        return int(cols[5]), cols[6].strip()
    info = parse_videoinfo_row(line)
    return info.category_id, info.category_name


def load_categories(paths: PathOrPaths,
                    ids: Optional[Iterable[int]] = None) -> Dict[int, str]:
    """The categories named by the training videoinfo files.

    Each id takes the name of the first row that has it. Malformed rows are
    skipped here (:class:`~lpr.datasets.ClipIndex` counts and judges them).
    Names are made unique: an empty name becomes ``'category <id>'`` and a
    name shared by several ids gets ``' (<id>)'`` appended, so class names
    map back to one id.

    Args:
        paths: a videoinfo file, a glob of part files, or a list of them.
        ids: the ids to name; reading stops once all are named (the full
            release has 4M rows). ``None`` reads every row.

    Returns:
        dict: ``{category id: name}``, sorted by id.

    Raises:
        AnnotationError: an id of ``ids`` that no row names.
        FileNotFoundError: no file matches ``paths``.
    """
    files = expand_paths(paths)
    wanted = None if ids is None else {int(i) for i in ids}
    names: Dict[int, str] = {}
    for path in files:
        with open(path, encoding='utf-8') as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    cid, name = _row_category(line)
                except ValueError:
                    continue
                names.setdefault(cid, name)
                if wanted is not None and wanted <= names.keys():
                    break
        if wanted is not None and wanted <= names.keys():
            break
    if wanted is not None:
        missing = sorted(wanted - names.keys())
        if missing:
            raise AnnotationError(
                files[0], None, f'no training videoinfo row names the '
                f'categories {missing} ({len(files)} files read)')
        names = {i: names[i] for i in wanted}
    return _unique(names)


def _unique(names: Dict[int, str]) -> Dict[int, str]:
    out = {i: (n or f'category {i}') for i, n in sorted(names.items())}
    counts: Dict[str, int] = {}
    for n in out.values():
        counts[n] = counts.get(n, 0) + 1
    return {i: (f'{n} ({i})' if counts[n] > 1 else n) for i, n in out.items()}


def class_names(categories: Dict[int, str]) -> Tuple[str, ...]:
    """Class names indexed by category id (``classes[id]``), for datasets
    whose label is the category id itself; ids no row names are
    ``'category <id>'``."""
    if not categories:
        return ()
    if min(categories) < 0:
        raise ValueError(f'negative category id {min(categories)}')
    return tuple(
        categories.get(i, f'category {i}')
        for i in range(max(categories) + 1))
