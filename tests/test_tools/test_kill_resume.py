"""Kill and resume: toy RICE training killed with SIGKILL inside an epoch,
after a checkpoint, and resumed with ``--resume`` ends with the same
checkpoints, bit for bit, as a run that was never interrupted.

The config (tests/data/configs/rice-vit-tiny_resume_toy-lpr4m.py) runs the
data pipeline in the main process, with deterministic kernels and one CPU
thread, and uses :class:`lpr.engine.ResumableEpochBasedTrainLoop`, which
skips the batches the checkpoint has trained on and seeds every iteration
from ``(seed, iteration)``. Two controls show that both are needed:
mmengine's loop replays the epoch, and without per-iteration seeds the
resumed run draws other random numbers.
"""
import os
import os.path as osp
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from conftest import ROOT, run_env

CONFIG = osp.join(ROOT,
                  'tests/data/configs/rice-vit-tiny_resume_toy-lpr4m.py')
ITERS_PER_EPOCH = 3  # 24 toy clips, batches of 8
pytestmark = pytest.mark.slow


def command(work_dir, data_root, *extra):
    return [
        sys.executable,
        osp.join(ROOT, 'tools/train.py'), CONFIG, '--work-dir',
        str(work_dir), '--data-root', data_root, *extra
    ]


def train(work_dir, data_root, *extra):
    proc = subprocess.run(
        command(work_dir, data_root, *extra),
        env=run_env(),
        capture_output=True,
        text=True,
        timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


def load(path):
    return torch.load(path, map_location='cpu', weights_only=False)


def differences(a, b, where=''):
    """Paths at which two nested checkpoints differ (tensors bit for bit)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f'{where}: keys {sorted(set(a) ^ set(b))}']
        return [
            d for k in a for d in differences(a[k], b[k], f'{where}/{k}')
        ]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f'{where}: lengths {len(a)} != {len(b)}']
        return [
            d for i, (x, y) in enumerate(zip(a, b))
            for d in differences(x, y, f'{where}[{i}]')
        ]
    if torch.is_tensor(a):
        same = torch.is_tensor(b) and a.dtype == b.dtype and \
            a.shape == b.shape and torch.equal(a, b)
        return [] if same else [where]
    if isinstance(a, np.ndarray):
        return [] if np.array_equal(a, b) else [where]
    return [] if a == b else [f'{where}: {a!r} != {b!r}']


def training_state(ckpt):
    """What must continue exactly: weights, optimizer, schedulers, the
    position, and every logged loss so far."""
    scalars = ckpt['message_hub']['log_scalars']
    losses = {
        k: v.data[0]
        for k, v in scalars.items() if k.startswith('train/loss')
    }
    return dict(
        state_dict=ckpt['state_dict'],
        optimizer=ckpt['optimizer'],
        param_schedulers=ckpt['param_schedulers'],
        epoch=ckpt['meta']['epoch'],
        iter=ckpt['meta']['iter'],
        losses=losses)


@pytest.fixture(scope='module')
def data_root(toy_root, tmp_path_factory):
    root = str(tmp_path_factory.mktemp('resume') / 'toy')
    shutil.copytree(toy_root, root)
    return root


@pytest.fixture(scope='module')
def reference(data_root, tmp_path_factory):
    """The uninterrupted run: checkpoints after iterations 2, 4 and 6."""
    work = tmp_path_factory.mktemp('uninterrupted')
    train(work, data_root)
    for i in (2, 4, 6):
        assert osp.isfile(osp.join(work, f'iter_{i}.pth'))
    return work


def kill_after_checkpoint(work, data_root, name='iter_2.pth', timeout=600):
    """Start the training and SIGKILL it as soon as ``name`` is complete
    (mmengine writes ``last_checkpoint`` after the file)."""
    proc = subprocess.Popen(
        command(work, data_root),
        env=run_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    marker = osp.join(work, 'last_checkpoint')
    deadline = time.time() + timeout
    try:
        while time.time() < deadline and proc.poll() is None:
            if osp.isfile(marker):
                with open(marker) as f:
                    if f.read().strip().endswith(name):
                        break
            time.sleep(0.02)
        assert proc.poll() is None, 'the training ended before the kill'
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None and time.time() >= deadline:
            proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


def test_sigkill_inside_an_epoch_then_resume_is_bit_exact(
        reference, data_root, tmp_path):
    work = tmp_path / 'killed'
    kill_after_checkpoint(work, data_root)
    # Killed in iteration 3, the last batch of epoch 1: no later checkpoint.
    assert not osp.exists(osp.join(work, 'iter_4.pth'))
    assert not differences(
        training_state(load(osp.join(work, 'iter_2.pth'))),
        training_state(load(osp.join(reference, 'iter_2.pth'))))

    log = train(work, data_root, '--resume')
    assert 'resumed epoch: 0, iter: 2' in log
    assert 'Resuming epoch 1 at batch 3 of 3' in log
    # Only the untrained batch of epoch 1 runs, then epoch 2.
    assert 'Epoch(train) [1][1/3]' not in log
    assert 'Epoch(train) [1][3/3]' in log
    assert 'Epoch(train) [2][3/3]' in log
    for i in (4, 6):
        got = training_state(load(osp.join(work, f'iter_{i}.pth')))
        ref = training_state(load(osp.join(reference, f'iter_{i}.pth')))
        assert got['iter'] == i
        assert len(got['losses']['train/loss']) == i
        diff = differences(got, ref)
        assert not diff, (i, diff[:10])
    assert not osp.exists(osp.join(work, 'iter_8.pth'))


@pytest.mark.parametrize('control', ['mmengine_loop', 'no_iteration_seeds'])
def test_resume_controls_differ(reference, data_root, tmp_path, control):
    """Each half of the loop is needed: mmengine's loop trains epoch 1's
    first two batches again (and 8 iterations in all, not 6); without
    per-iteration seeds the resumed iterations draw other dropout masks,
    crops and flips."""
    options = {
        'mmengine_loop': ['train_cfg.type=EpochBasedTrainLoop'],
        'no_iteration_seeds': ['train_cfg.seed_iterations=False'],
    }[control]
    work = tmp_path / control
    train(work, data_root, '--resume', osp.join(reference, 'iter_2.pth'),
          '--cfg-options', *options)
    got = training_state(load(osp.join(work, 'iter_4.pth')))
    ref = training_state(load(osp.join(reference, 'iter_4.pth')))
    assert any(d.startswith('/state_dict') for d in differences(got, ref))
    if control == 'mmengine_loop':
        assert osp.isfile(osp.join(work, 'iter_8.pth'))
