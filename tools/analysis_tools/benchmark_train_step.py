"""Time training steps of a config through the runner of ``tools/train.py``
against a bare PyTorch loop over the same model, data and optimizer.

Both paths train the config's model on the same few batches, taken once
from the config's training dataloader and replayed in the same order, so
that data loading (workers, decoding) is out of both timings:

- **runner**: ``Runner.from_cfg`` on the config as ``tools/train.py`` sets
  it up (``--amp`` included), with its loop, hooks, logger, parameter
  schedulers and optimizer wrapper. A step is timed from the first
  ``before_train_iter`` hook to the last ``after_train_iter`` hook, i.e.
  every hook and the loop's own work count as overhead; only the fetch of
  the next batch from the replayed list is outside.
- **bare**: ``data_preprocessor`` → ``model(..., mode='loss')`` → sum of
  the ``loss*`` terms → ``backward`` → gradient clipping as configured →
  ``optimizer.step`` → ``zero_grad``, under ``torch.autocast`` with a
  ``GradScaler`` for ``--amp`` on CUDA. Same model config, the runner's
  initialised weights and the same torch optimizer (built from the
  config's ``optim_wrapper`` with its parameter groups). Both report the
  first step's loss, which must agree: same weights, same batch.

Each of ``--repeats`` rounds runs the runner then the bare loop for
``--warmup`` + ``--iters`` steps; a round reports the median step time
after warm-up. The overhead is the median over rounds of
``runner / bare - 1`` (both measured in the same round). On CUDA every
step ends with a synchronisation in both paths.

Throughput is ``batch size / median step`` pairs per second. With
``--pair-flops`` (forward FLOPs per training pair, one multiply-add = 1,
as ``get_flops.py`` prints them) or ``--count-flops`` (count them here),
model FLOP utilisation is ``3 x 2 x pair_flops x pairs/s / peak`` (a
backward pass costs about twice the forward; 2 FLOPs per multiply-add)
against ``--peak-tflops`` (default: 989 for an H100 SXM in bf16/fp16
dense, the card's datasheet; otherwise none).

    # CPU, toy data (the README's job), fp32:
    python tools/analysis_tools/benchmark_train_step.py \\
        configs/rice/rice_r18-slim_1xb32-18e_toy-lpr4m.py \\
        --data-root data/toy_lpr4m
    # GPU, the ViT-B/32 recipe on any LPR4M-format root, AMP:
    python tools/analysis_tools/benchmark_train_step.py \\
        configs/rice/rice_vit-b-p32_8xb32-1e_lpr4m.py \\
        --data-root data/toy_lpr4m --device cuda --amp --count-flops
"""
import argparse
import copy
import gc
import importlib.util
import json
import os
import os.path as osp
import statistics
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'projects'))

import lpr  # noqa: E402,F401  (registers the plugin's modules)
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.hooks import Hook  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmengine.registry import (DATASETS, FUNCTIONS,  # noqa: E402
                               DefaultScope)
from mmengine.runner import Runner, set_random_seed  # noqa: E402
from torch.utils.data import Dataset  # noqa: E402

#: peak dense fp16/bf16 tensor throughput (TFLOP/s) by device-name part.
PEAK_TFLOPS = {'H100': 989.0, 'H200': 989.0, 'A100': 312.0}


