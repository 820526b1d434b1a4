"""Where frame and image files live: id-named folders or img2dataset shards.

A store maps an LPR4M id (frame id or image id) to the encoded bytes of its
JPEG, or ``None`` when the file is missing, so loaders can skip and count
missing frames instead of crashing.

* :class:`FolderStore`: ``<root>/<clip_id>/<frame_id>.jpg`` (``layout='clip'``,
  the frame folders of the toy set and of LPR4M query folders) or
  ``<root>/<id>.jpg`` (``layout='flat'``, shop images).
* :class:`ShardStore`: img2dataset ``--output_format files`` shards
  (``<root>/00000/000000001.jpg`` + ``.json`` holding the source ``url``). The
  id of an item is the file name of its url. The id → shard/key map is built
  once by scanning the JSON files and saved in ``lpr_shard_index/`` in the
  shard root (or ``index_path``): 64-bit id hashes sorted for binary search
  plus shard and key, 28 bytes per item with the item's original size
  (``original_width``/``original_height``: img2dataset resizes what it
  stores), as ``.npy`` files that every dataloader worker memory-maps (one
  copy in the page cache, not one per worker).

``store.size(id)`` gives an item's original (width, height), which pixel
boxes are normalised by (see :mod:`lpr.datasets.boxes`).
"""
import hashlib
import io
import json
import os
import os.path as osp
import shutil
from typing import Dict, Optional, Tuple, Union

import numpy as np
from PIL import Image

from ..utils.progress import ProgressBar

INDEX_NAME = 'lpr_shard_index'
INDEX_KEYS = ('hash', 'shard', 'key', 'orig_w', 'orig_h')
Size = Tuple[int, int]  # (width, height)


def id_hash(item_id: str) -> int:
    """Stable 64-bit hash of an id (blake2b, not Python's salted hash)."""
    return int.from_bytes(
        hashlib.blake2b(item_id.encode(), digest_size=8).digest(), 'little')


def file_size(path: Optional[str]) -> Optional[Size]:
    """An image file's (width, height) from its header, or ``None`` when it
    is missing or not an image."""
    if path is None:
        return None
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def is_truncated_jpeg(data: bytes) -> bool:
    """A JPEG (it starts with the SOI marker) without its end marker (EOI,
    trailing zero padding allowed): the usual result of an interrupted
    download. Decoders fill the missing rows with grey instead of failing."""
    return data[:2] == b'\xff\xd8' and not data.rstrip(b'\x00').endswith(
        b'\xff\xd9')


def probe_image(data: Optional[bytes]) -> Tuple[Optional[Size], str]:
    """(size, '') for readable image bytes, else (None, reason): the reason
    is ``'missing'``, ``'not an image'`` or ``'truncated'`` (a JPEG without
    its end marker, the usual result of an interrupted download)."""
    if data is None:
        return None, 'missing'
    try:
        with Image.open(io.BytesIO(data)) as im:
            size, fmt = im.size, im.format
    except (OSError, ValueError, Image.DecompressionBombError):
        return None, 'not an image'
    if fmt == 'JPEG' and is_truncated_jpeg(data):
        return None, 'truncated'
    return size, ''


def _read(path: str) -> Optional[bytes]:
    try:
        with open(path, 'rb') as f:
            return f.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


class FolderStore:
    """Files named by their ids in a folder.

    Args:
        root: the folder.
        layout: ``'clip'`` for ``<root>/<clip_id>/<frame_id><ext>`` or
            ``'flat'`` for ``<root>/<id><ext>``.
        ext: file extension.
        sep: what separates the clip id from the frame index in a frame id
            (``'-'`` for LPR4M, ``'_'`` for MovingFashion frame folders).
    """

    def __init__(self,
                 root: str,
                 layout: str = 'flat',
                 ext: str = '.jpg',
                 sep: str = '-'):
        if layout not in ('clip', 'flat'):
            raise ValueError(f"layout must be 'clip' or 'flat', got {layout!r}")
        self.root = root
        self.layout = layout
        self.ext = ext
        self.sep = sep

    def path(self, item_id: str) -> str:
        if self.layout == 'clip':
            return osp.join(self.root, item_id.rsplit(self.sep, 1)[0],
                            item_id + self.ext)
        return osp.join(self.root, item_id + self.ext)

    def get(self, item_id: str) -> Optional[bytes]:
        """The file's bytes, or ``None`` when it is missing."""
        return _read(self.path(item_id))

    def size(self, item_id: str) -> Optional[Size]:
        """The file's (width, height), its original size, or ``None``."""
        return file_size(self.path(item_id))

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(root={self.root!r}, '
                f'layout={self.layout!r})')


