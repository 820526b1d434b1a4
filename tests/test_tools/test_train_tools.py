"""tools/train.py, --resume / load_from of full mmengine checkpoints, and
tools/dist_train.sh with 2 CPU processes (gloo)."""
import glob
import json
import math
import os.path as osp
import re
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


def _parameters(state_dict, model_keys):
    """The trainable tensors of a state dict (BN running statistics change
    in train mode whatever the learning rate)."""
    return {k: v for k, v in state_dict.items() if k in model_keys}


def _param_names():
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    import lpr  # noqa: F401
    cfg = Config.fromfile(CONFIG)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    return {name for name, _ in model.named_parameters()}


def _train_lines(log, epoch):
    return [line for line in log.splitlines()
            if f'Epoch(train) [{epoch}][' in line]


def test_resume_continues_from_the_checkpoint(trained, toy_root):
    """``--resume`` continues at the checkpoint's iteration with its
    weights and optimizer state: the checkpoint's learning rate is set to 0,
    so a resumed epoch 2 leaves every parameter exactly as saved (a run that
    started over would train a fresh initialisation), epoch 1 is not run
    again and the iteration counter goes on from the saved one."""
    path = osp.join(trained, 'epoch_1.pth')
    ckpt = torch.load(path, weights_only=False)
    for group in ckpt['optimizer']['param_groups']:
        group['lr'] = 0.0
    torch.save(ckpt, path)
    iters = ckpt['meta']['iter']
    assert iters > 0 and ckpt['meta']['epoch'] == 1

    log = train(trained, toy_root, 'train_cfg.max_epochs=2', '--resume')
    assert not _train_lines(log, 1), _train_lines(log, 1)[:2]
    second = _train_lines(log, 2)
    assert second and re.search(rf'\[2\]\[\s*1/{iters}\]', second[0]), \
        second[:1]
    out = torch.load(osp.join(trained, 'epoch_2.pth'), weights_only=False)
    assert out['meta']['epoch'] == 2 and out['meta']['iter'] == 2 * iters
    names = _param_names()
    saved = _parameters(ckpt['state_dict'], names)
    resumed = _parameters(out['state_dict'], names)
    assert saved.keys() == names and resumed.keys() == names
    for name in names:
        assert torch.equal(resumed[name], saved[name]), name


def test_load_from_starts_from_the_checkpoint_weights(trained, toy_root):
    """``load_from`` loads the weights (with learning rate 0 they stay the
    checkpoint's) and starts counting at iteration 0."""
    path = osp.join(trained, 'epoch_1.pth')
    ckpt = torch.load(path, weights_only=False)
    work_dir = osp.join(trained, 'finetune')
    log = train(work_dir, toy_root, 'train_cfg.max_epochs=1',
                'optim_wrapper.optimizer.lr=0.0', f'load_from={path}')
    assert 'Load checkpoint from' in log
    iters = ckpt['meta']['iter']
    assert re.search(rf'\[1\]\[\s*1/{iters}\]', _train_lines(log, 1)[0])
    out = torch.load(osp.join(work_dir, 'epoch_1.pth'), weights_only=False)
    assert out['meta']['iter'] == iters
    for name in _param_names():
        assert torch.equal(out['state_dict'][name],
                           ckpt['state_dict'][name]), name


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
