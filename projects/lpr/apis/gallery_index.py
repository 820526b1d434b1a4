"""A shop's encoded gallery, saved once and reused for every clip."""
import hashlib
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import mmcv
import numpy as np
import torch

from .inputs import read_image

INDEX_FORMAT = 'lpr-gallery-index'
INDEX_VERSION = 1
# Longest side of the thumbnails kept for images given as arrays.
THUMBNAIL_SIZE = 128


class GalleryMismatchError(ValueError):
    """A gallery index does not fit the model that ranks with it."""


def weights_sha256(model: torch.nn.Module) -> str:
    """SHA-256 of a model's weights: every state-dict entry's name, dtype,
    shape and bytes, in name order (the same weights give the same hash
    whatever file or device they came from)."""
    digest = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        digest.update(name.encode())
        if not torch.is_tensor(value):
            digest.update(repr(value).encode())
            continue
        t = value.detach().cpu()
        digest.update(f'{t.dtype}{tuple(t.shape)}'.encode())
        if t.numel():
            digest.update(
                t.contiguous().reshape(-1).view(torch.uint8).numpy().data)
    return digest.hexdigest()


def make_thumbnail(image: np.ndarray,
                   size: int = THUMBNAIL_SIZE) -> torch.Tensor:
    """An (H, W, 3) uint8 RGB image → an (h, w, 3) uint8 tensor whose
    longest side is at most ``size`` (the aspect ratio kept)."""
    h, w = image.shape[:2]
    scale = min(1.0, size / max(h, w))
    if scale < 1.0:
        image = mmcv.imresize(
            image, (max(1, round(w * scale)), max(1, round(h * scale))),
            interpolation='area')
    return torch.from_numpy(np.ascontiguousarray(image, dtype=np.uint8))