def _load_tool(name: str):
    """Import ``tools/<name>.py`` (the tools folder is not a package)."""
    path = osp.join(ROOT, 'tools', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'lpr_tool_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: collated batches by key; configs name a key (the runner writes its
#: config to the work dir, which tensors cannot be part of).
BATCHES: Dict[str, List[Any]] = {}


class ReplayedBatches(Dataset):
    """``length`` items cycling over the collated batches stored under
    ``key`` in :data:`BATCHES`: a loader with batch size 1 and
    :func:`first_item` as collate function hands them to the runner as its
    own loader would."""

    def __init__(self, key: str, length: int) -> None:
        self.batches = BATCHES[key]
        self.length = length
        self.metainfo: Dict[str, Any] = {}

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Any:
        return self.batches[index % len(self.batches)]


def first_item(items: List[Any]) -> Any:
    """Collate function of :class:`ReplayedBatches` (batch size 1)."""
    return items[0]


DATASETS.register_module(module=ReplayedBatches, force=True)
FUNCTIONS.register_module(module=first_item, force=True)


def _sync(device: str) -> None:
    if device == 'cuda':
        torch.cuda.synchronize()


def _reset_peak(device: str) -> None:
    if device == 'cuda':
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


class StepTimes:
    """Start and end times of each training step, shared by a pair of
    hooks: the first hook to run before an iteration and the last after
    it."""

    def __init__(self, device: str, seed: int) -> None:
        self.device = device
        self.seed = seed
        self.starts: List[float] = []
        self.ends: List[float] = []
        self.losses: List[float] = []
        self.initial_state: Optional[Dict[str, torch.Tensor]] = None
        self.peak_memory = 0

    def durations(self) -> List[float]:
        return [e - s for s, e in zip(self.starts, self.ends)]


class StepStartHook(Hook):
    priority = 'HIGHEST'

    def __init__(self, times: StepTimes) -> None:
        self.times = times

    def before_train(self, runner) -> None:
        model = getattr(runner.model, 'module', runner.model)
        self.times.initial_state = {
            k: v.detach().cpu().clone()
            for k, v in model.state_dict().items()
        }

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if batch_idx == 0:  # the bare loop's first step draws the same
            set_random_seed(self.times.seed)
        _sync(self.times.device)
        self.times.starts.append(time.perf_counter())


class PeakMemoryHook(Hook):
    """The largest GPU memory allocated over the steps, read before
    mmengine's logger resets the peak counter (its ``LogProcessor`` does
    at every logged iteration)."""
    priority = 'HIGHEST'

    def __init__(self) -> None:
        self.peak = 0

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if torch.cuda.is_available():
            self.peak = max(self.peak, torch.cuda.max_memory_allocated())


class StepEndHook(Hook):
    priority = 'LOWEST'

    def __init__(self, times: StepTimes) -> None:
        self.times = times

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        _sync(self.times.device)
        self.times.ends.append(time.perf_counter())
        if outputs and 'loss' in outputs:
            self.times.losses.append(float(outputs['loss']))


def setup_config(args) -> Config:
    """The config as ``tools/train.py`` builds it, then made to train
    ``warmup + iters`` steps on one epoch with validation, checkpoints and
    pretrained weights off."""
    train_tool = _load_tool('train')
    tool_args = argparse.Namespace(
        config=args.config, work_dir=args.work_dir, amp=args.amp,
        auto_scale_lr=False, resume=None, data_root=args.data_root,
        cfg_options=args.cfg_options, launcher='none', local_rank=0)
    original = Config.fromfile(args.config).optim_wrapper
    if original.get('type', 'OptimWrapper') != 'OptimWrapper':
        # Precision is --amp's choice on every device: the plain wrapper,
        # which tools/train.py --amp turns into its AMP wrapper.
        tool_args.cfg_options = dict(args.cfg_options or {},
                                     **{'optim_wrapper.type': 'OptimWrapper'})
    cfg = train_tool.setup_cfg(tool_args)
    cfg.optim_wrapper.type = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if cfg.optim_wrapper.type == 'OptimWrapper':
        for key in ('dtype', 'loss_scale'):
            cfg.optim_wrapper.pop(key, None)
    elif cfg.optim_wrapper.type == 'AmpOptimWrapper' and original.get(
            'dtype'):
        cfg.optim_wrapper.dtype = original.dtype
    cfg.load_from = None
    cfg.resume = False
    cfg.randomness = dict(seed=args.seed)
    if args.batch_size:
        cfg.train_dataloader.batch_size = args.batch_size
    cfg.train_dataloader.num_workers = args.workers
    cfg.train_dataloader.persistent_workers = args.workers > 0
    cfg.train_cfg.max_epochs = 1
    cfg.train_cfg.val_interval = 10**9
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator'):
        cfg[key] = None
    cfg.default_hooks.checkpoint = None
    # A run of a few steps cannot hold the recipe's schedule (warm-up over
    # 10 % of an epoch of a few iterations has no length): one scheduler
    # that keeps the lr still steps every iteration.
    cfg.param_scheduler = dict(type='ConstantLR', factor=1.0, by_epoch=False,
                               begin=0, end=10**9)
    return cfg


def collect_batches(cfg: Config, n: int) -> List[Any]:
    """The first ``n`` collated batches of the config's training loader
    (random transforms seeded, in workers and in this process alike)."""
    set_random_seed(cfg.randomness['seed'])
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        loader = Runner.build_dataloader(
            copy.deepcopy(cfg.train_dataloader),
            seed=cfg.randomness['seed'])
    batches = []
    for batch in loader:
        batches.append(batch)
        if len(batches) == n:
            break
    if len(batches) < n:
        raise SystemExit(f'error: the training loader gives {len(batches)} '
                         f'batches, --num-batches asks for {n}')
    return batches


def replay_loader_cfg(batches: List[Any], steps: int) -> Dict[str, Any]:
    BATCHES['replayed'] = batches
    return dict(
        batch_size=1, num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='first_item'),
        dataset=dict(type='ReplayedBatches', key='replayed', length=steps))


