"""tools/train.py, --resume / load_from of full mmengine checkpoints, and
tools/dist_train.sh with 2 CPU processes (gloo)."""
import glob
import json
import math
import os.path as osp
import socket
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, run_env

CONFIG = osp.join(ROOT, 'tests/data/configs/shop-cls_resnet18-tiny_toy-lpr4m.py')


def train(work_dir, data_root, *extra, launcher=None, timeout=300):
    cmd = [
        sys.executable,
        osp.join(ROOT, 'tools/train.py'), CONFIG, '--work-dir',
        str(work_dir), '--cfg-options', f'data_root={data_root}',
        f'train_dataloader.dataset.data_root={data_root}', *extra
    ]
    proc = subprocess.run(
        cmd, env=run_env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def trained(toy_root, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('train')
    train(work_dir, toy_root, 'train_cfg.max_epochs=1')
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    return work_dir


def test_full_checkpoint_needs_the_fix_and_loads_with_it(trained):
    ckpt = osp.join(trained, 'epoch_1.pth')
    # Without the plugin, torch's weights_only default rejects the file ...
    probe = ('import torch, sys; torch.load(sys.argv[1]); print("loaded")')
    proc = subprocess.run([sys.executable, '-c', probe, ckpt],
                          capture_output=True, text=True)
    if torch.__version__ >= '2.6':
        assert proc.returncode != 0 and 'weights_only' in proc.stderr
    # ... and after `import lpr` it loads, with only the allow-listed types.
    proc = subprocess.run(
        [sys.executable, '-c', 'import lpr; ' + probe, ckpt],
        env=run_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'loaded' in proc.stdout


def test_arbitrary_pickles_stay_rejected(tmp_path):
    import lpr  # noqa: F401
    path = tmp_path / 'evil.pth'
    torch.save({'obj': subprocess.Popen}, path)  # a class, not allow-listed
    with pytest.raises(Exception, match='weights_only|Unsupported global'):
        torch.load(path)


def test_resume_and_load_from(trained, toy_root):
    log = train(trained, toy_root, 'train_cfg.max_epochs=2', '--resume')
    assert 'resumed epoch: 1' in log.lower() or 'resumed' in log.lower()
    assert osp.isfile(osp.join(trained, 'epoch_2.pth'))
    ckpt = torch.load(osp.join(trained, 'epoch_2.pth'), weights_only=False)
    assert ckpt['meta']['epoch'] == 2
    log = train(
        osp.join(trained, 'finetune'), toy_root, 'train_cfg.max_epochs=1',
        f"load_from={osp.join(trained, 'epoch_1.pth')}")
    assert 'Load checkpoint from' in log


def test_dist_train_two_cpu_processes(toy_root, tmp_path):
    env = run_env()
    env['PORT'] = str(free_port())
    proc = subprocess.run(
        [
            'bash',
            osp.join(ROOT, 'tools/dist_train.sh'), CONFIG, '2', '--work-dir',
            str(tmp_path), '--cfg-options', f'data_root={toy_root}',
            f'train_dataloader.dataset.data_root={toy_root}',
            'train_cfg.max_epochs=1'
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert 'Distributed training: True' in out
    assert "dist_cfg: {'backend': 'gloo'}" in out
    # Batch 4 per process: the shop images are split between 2 processes.
    with open(osp.join(toy_root, 'meta.json')) as f:
        n_images = json.load(f)['stats']['training']['shop_images']
    iters = math.ceil(n_images / 2 / 4)
    assert f'Epoch(train) [1][{iters}/{iters}]' in out
    assert osp.isfile(osp.join(tmp_path, 'epoch_1.pth'))
    logs = glob.glob(osp.join(tmp_path, '*', '*.log'))
    assert logs
