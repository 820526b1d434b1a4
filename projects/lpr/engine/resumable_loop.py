"""An epoch-based training loop that resumes where a checkpoint was saved,
inside an epoch too, and gives every iteration its own seed."""
import itertools
import logging
import random
from typing import Iterator, Optional

import numpy as np
import torch
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop
from mmpretrain.registry import LOOPS
from torch.utils.data import BatchSampler, DataLoader, Sampler


def iteration_seed(seed: int, iteration: int) -> int:
    """A 32-bit seed for one training iteration, mixed from the run's seed
    (which holds the rank offset when ranks draw different numbers) and
    the iteration (``numpy.random.SeedSequence``, so that neighbouring
    seeds and iterations give unrelated streams)."""
    return int(
        np.random.SeedSequence([seed % 2**63, iteration]).generate_state(1)[0])


def seed_iteration(seed: int, iteration: int) -> None:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) global generators
    for one iteration (see :func:`iteration_seed`)."""
    s = iteration_seed(seed, iteration)
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)


class _SkipFirst(Sampler):
    """A sampler's indices without the first ``n``; ``len()`` stays the
    sampler's, so the loader's length (and the logged ``[i/N]``) is the
    epoch's."""

    def __init__(self, sampler, n: int) -> None:
        self.sampler = sampler
        self.n = n

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(iter(self.sampler), self.n, None)

    def __len__(self) -> int:
        return len(self.sampler)


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """mmengine's :class:`~mmengine.runner.EpochBasedTrainLoop`, with a
    resume that continues inside the epoch and randomness that a resume
    reproduces.

    mmengine's loop restarts the interrupted epoch from its first batch
    when resumed from an iteration checkpoint (``CheckpointHook(by_epoch=
    False)``): a one-epoch recipe killed at iteration 3,000 trains the first
    3,000 batches twice and runs past its schedule. This loop skips the
    batches the checkpoint has trained on: the sampler's indices are cut
    (nothing is loaded), and the epoch's order is the uninterrupted one
    because samplers derive it from ``(seed, epoch)``.

    mmengine seeds the global generators once, at start-up, and does not
    checkpoint their states, so a resumed run draws other dropout masks,
    crops and flips than the uninterrupted one. Here Python's, NumPy's and
    torch's generators are seeded before every iteration's batch is fetched
    from ``(seed, iteration)`` (:func:`iteration_seed`): whatever the main
    process draws for iteration ``i`` (the augmentation when
    ``num_workers=0``, dropout, random negatives) depends on ``i`` only,
    and a resumed run continues bit-exactly (on a deterministic device).

    Dataloader workers draw from their own generators, which mmengine seeds
    from the config's seed when they start (every epoch without
    ``persistent_workers``; once with them). With workers, a resume at an
    epoch boundary is exact without persistent workers; inside an epoch, or
    with persistent workers, the samples and their order are the same but
    the workers' crops and flips are new draws.

    Args:
        runner: the runner.
        dataloader: the training dataloader or its config.
        max_epochs: epochs to train.
        val_begin: the epoch validation starts after.
        val_interval: validate every ``val_interval`` epochs.
        dynamic_intervals: ``[(epoch, interval), ...]`` changes of
            ``val_interval``.
        seed_iterations: seed every iteration as above (``False`` keeps
            mmengine's single seeding; resumes then skip the trained batches
            but draw new random numbers).
    """

    def __init__(self,
                 runner,
                 dataloader,
                 max_epochs: int,
                 val_begin: int = 1,
                 val_interval: int = 1,
                 dynamic_intervals=None,
                 seed_iterations: bool = True) -> None:
        super().__init__(runner, dataloader, max_epochs, val_begin,
                         val_interval, dynamic_intervals)
        self.seed_iterations = seed_iterations

    def _trained_in_epoch(self) -> int:
        """Batches of the current epoch the loaded state has trained on."""
        return max(0, self._iter - self._epoch * len(self.dataloader))

    def _loader_skipping(self, n: int) -> Optional[BatchSampler]:
        """Make the loader start at batch ``n``; returns the batch sampler
        whose sampler was replaced (``None`` when nothing was), to restore
        after the epoch."""
        loader: DataLoader = self.dataloader
        batch_sampler = getattr(loader, 'batch_sampler', None)
        if n == 0:
            return None
        if isinstance(batch_sampler, BatchSampler) and isinstance(
                batch_sampler.batch_size, int):
            batch_sampler.sampler = _SkipFirst(batch_sampler.sampler,
                                               n * batch_sampler.batch_size)
            return batch_sampler
        raise TypeError(
            f'cannot resume inside an epoch with the batch sampler '
            f'{type(batch_sampler).__name__}: the loop skips batches by '
            'cutting the indices of a torch BatchSampler')

    def run_epoch(self) -> None:
        """Iterate over the epoch's batches that have not been trained on."""
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        start = self._trained_in_epoch()
        if start:
            print_log(
                f'Resuming epoch {self._epoch + 1} at batch {start + 1} of '
                f'{len(self.dataloader)}: the first {start} are skipped '
                '(not loaded)',
                logger='current',
                level=logging.INFO)
        patched = self._loader_skipping(start)
        try:
            if self.seed_iterations:  # the first batch's fetch
                seed_iteration(self.runner.seed, self._iter)
            batches = iter(self.dataloader)
            for idx in range(start, len(self.dataloader)):
                if self.seed_iterations:
                    seed_iteration(self.runner.seed, self._iter)
                try:
                    data_batch = next(batches)
                except StopIteration:
                    break
                self.run_iter(idx, data_batch)
        finally:
            if patched is not None:
                patched.sampler = patched.sampler.sampler
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1