def time_runner(cfg: Config, batches: List[Any], steps: int, device: str,
                round_idx: int) -> StepTimes:
    """Step times, losses and initial weights of ``tools/train.py``'s
    runner on the replayed batches."""
    cfg = copy.deepcopy(cfg)
    cfg.train_dataloader = replay_loader_cfg(batches, steps)
    cfg.work_dir = osp.join(cfg.work_dir, f'runner_{round_idx}')
    cfg.experiment_name = f'benchmark_train_step_{os.getpid()}_{round_idx}'
    times = StepTimes(device, cfg.randomness['seed'])
    runner = Runner.from_cfg(cfg)
    runner.register_hook(StepStartHook(times))
    runner.register_hook(StepEndHook(times))
    memory = PeakMemoryHook()
    runner.register_hook(memory)
    runner.train()
    times.peak_memory = memory.peak
    if len(times.durations()) != steps:
        raise RuntimeError(f'the runner ran {len(times.durations())} steps, '
                           f'{steps} were asked for')
    return times


class BareLoop:
    """The config's model and optimizer stepped by hand (see the module
    docstring)."""

    def __init__(self, cfg: Config, device: str, amp: bool,
                 initial_state: Dict[str, torch.Tensor]) -> None:
        self.seed = cfg.randomness['seed']
        with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
            from mmengine.registry import MODELS
            self.model = MODELS.build(copy.deepcopy(cfg.model))
            self.model.load_state_dict(initial_state)
            self.model.to(device)
            self.model.train()
            plain = copy.deepcopy(cfg.optim_wrapper)
            for key in ('dtype', 'loss_scale', 'clip_grad'):
                plain.pop(key, None)
            wrapper = build_optim_wrapper(
                self.model, dict(plain, type='OptimWrapper'))
        self.optimizer = wrapper.optimizer
        self.clip = cfg.optim_wrapper.get('clip_grad') or None
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.device = device
        self.amp = amp
        self.dtype = torch.float16 if device == 'cuda' else torch.bfloat16
        dtype = cfg.optim_wrapper.get('dtype')
        if amp and dtype:
            self.dtype = getattr(torch, dtype)
        #: the first step's loss, kept on the device (no mid-step sync).
        self.first_loss: Optional[torch.Tensor] = None
        self.scaler = torch.amp.GradScaler(
            device, enabled=amp and device == 'cuda'
            and self.dtype == torch.float16)

    def step(self, batch: Any) -> None:
        with torch.autocast(self.device, dtype=self.dtype,
                            enabled=self.amp):
            data = self.model.data_preprocessor(batch, True)
            losses = self.model(**data, mode='loss')
        loss = sum(
            sum(v) if isinstance(v, list) else v
            for k, v in losses.items() if 'loss' in k)
        if self.first_loss is None:
            self.first_loss = loss.detach()
        self.scaler.scale(loss).backward()
        if self.clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.params, **self.clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)

    def time(self, batches: List[Any], steps: int) -> List[float]:
        durations = []
        for i in range(steps):
            if i == 0:  # as the runner's first step (StepStartHook)
                set_random_seed(self.seed)
            batch = batches[i % len(batches)]
            _sync(self.device)
            start = time.perf_counter()
            self.step(batch)
            _sync(self.device)
            durations.append(time.perf_counter() - start)
        return durations


