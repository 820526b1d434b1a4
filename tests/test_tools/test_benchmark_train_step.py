"""tools/analysis_tools/benchmark_train_step.py: the runner of
tools/train.py and the bare loop train the same model on the same batches
(their first losses agree) and both are timed."""
import json
import math
import os.path as osp

import pytest
import torch
from conftest import ROOT, load_script

SCRIPT = osp.join(ROOT, 'tools', 'analysis_tools', 'benchmark_train_step.py')
CONFIG = osp.join(ROOT, 'configs', 'rice',
                  'rice_r18-slim_1xb32-18e_toy-lpr4m.py')


def _tool():
    return load_script(SCRIPT)


def test_runner_and_bare_loop_train_the_same_model(toy_root, tmp_path):
    out = tmp_path / 'result.json'
    result = _tool().main([
        CONFIG, '--data-root', toy_root, '--batch-size', '8', '--iters', '2',
        '--warmup', '1', '--repeats', '1', '--num-batches', '2',
        '--workers', '0', '--work-dir', str(tmp_path / 'work'), '--out',
        str(out)
    ])
    assert result['optim_wrapper'] == 'OptimWrapper'
    assert result['batch_size'] == 8
    assert len(result['rounds']) == 1
    assert result['runner_s'] > 0 and result['bare_s'] > 0
    assert math.isfinite(result['overhead'])
    assert result['runner_items_per_s'] == pytest.approx(8 /
                                                         result['runner_s'])
    # Same initial weights, same first batch: the same loss.
    assert result['first_loss_runner'] == pytest.approx(
        result['first_loss_bare'], rel=1e-5)
    assert json.loads(out.read_text())['overhead'] == result['overhead']


@pytest.mark.skipif(torch.cuda.is_available(), reason='a GPU is visible')
def test_cuda_without_a_gpu_is_a_clear_error(toy_root):
    with pytest.raises(SystemExit, match='no GPU'):
        _tool().main([CONFIG, '--data-root', toy_root, '--device', 'cuda'])
