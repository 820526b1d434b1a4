"""LiveGroupedSampler: every rank gets exactly ``len(sampler)`` samples in
groups of one livestream, also when the dataset has fewer groups than one
global batch (an empty rank would skip the losses' all-gather and hang)."""
import numpy as np
import pytest

import lpr  # noqa: F401
from lpr.datasets import samplers
from lpr.datasets.samplers import LiveGroupedSampler


class _Lives:

    def __init__(self, num_lives: int, clips_per_live: int) -> None:
        self.lives = np.repeat(np.arange(num_lives) * 7, clips_per_live)

    def __len__(self) -> int:
        return len(self.lives)

    def live_ids(self) -> np.ndarray:
        return self.lives


def _samplers(dataset, world, batch, k, monkeypatch, shuffle=True):
    out = []
    for rank in range(world):
        monkeypatch.setattr(samplers, 'get_dist_info',
                            lambda r=rank: (r, world))
        out.append(LiveGroupedSampler(dataset, batch_size=batch,
                                      clips_per_live=k, shuffle=shuffle,
                                      seed=3))
    return out


@pytest.mark.parametrize(
    'lives,clips,batch,k,world',
    [(6, 10, 32, 8, 4),  # 12 groups for 16 per step: was [32, 32, 32, 0]
     (1, 3, 8, 4, 2), (20, 13, 16, 4, 2), (5, 8, 8, 4, 1)])
@pytest.mark.parametrize('shuffle', [True, False])
def test_every_rank_gets_full_batches(lives, clips, batch, k, world, shuffle,
                                      monkeypatch):
    dataset = _Lives(lives, clips)
    ranks = _samplers(dataset, world, batch, k, monkeypatch, shuffle)
    lengths = {len(s) for s in ranks}
    assert len(lengths) == 1 and lengths.pop() % batch == 0
    for s in ranks:
        for epoch in (0, 1):
            s.set_epoch(epoch)
            idx = list(s)
            assert len(idx) == len(s)
            for g in range(0, len(idx), k):  # each group: one livestream
                assert len(set(dataset.lives[idx[g:g + k]])) == 1


def test_empty_dataset_is_refused(monkeypatch):
    monkeypatch.setattr(samplers, 'get_dist_info', lambda: (0, 1))
    with pytest.raises(ValueError, match='non-empty'):
        LiveGroupedSampler(_Lives(0, 1), batch_size=8, clips_per_live=4,
                           seed=0)