def count_pair_flops(cfg: Config, batch_size: int) -> float:
    """Forward FLOPs per training pair of a RICE config (get_flops.py)."""
    get_flops = _load_tool('analysis_tools/get_flops')
    size = cfg.get('input_size', 224)
    frames = cfg.get('num_frames', 10)
    pmd = cfg.model.get('pmd_head') or {}
    pairs = max(min(batch_size, 8), pmd.get('num_negatives', 0) + 1)
    result = get_flops.analyse(copy.deepcopy(cfg), size, frames, pairs)
    return float(result['pair']['total'])


def peak_tflops(device: str, given: Optional[float]) -> Optional[float]:
    if given:
        return given
    if device != 'cuda':
        return None
    name = torch.cuda.get_device_name(0)
    for key, value in PEAK_TFLOPS.items():
        if key in name:
            return value
    return None


def run(args) -> Dict[str, Any]:
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('error: --device cuda, but torch sees no GPU')
    if args.device == 'cpu' and torch.cuda.is_available():
        raise SystemExit('error: a GPU is visible; run with --device cuda '
                         'or hide it with CUDA_VISIBLE_DEVICES=')
    if args.work_dir is None:
        args.work_dir = tempfile.mkdtemp(prefix='benchmark_train_step_')
    cfg = setup_config(args)
    steps = args.warmup + args.iters
    batches = collect_batches(cfg, args.num_batches)
    batch_size = cfg.train_dataloader.batch_size
    unit = 'pairs' if cfg.model.get('type') == 'RICE' else 'samples'
    bare = None
    rounds, peaks, first_losses = [], {}, {}
    for r in range(args.repeats):
        _reset_peak(args.device)
        runner = time_runner(cfg, batches, steps, args.device, r)
        gc.collect()
        _reset_peak(args.device)
        if bare is None:
            # The runner's initialised weights: both paths start equal.
            bare = BareLoop(cfg, args.device, args.amp,
                            runner.initial_state)
        bare_times = bare.time(batches, steps)
        if r == 0:
            first_losses = dict(
                runner=runner.losses[0] if runner.losses else None,
                bare=float(bare.first_loss))
            if args.device == 'cuda':
                # Each path alone on the GPU (the bare model is built
                # after the runner's is freed).
                peaks = dict(
                    runner=runner.peak_memory / 2**30,
                    bare=torch.cuda.max_memory_allocated() / 2**30)
        runner_times = runner.durations()
        runner_median = statistics.median(runner_times[args.warmup:])
        bare_median = statistics.median(bare_times[args.warmup:])
        rounds.append(dict(runner_s=runner_median, bare_s=bare_median,
                           overhead=runner_median / bare_median - 1))
        print(f'round {r + 1}/{args.repeats}: runner {runner_median:.4f} '
              f's/step, bare {bare_median:.4f} s/step, overhead '
              f'{100 * rounds[-1]["overhead"]:+.1f} %', flush=True)
    runner_s = statistics.median(r['runner_s'] for r in rounds)
    bare_s = statistics.median(r['bare_s'] for r in rounds)
    result = dict(
        config=args.config, device=args.device,
        device_name=(torch.cuda.get_device_name(0)
                     if args.device == 'cuda' else 'cpu'),
        torch=torch.__version__, threads=torch.get_num_threads(),
        amp=args.amp, optim_wrapper=cfg.optim_wrapper.type, unit=unit,
        batch_size=batch_size, warmup=args.warmup, iters=args.iters,
        repeats=args.repeats, rounds=rounds, runner_s=runner_s,
        bare_s=bare_s,
        overhead=statistics.median(r['overhead'] for r in rounds),
        first_loss_runner=first_losses['runner'],
        first_loss_bare=first_losses['bare'],
        runner_items_per_s=batch_size / runner_s,
        bare_items_per_s=batch_size / bare_s)
    if peaks:
        result['peak_gpu_gib'] = peaks
    pair_flops = args.pair_flops
    if pair_flops is None and args.count_flops:
        pair_flops = count_pair_flops(cfg, batch_size)
    peak = peak_tflops(args.device, args.peak_tflops)
    if pair_flops:
        result['pair_forward_flops'] = pair_flops
        train_flops = 3 * 2 * pair_flops  # fwd + bwd, 2 FLOPs per MAC
        result['achieved_tflops'] = (train_flops * result['runner_items_per_s']
                                     / 1e12)
        if peak:
            result['peak_tflops'] = peak
            result['mfu'] = result['achieved_tflops'] / peak
    return result