class GalleryIndex:
    """Encoded shop images of one gallery.

    Args:
        image_ids: N unique ids (file stems when built from files).
        embeddings: (N, E) unit image embeddings.
        weights_sha256: :func:`weights_sha256` of the model that encoded
            them.
        tokens: (N, Lq, D) image tokens for re-ranking, or ``None``.
        sources: per image, the file it was read from (``None`` for
            arrays), for pictures of a ranking.
        meta: anything else worth keeping (config name, pipeline...).
        thumbnails: per image, an (h, w, 3) uint8 RGB tensor (see
            :func:`make_thumbnail`) or ``None``: what pictures of a ranking
            show of images that have no source file.

    Raises:
        ValueError: the ids are not unique or the shapes disagree.
    """

    def __init__(self,
                 image_ids: Sequence[str],
                 embeddings: torch.Tensor,
                 weights_sha256: str,
                 tokens: Optional[torch.Tensor] = None,
                 sources: Optional[Sequence[Optional[str]]] = None,
                 meta: Optional[dict] = None,
                 thumbnails: Optional[Sequence[Optional[torch.Tensor]]] = None
                 ) -> None:
        self.image_ids: List[str] = [str(i) for i in image_ids]
        if len(set(self.image_ids)) != len(self.image_ids):
            seen, dup = set(), None
            for i in self.image_ids:
                if i in seen:
                    dup = i
                    break
                seen.add(i)
            raise ValueError(f'image ids must be unique; {dup!r} repeats')
        if embeddings.dim() != 2 or embeddings.shape[0] != len(
                self.image_ids):
            raise ValueError(f'embeddings of shape {tuple(embeddings.shape)} '
                             f'for {len(self.image_ids)} images')
        if tokens is not None and (tokens.dim() != 3 or tokens.shape[0] !=
                                   len(self.image_ids)):
            raise ValueError(f'tokens of shape {tuple(tokens.shape)} for '
                             f'{len(self.image_ids)} images')
        self.embeddings = embeddings
        self.tokens = tokens
        self.weights_sha256 = weights_sha256
        self.sources: List[Optional[str]] = list(
            sources) if sources is not None else [None] * len(self.image_ids)
        if len(self.sources) != len(self.image_ids):
            raise ValueError(f'{len(self.sources)} sources for '
                             f'{len(self.image_ids)} images')
        self.thumbnails: List[Optional[torch.Tensor]] = list(
            thumbnails) if thumbnails is not None else [None] * len(
                self.image_ids)
        if len(self.thumbnails) != len(self.image_ids):
            raise ValueError(f'{len(self.thumbnails)} thumbnails for '
                             f'{len(self.image_ids)} images')
        for i, t in zip(self.image_ids, self.thumbnails):
            if t is not None and (not torch.is_tensor(t) or t.dim() != 3
                                  or t.shape[2] != 3
                                  or t.dtype != torch.uint8):
                raise ValueError(f'the thumbnail of {i!r} is not an '
                                 '(h, w, 3) uint8 tensor')
        self.meta = dict(meta or {})
        self._on_device: Dict[str, Tuple] = {}

    def __len__(self) -> int:
        return len(self.image_ids)

    def __repr__(self) -> str:
        tokens = 'none' if self.tokens is None else tuple(self.tokens.shape)
        return (f'{self.__class__.__name__}(images={len(self)}, '
                f'embeddings={tuple(self.embeddings.shape)}, '
                f'tokens={tokens}, weights={self.weights_sha256[:12]})')

    def check_model(self, weights_sha256: str, needs_tokens: bool) -> None:
        """Raise unless this index can be ranked by a model with these
        weights.

        Raises:
            GalleryMismatchError: the index was encoded by other weights,
                or the model re-ranks and the index has no tokens.
        """
        if weights_sha256 != self.weights_sha256:
            raise GalleryMismatchError(
                f'the gallery index was built with other weights (sha256 '
                f'{self.weights_sha256[:12]}..., the model has '
                f'{weights_sha256[:12]}...); rebuild it with this model\'s '
                'build_gallery')
        if needs_tokens and self.tokens is None:
            raise GalleryMismatchError(
                'the model re-ranks with its matching decoder but the '
                'gallery index has no image tokens; rebuild it with this '
                'config (or build_gallery(..., keep_tokens=True))')

    def tensors(self, device: torch.device
                ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Embeddings (N, E) and tokens (N, Lq, D) or ``None`` on
        ``device`` (copied once per device)."""
        key = str(device)
        if key not in self._on_device:
            tokens = self.tokens.to(device) if self.tokens is not None \
                else None
            self._on_device[key] = (self.embeddings.to(device), tokens)
        return self._on_device[key]

    def picture(self, row: int) -> Optional[np.ndarray]:
        """What a picture of a ranking shows of gallery row ``row``: its
        source file, else its thumbnail, as an (H, W, 3) uint8 RGB array;
        ``None`` when neither can be read (e.g. an index moved to a
        machine without its image files)."""
        source = self.sources[row]
        if source and osp.isfile(source):
            img = read_image(source)
            if img is not None:
                return img
        thumb = self.thumbnails[row]
        return None if thumb is None else thumb.numpy()

    def save(self, path: str) -> None:
        """Write the index (a ``torch.save`` file of tensors and lists)."""
        folder = osp.dirname(osp.abspath(path))
        os.makedirs(folder, exist_ok=True)
        torch.save(
            dict(
                format=INDEX_FORMAT,
                version=INDEX_VERSION,
                image_ids=self.image_ids,
                embeddings=self.embeddings.cpu(),
                tokens=None if self.tokens is None else self.tokens.cpu(),
                weights_sha256=self.weights_sha256,
                sources=self.sources,
                thumbnails=self.thumbnails,
                meta=self.meta), path)

    @classmethod
    def load(cls, path: str) -> 'GalleryIndex':
        """Read an index written by :meth:`save`.

        Raises:
            ValueError: the file is missing or is not a gallery index.
        """
        if not osp.isfile(path):
            raise ValueError(f'gallery index {path} does not exist')
        try:
            data = torch.load(path, map_location='cpu', weights_only=True)
        except Exception as e:  # noqa: BLE001 - not a torch file
            raise ValueError(f'{path} is not a gallery index '
                             f'({type(e).__name__})') from None
        if not isinstance(data, dict) or data.get('format') != INDEX_FORMAT:
            raise ValueError(f'{path} is not a gallery index')
        if data.get('version') != INDEX_VERSION:
            raise ValueError(f'{path} is a version {data.get("version")} '
                             f'gallery index; this code reads version '
                             f'{INDEX_VERSION}')
        return cls(data['image_ids'], data['embeddings'],
                   data['weights_sha256'], data['tokens'], data['sources'],
                   data['meta'], data.get('thumbnails'))