def _read_item_json(path: str) -> dict:
    """An img2dataset item's JSON; a broken one raises ``ValueError``
    naming it."""
    try:
        with open(path, 'rb') as f:
            meta = json.loads(f.read().decode('utf-8'))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f'{path}: not a JSON item description ({e})') \
            from None
    if not isinstance(meta, dict):
        raise ValueError(f'{path}: not a JSON object')
    return meta


def build_shard_index(root: str) -> Dict[str, np.ndarray]:
    """Scan img2dataset shards and map every item id to its shard and key.

    Items whose ``status`` is not ``success`` are left out.

    Returns:
        dict: ``hash`` (N,) uint64 sorted, ``shard`` (N,) int32 shard folder
        number, ``key`` (N,) int64 file stem, ``orig_w``/``orig_h`` (N,)
        int32 original size (``original_width``/``original_height``, else
        ``width``/``height``, else 0 = unknown), and ``num_json`` (the number
        of JSON files scanned, to detect a stale index).

    Raises:
        ValueError: if two different ids hash to the same value, or one id
            appears twice.
    """
    hashes, shards, keys, sizes = [], [], [], []
    listing = []
    for shard_name in sorted(os.listdir(root)):
        shard_dir = osp.join(root, shard_name)
        if osp.isdir(shard_dir) and shard_name.isdigit():
            listing.append((shard_name, sorted(
                n for n in os.listdir(shard_dir) if n.endswith('.json'))))
    num_json = sum(len(names) for _, names in listing)
    bar = ProgressBar(
        num_json, desc=f'scanning {len(listing)} shard(s) of {root}',
        unit='items')
    for shard_name, names in listing:
        shard_dir = osp.join(root, shard_name)
        for name in names:
            bar.update()
            path = osp.join(shard_dir, name)
            meta = _read_item_json(path)
            if meta.get('status', 'success') != 'success':
                continue
            url = meta.get('url')
            if not url or not isinstance(url, str):
                raise ValueError(f'{path}: no url')
            item_id = osp.splitext(osp.basename(url.split('?')[0]))[0]
            try:
                key = int(name[:-5])
                size = (int(meta.get('original_width') or meta.get('width')
                            or 0),
                        int(meta.get('original_height') or meta.get('height')
                            or 0))
            except (TypeError, ValueError):
                raise ValueError(
                    f'{path}: the file name is not a number or the sizes '
                    'are not integers') from None
            hashes.append(id_hash(item_id))
            shards.append(int(shard_name))
            keys.append(key)
            sizes.append(size)
    bar.finish()
    hash_arr = np.array(hashes, np.uint64)
    order = np.argsort(hash_arr, kind='stable')
    hash_arr = hash_arr[order]
    if len(hash_arr) > 1 and (hash_arr[1:] == hash_arr[:-1]).any():
        raise ValueError(f'duplicate ids (or a 64-bit hash collision) in '
                         f'the shards under {root}')
    return dict(
        hash=hash_arr,
        shard=np.array(shards, np.int32)[order],
        key=np.array(keys, np.int64)[order],
        orig_w=np.array([w for w, _ in sizes], np.int32)[order],
        orig_h=np.array([h for _, h in sizes], np.int32)[order],
        num_json=np.array(num_json, np.int64))


def index_complete(path: str) -> bool:
    """Whether ``path`` holds an index with every array of
    :data:`INDEX_KEYS` (older indexes lack the sizes)."""
    return all(osp.exists(osp.join(path, k + '.npy')) for k in INDEX_KEYS)