def report(result: Dict[str, Any]) -> str:
    lines = [
        f"{result['config']} on {result['device_name']} (torch "
        f"{result['torch']}, {result['threads']} threads), "
        f"{result['optim_wrapper']}, batch {result['batch_size']}: medians "
        f"of {result['repeats']} rounds x {result['iters']} steps "
        f"(+{result['warmup']} warm-up)",
        f"  runner: {result['runner_s']:.4f} s/step, "
        f"{result['runner_items_per_s']:.1f} {result['unit']}/s",
        f"  bare:   {result['bare_s']:.4f} s/step, "
        f"{result['bare_items_per_s']:.1f} {result['unit']}/s",
        f"  first step's loss: runner {result['first_loss_runner']:.6f}, "
        f"bare {result['first_loss_bare']:.6f} (same weights, batch, seed)",
        f"  runner overhead: {100 * result['overhead']:+.1f} % (per round: "
        + ', '.join(f"{100 * r['overhead']:+.1f}"
                    for r in result['rounds']) + ')',
    ]
    if 'peak_gpu_gib' in result:
        peaks = result['peak_gpu_gib']
        lines.append('  peak GPU memory allocated (first round): runner '
                     f"{peaks['runner']:.2f} GiB, bare {peaks['bare']:.2f} "
                     'GiB')
    if 'achieved_tflops' in result:
        line = (f"  {result['pair_forward_flops'] / 1e9:.1f} G multiply-adds "
                f"per pair forward -> {result['achieved_tflops']:.1f} TFLOP/s")
        if 'mfu' in result:
            line += (f", MFU {100 * result['mfu']:.1f} % of "
                     f"{result['peak_tflops']:.0f}")
        lines.append(line)
    return '\n'.join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='runner vs bare PyTorch training-step time of a config')
    parser.add_argument('config')
    parser.add_argument('--data-root', help='data root of every dataset')
    parser.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision as tools/train.py --amp')
    parser.add_argument('--batch-size', type=int,
                        help='per-device batch (default: the config\'s)')
    parser.add_argument('--iters', type=int, default=10,
                        help='timed steps per path and round')
    parser.add_argument('--warmup', type=int, default=3,
                        help='untimed steps first in each path and round')
    parser.add_argument('--repeats', type=int, default=3, help='rounds')
    parser.add_argument('--num-batches', type=int, default=4,
                        help='distinct batches replayed in both paths')
    parser.add_argument('--workers', type=int, default=2,
                        help='loader workers to collect the batches')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--pair-flops', type=float,
                        help='forward FLOPs (multiply-adds) per pair, for MFU')
    parser.add_argument('--count-flops', action='store_true',
                        help='count --pair-flops with get_flops.py')
    parser.add_argument('--peak-tflops', type=float,
                        help='device peak for MFU (default: by GPU name)')
    parser.add_argument('--work-dir', help='runner work dirs (default: tmp)')
    parser.add_argument('--out', help='also write the result as JSON')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def main(argv=None) -> Dict[str, Any]:
    args = parse_args(argv)
    result = run(args)
    print(report(result))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == '__main__':
    main()
