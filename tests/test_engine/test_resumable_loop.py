"""ResumableEpochBasedTrainLoop in process: a resume from a checkpoint saved
inside an epoch continues bit-exactly (random augmentation, dropout,
shuffled order), where mmengine's loop does not."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

from lpr.engine import ResumableEpochBasedTrainLoop, iteration_seed
from lpr.engine.resumable_loop import _SkipFirst


class NoisyData(Dataset):
    """Draws its augmentation from NumPy's global generator."""

    def __len__(self):
        return 10

    def __getitem__(self, idx):
        x = np.full(4, 0.1 * idx, np.float32) + np.random.randn(4).astype(
            np.float32)
        return dict(inputs=torch.from_numpy(x), target=torch.tensor(
            float(idx % 3)))


class DropoutModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(4, 8), torch.nn.Dropout(0.5),
            torch.nn.Linear(8, 1))

    def forward(self, inputs, target=None, mode='tensor'):
        out = self.net(inputs).squeeze(-1)
        if mode == 'loss':
            return dict(loss=((out - target)**2).mean())
        return out


def run(work_dir, loop='ResumableEpochBasedTrainLoop', resume=None, **kw):
    torch.manual_seed(0)
    runner = Runner(
        model=DropoutModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=NoisyData(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=3,  # 3 full batches + 1 of 1 per epoch
            num_workers=0,
            collate_fn=dict(type='default_collate')),
        train_cfg=dict(type=loop, max_epochs=2, **kw),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01,
                                          momentum=0.9)),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', by_epoch=False,
                            interval=2),
            logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=3),
        load_from=resume,
        resume=resume is not None,
        default_scope='mmpretrain')
    runner.train()
    return runner


def weights(path):
    return torch.load(path, weights_only=False)['state_dict']


def same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    work = tmp_path_factory.mktemp('uninterrupted')
    run(work)
    return work


def test_resume_inside_epoch_is_bit_exact(uninterrupted, tmp_path):
    # iter_2: 2 of epoch 1's 4 batches trained.
    runner = run(tmp_path, resume=osp.join(uninterrupted, 'iter_2.pth'))
    assert runner.iter == 8 and runner.epoch == 2
    for i in (4, 6, 8):
        assert same(weights(osp.join(tmp_path, f'iter_{i}.pth')),
                    weights(osp.join(uninterrupted, f'iter_{i}.pth'))), i


def test_resume_at_epoch_boundary_is_bit_exact(uninterrupted, tmp_path):
    run(tmp_path, resume=osp.join(uninterrupted, 'iter_4.pth'))
    assert same(weights(osp.join(tmp_path, 'iter_8.pth')),
                weights(osp.join(uninterrupted, 'iter_8.pth')))


@pytest.mark.parametrize('loop,kw', [('EpochBasedTrainLoop', {}),
                                     ('ResumableEpochBasedTrainLoop',
                                      dict(seed_iterations=False))])
def test_controls_differ(tmp_path, loop, kw):
    ref = tmp_path / 'ref'
    run(ref, loop=loop, **kw)
    runner = run(tmp_path / 'resumed', loop=loop,
                 resume=osp.join(ref, 'iter_2.pth'), **kw)
    if loop == 'EpochBasedTrainLoop':  # the epoch is trained again
        assert runner.iter == 10
    assert not same(weights(osp.join(tmp_path, 'resumed', 'iter_8.pth')),
                    weights(osp.join(ref, 'iter_8.pth')))


def test_skip_first_keeps_the_length():
    s = _SkipFirst(list(range(7)), 3)
    assert list(s) == [3, 4, 5, 6] and len(s) == 7


def test_iteration_seeds():
    seeds = {iteration_seed(s, i) for s in range(3) for i in range(100)}
    assert len(seeds) == 300
    assert iteration_seed(5, 7) == iteration_seed(5, 7)
    assert all(0 <= s < 2**32 for s in seeds)


def test_unsupported_batch_sampler_is_refused():
    loop = ResumableEpochBasedTrainLoop.__new__(ResumableEpochBasedTrainLoop)
    loop.dataloader = type('Loader', (), {'batch_sampler': object()})()
    with pytest.raises(TypeError, match='cannot resume inside an epoch'):
        loop._loader_skipping(2)
    assert loop._loader_skipping(0) is None


def test_one_epoch_recipes_use_it():
    from mmengine.config import Config

    from conftest import ROOT
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/rice/rice_vit-b-p32_8xb32-1e_lpr4m.py'))
    assert cfg.train_cfg.type == 'ResumableEpochBasedTrainLoop'
    assert cfg.default_hooks.checkpoint.by_epoch is False
