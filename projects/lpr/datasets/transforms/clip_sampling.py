"""Which frames of a clip the model sees.

mmaction2's ``UniformSample`` duplicates frames of short clips and picks
random positions inside segments; LPR4M instead keeps at most ``T`` frames
chosen by a fixed uniform rule, never duplicates, and pads short clips with a
frame mask. These transforms implement the LPR4M rules.
"""
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS

CLIP_KEYS = ('frame_ids', 'frame_boxes')


def uniform_indices(num_total: int, num_frames: int, rule: str) -> np.ndarray:
    """Indices of at most ``num_frames`` frames out of ``num_total``.

    Args:
        num_total: frames in the clip.
        num_frames: the most frames to keep (``T``).
        rule: ``'chunk'``: the first frame of each of ``T`` near-equal chunks
            (numpy ``array_split``), how the official training file was
            built; ``'floor'``: ``floor(i * n / T)``, how the official query
            frames were picked; ``'linspace'``: ``linspace(0, n - 1, T)``
            truncated, the paper-era dataloader; ``'random_chunk'``: a
            random frame of each of the ``T`` chunks (segment sampling, as
            mmaction's ``SampleFrames`` draws training clips; uses numpy's
            global random state, seeded per worker by mmengine).

    Returns:
        np.ndarray: sorted int64 indices; all frames when ``n <= T``.
    """
    if num_total <= num_frames:
        return np.arange(num_total, dtype=np.int64)
    if rule == 'chunk':
        sizes = np.full(num_frames, num_total // num_frames)
        sizes[:num_total % num_frames] += 1
        return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    if rule == 'floor':
        return (np.arange(num_frames) * num_total // num_frames).astype(
            np.int64)
    if rule == 'linspace':
        return np.linspace(0, num_total - 1, num_frames).astype(np.int64)
    if rule == 'random_chunk':
        sizes = np.full(num_frames, num_total // num_frames)
        sizes[:num_total % num_frames] += 1
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        return (starts + np.floor(np.random.rand(num_frames) *
                                  sizes)).astype(np.int64)
    raise ValueError(f'unknown sampling rule {rule!r}')


def _take(results: Dict, keys: Sequence[str], inds: Sequence[int]) -> None:
    for key in keys:
        if key in results and results[key] is not None:
            values = results[key]
            results[key] = [values[i] for i in inds]


@TRANSFORMS.register_module()
class SampleClipFrames(BaseTransform):
    """Keep at most ``num_frames`` frames of a clip with an LPR4M uniform
    rule (deterministic, so test sampling is reproducible) or, for
    training, ``'random_chunk'`` segment sampling.

    Required Keys:

    - frame_ids (list[str])

    Modified Keys:

    - frame_ids
    - frame_boxes (optional, list of per-frame box lists)

    Added Keys:

    - num_frames (int): the clip length ``T`` that packing pads to.

    Args:
        num_frames: the most frames kept (``T``). Defaults to 10.
        rule: ``'chunk'``, ``'floor'``, ``'linspace'`` or
            ``'random_chunk'``; see
            :func:`uniform_indices`. Defaults to ``'chunk'``.
    """

    def __init__(self, num_frames: int = 10, rule: str = 'chunk') -> None:
        assert num_frames > 0
        assert rule in ('chunk', 'floor', 'linspace', 'random_chunk'), rule
        self.num_frames = num_frames
        self.rule = rule

    def transform(self, results: Dict) -> Dict:
        n = len(results['frame_ids'])
        _take(results, CLIP_KEYS, uniform_indices(n, self.num_frames,
                                                  self.rule))
        results['num_frames'] = self.num_frames
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_frames={self.num_frames}, '
                f'rule={self.rule!r})')


@TRANSFORMS.register_module()
class CutTail(BaseTransform):
    """Temporal augmentation of the official training recipe: with
    probability ``prob``, draw ``p`` from ``ratios`` and drop the last
    ``floor(n * p)`` frames (at least one frame stays). Training only; keep
    it out of test pipelines so test-time results are deterministic.

    Required Keys:

    - frame_ids

    Modified Keys:

    - frame_ids
    - frame_boxes (optional)

    Args:
        prob: probability of cutting. Defaults to 0.5.
        ratios: the fractions ``p`` to draw from. Defaults to
            0, 0.1, ..., 0.9.
    """

    def __init__(self,
                 prob: float = 0.5,
                 ratios: Optional[Sequence[float]] = None) -> None:
        assert 0 <= prob <= 1
        self.prob = prob
        self.ratios = tuple(ratios) if ratios is not None else tuple(
            i / 10 for i in range(10))
        assert all(0 <= r < 1 for r in self.ratios), self.ratios

    def transform(self, results: Dict) -> Dict:
        n = len(results['frame_ids'])
        if n == 0 or np.random.rand() >= self.prob:
            return results
        ratio = self.ratios[np.random.randint(len(self.ratios))]
        keep = max(1, n - int(np.floor(n * ratio)))
        _take(results, CLIP_KEYS, range(keep))
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(prob={self.prob}, '
                f'ratios={self.ratios})')


def frame_mask(num_valid: int, num_frames: int) -> List[bool]:
    return [i < num_valid for i in range(num_frames)]
