"""What a GPU user runs first, on the CPU: tools/test.py with PMD
re-ranking under fp16 autocast, tools/train.py --amp on a toy RICE config,
and the LPR4M-scale evaluation benchmark (tiny sizes, 1 and 2 ranks)."""
import json
import os.path as osp
import subprocess
import sys

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS

from conftest import ROOT, run_env

CONFIG = osp.join(ROOT, 'configs/rice/rice_r18-slim_1xb32-18e_toy-lpr4m.py')


def _test_options(root):
    return [
        f'test_dataloader.dataset.data_root={root}',
        f'test_cfg.gallery_dataloader.dataset.data_root={root}',
        'test_dataloader.num_workers=0',
        'test_cfg.gallery_dataloader.num_workers=0',
    ]


def test_test_tool_reranks_under_fp16(toy_root, tmp_path):
    import lpr  # noqa: F401
    cfg = Config.fromfile(CONFIG)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    ckpt = str(tmp_path / 'random.pth')
    torch.save(dict(state_dict=model.state_dict(), meta={}), ckpt)
    out = str(tmp_path / 'preds.pkl')
    proc = subprocess.run(
        [sys.executable, f'{ROOT}/tools/test.py', CONFIG, ckpt,
         '--work-dir', str(tmp_path / 'work'), '--out', out,
         '--cfg-options', *_test_options(toy_root), 'model.rerank.top_k=5',
         'test_cfg.fp16=True'],
        env=run_env(), capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert 'retrieval/R@1' in log


def test_train_tool_amp_runs_one_iteration(toy_root, tmp_path, monkeypatch):
    """``--amp`` on a config without ``optim_wrapper.type``; on the CPU it
    trains in bfloat16."""
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    import train as train_tool
    from mmengine.optim import AmpOptimWrapper
    from mmengine.runner import Runner

    from lpr.engine import accelerator_available
    monkeypatch.setattr(sys, 'argv', [
        'train.py', CONFIG, '--amp', '--work-dir', str(tmp_path),
        '--cfg-options', f'train_dataloader.dataset.data_root={toy_root}',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'train_dataloader.batch_size=8', 'train_dataloader.sampler.'
        'batch_size=8', 'train_dataloader.sampler.clips_per_live=4'
    ])
    cfg = train_tool.setup_cfg(train_tool.parse_args())
    if accelerator_available():
        assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    else:  # mmengine's AmpOptimWrapper refuses the CPU
        assert cfg.optim_wrapper.type == 'CPUAmpOptimWrapper'
        assert cfg.optim_wrapper.dtype == 'bfloat16'
    # One iteration, no validation or checkpoint.
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=1)
    cfg.param_scheduler = None
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint = None
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    before = [p.detach().clone() for p in runner.model.parameters()]
    runner.train()
    assert isinstance(runner.optim_wrapper, AmpOptimWrapper)
    assert runner.iter == 1
    after = list(runner.model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(after, before))
    assert all(torch.isfinite(p).all() for p in after)


def test_benchmark_eval_small(tmp_path):
    out = str(tmp_path / 'bench.json')
    proc = subprocess.run(
        [sys.executable, f'{ROOT}/tools/analysis_tools/benchmark_eval.py',
         '--num-lives', '3', '--num-gallery', '17', '--num-queries', '11',
         '--frames', '2', '--tokens', '3', '--dims', '16', '--emb-dims',
         '8', '--heads', '2', '--top-k', '3', '--batch-size', '4',
         '--gallery-batch-size', '5', '--world-sizes', '1', '2',
         '--max-rss-gb', '4', '--out', out],
        env=run_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    with open(out) as f:
        report = json.load(f)
    assert report['gallery'] == 17 and report['queries'] == 11
    one, two = report['runs']
    assert two['identical_to_world_1'] is True
    assert len(one['peak_rss_gb_per_rank']) == 1
    assert len(two['peak_rss_gb_per_rank']) == 2
    assert sum(r['queries'] for r in two['ranks']) == 11
