"""Batches built from few livestreams, so in-batch negatives are products
of the same shop (the products a query must be told apart from)."""
import logging
import math
from typing import Iterator, Optional

import numpy as np
import torch
from mmengine.dist import get_dist_info, sync_random_seed
from mmengine.logging import print_log
from mmpretrain.registry import DATA_SAMPLERS
from torch.utils.data import Sampler


@DATA_SAMPLERS.register_module()
class LiveGroupedSampler(Sampler):
    """Sample groups of ``clips_per_live`` clips of one livestream.

    With uniform sampling almost every in-batch negative comes from another
    livestream, whose room, host and product category already tell it
    apart; the contrastive and matching losses then learn the livestream,
    not the product. Grouping puts look-alike products of one shop into
    every batch. Each rank's batch of ``batch_size`` holds
    ``batch_size / clips_per_live`` groups; an epoch visits every clip about
    once (a livestream's leftover clips are topped up with repeats).

    Every rank gets exactly ``len(self)`` samples, so every step is a full
    global batch on every rank (the losses all-gather over ranks each
    step). A dataset with fewer groups than one global batch needs
    (``world_size * batch_size / clips_per_live``) has its livestreams
    grouped again, with new permutations, until the step is full: clips
    then repeat within the epoch's only step.

    Args:
        dataset: a dataset with ``live_ids()`` (one integer per sample).
        batch_size: the per-rank batch size of the dataloader.
        clips_per_live: clips of one livestream per group.
        shuffle: shuffle clips and groups every epoch (``False`` keeps a
            fixed order).
        seed: random seed (synchronised across ranks when ``None``).
    """

    def __init__(self,
                 dataset,
                 batch_size: int,
                 clips_per_live: int = 4,
                 shuffle: bool = True,
                 seed: Optional[int] = None) -> None:
        if batch_size % clips_per_live:
            raise ValueError(f'batch_size {batch_size} must be a multiple of '
                             f'clips_per_live {clips_per_live}')
        self.dataset = dataset
        self.batch_size = batch_size
        self.clips_per_live = clips_per_live
        self.shuffle = shuffle
        self.rank, self.world_size = get_dist_info()
        self.seed = sync_random_seed() if seed is None else seed
        self.epoch = 0
        lives = np.asarray(dataset.live_ids())
        self.groups_by_live = [
            np.nonzero(lives == live)[0] for live in np.unique(lives)
        ]
        if not self.groups_by_live:
            raise ValueError('LiveGroupedSampler needs a non-empty dataset')
        n_groups = sum(
            math.ceil(len(g) / clips_per_live) for g in self.groups_by_live)
        per_step = self.world_size * batch_size // clips_per_live
        self.num_steps = max(1, n_groups // per_step)
        self.num_samples = self.num_steps * batch_size
        if n_groups < per_step:
            print_log(
                f'LiveGroupedSampler: {n_groups} groups of {clips_per_live} '
                f'clips, fewer than the {per_step} of one global batch '
                f'({self.world_size} ranks x {batch_size}); clips repeat '
                'within the step', logger='current', level=logging.WARNING)

    def _group(self, rng: np.random.Generator) -> list:
        """One pass over the livestreams: groups of ``clips_per_live``."""
        k = self.clips_per_live
        groups = []
        for members in self.groups_by_live:
            members = rng.permutation(members) if self.shuffle else members
            n = math.ceil(len(members) / k) * k
            if n > len(members):  # top up with repeats of the same live
                extra = rng.choice(members, n - len(members))
                members = np.concatenate([members, extra])
            groups += [members[i:i + k] for i in range(0, n, k)]
        order = rng.permutation(len(groups)) if self.shuffle else range(
            len(groups))
        return [groups[i] for i in order]

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng(self.seed + self.epoch)
        k = self.clips_per_live
        per_batch = self.batch_size // k
        per_step = per_batch * self.world_size
        groups = self._group(rng)
        while len(groups) < self.num_steps * per_step:  # fill the step
            groups += self._group(rng)
        out = []
        for step in range(self.num_steps):
            step_groups = groups[step * per_step:(step + 1) * per_step]
            mine = step_groups[self.rank * per_batch:(self.rank + 1) *
                               per_batch]
            for g in mine:
                out.extend(int(i) for i in g)
        return iter(out)

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