def save_shard_index(index: Dict[str, np.ndarray], path: str) -> None:
    """Write an index from :func:`build_shard_index` atomically.

    Several processes may build the same index at once (dataloader workers
    that open a shard root without one): each writes to its own temporary
    folder and moves it into place; a complete index already in place is
    kept, and only an outdated one is replaced."""
    tmp = f'{path}.tmp{os.getpid()}'
    os.makedirs(tmp, exist_ok=True)
    for key in INDEX_KEYS:
        np.save(osp.join(tmp, key + '.npy'), index[key])
    with open(osp.join(tmp, 'meta.json'), 'w') as f:
        json.dump(dict(num_json=int(index['num_json'])), f)
    if osp.isdir(path) and not index_complete(path):  # an outdated index
        shutil.rmtree(path, ignore_errors=True)
    try:
        os.replace(tmp, path)
    except OSError:
        # Another process moved its index into place first.
        if not index_complete(path):
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class ShardStore:
    """Items of img2dataset ``files`` shards, looked up by id.

    Args:
        root: the shard root (holding ``00000/``, ``00001/``, ...).
        index_path: the folder of the id index; ``<root>/lpr_shard_index``
            by default. It is built on first use and reused afterwards.
        key_digits: digits of the item file stem (img2dataset uses 9).
    """

    def __init__(self,
                 root: str,
                 index_path: Optional[str] = None,
                 key_digits: int = 9):
        self.root = root
        self.index_path = index_path or osp.join(root, INDEX_NAME)
        self.key_digits = key_digits
        self._index: Optional[Dict[str, np.ndarray]] = None

    def _load_index(self) -> Dict[str, np.ndarray]:
        if self._index is None:
            # An index written before it held sizes is rebuilt.
            if not index_complete(self.index_path):
                save_shard_index(build_shard_index(self.root),
                                 self.index_path)
            self._index = {
                k: np.load(
                    osp.join(self.index_path, k + '.npy'), mmap_mode='r')
                for k in INDEX_KEYS
            }
        return self._index

    def __len__(self) -> int:
        return len(self._load_index()['hash'])

    def _find(self, item_id: str) -> Optional[int]:
        index = self._load_index()
        h = np.uint64(id_hash(item_id))
        pos = int(np.searchsorted(index['hash'], h))
        if pos >= len(index['hash']) or index['hash'][pos] != h:
            return None
        return pos

    def size(self, item_id: str) -> Optional[Size]:
        """The item's original (width, height) from its JSON (the stored
        file may be resized), or ``None`` when it is not in the shards."""
        pos = self._find(item_id)
        if pos is None:
            return None
        index = self._index
        w, h = int(index['orig_w'][pos]), int(index['orig_h'][pos])
        return (w, h) if w > 0 and h > 0 else file_size(self.path(item_id))

    def path(self, item_id: str) -> Optional[str]:
        pos = self._find(item_id)
        if pos is None:
            return None
        index = self._index
        return osp.join(self.root, f"{int(index['shard'][pos]):05d}",
                        f"{int(index['key'][pos]):0{self.key_digits}d}.jpg")

    def get(self, item_id: str) -> Optional[bytes]:
        path = self.path(item_id)
        return None if path is None else _read(path)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(root={self.root!r})'


class MappingStore:
    """Files listed by id (for datasets whose file names are not ids)."""

    def __init__(self, paths: Dict[str, str]):
        self.paths = dict(paths)

    def path(self, item_id: str) -> Optional[str]:
        return self.paths.get(item_id)

    def get(self, item_id: str) -> Optional[bytes]:
        path = self.paths.get(item_id)
        return None if path is None else _read(path)

    def size(self, item_id: str) -> Optional[Size]:
        return file_size(self.paths.get(item_id))

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({len(self.paths)} files)'


StoreCfg = Union[str, dict, FolderStore, ShardStore]


def build_store(cfg: StoreCfg, data_root: str = '') -> Union[FolderStore,
                                                             ShardStore]:
    """Build a store from a config.

    ``cfg`` is a store, a folder path (flat layout), or a dict
    ``dict(type='folder'|'shards', root=..., **kwargs)``; relative roots are
    joined to ``data_root``.
    """
    if isinstance(cfg, (FolderStore, ShardStore)):
        return cfg
    if isinstance(cfg, str):
        cfg = dict(type='folder', root=cfg)
    cfg = dict(cfg)
    kind = cfg.pop('type', 'folder')
    root = cfg.pop('root')
    if data_root and not osp.isabs(root):
        root = osp.join(data_root, root)
    if kind == 'folder':
        return FolderStore(root, **cfg)
    if kind == 'shards':
        return ShardStore(root, **cfg)
    raise ValueError(f"store type must be 'folder' or 'shards', got {kind!r}")
