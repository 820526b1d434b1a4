"""FLOPs of a RICE config, counted by mmengine's ``FlopAnalyzer`` on the
randomly initialised model (no checkpoint is loaded):

- per shop image: ``extract_image`` on one (1, 3, S, S) image;
- per clip: ``extract_clip`` on one clip of ``--frames`` frames;
- per training pair: ``loss`` on ``--pairs`` (image, clip) pairs divided by
  the number of pairs: one encoder pass over the image and the clip's
  frames, ICL over the batch, PMD on the positive and the hard negatives
  (both directions where the config enables them), PFR, and the text
  branch of text configs. Forward only (a backward pass costs about twice
  as much again).

    python tools/analysis_tools/get_flops.py \\
        configs/rice/rice_vit-b-p32_8xb32-1e_lpr4m.py --shape 224

Counting follows mmengine (fvcore): one multiply-add is one FLOP, so
multiply-add pairs are half of "2 FLOPs per MAC" counts; element-wise
operations (activations, softmax, masking) are not counted. mmengine has
no rule for ``scaled_dot_product_attention`` (used by mmpretrain's ViTs);
its two matrix products are counted here as for ``matmul``.
"""
import argparse
import json
import os.path as osp
import sys
import warnings
from typing import Any, Callable, Dict, List, Sequence

import torch
from torch import nn

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))), 'projects'))

import lpr  # noqa: E402,F401  (registers the plugin's modules)
from mmengine.analysis import FlopAnalyzer  # noqa: E402
from mmengine.analysis.jit_handles import get_shape  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402
from mmpretrain.registry import MODELS  # noqa: E402
from mmpretrain.structures import DataSample  # noqa: E402

#: sub-modules of RICE reported separately; what runs outside their
#: layers (ICL's similarities, PMD's candidate selection, losses) is
#: reported as ``other``.
PARTS = ('encoder', 'pmd_head', 'pfr_head', 'text_encoder', 'text_proj')


def sdpa_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """FLOPs of ``aten::scaled_dot_product_attention``: q (..., Lq, E),
    k (..., Lk, E), v (..., Lk, Ev) → q·kᵀ and probs·v, one FLOP per
    multiply-add, as mmengine counts ``matmul``."""
    q, k, v = (get_shape(x) for x in inputs[:3])
    batch = 1
    for d in q[:-2]:
        batch *= d
    lq, e = q[-2], q[-1]
    lk, ev = k[-2], v[-1]
    return batch * lq * lk * (e + ev)


class _Traced(nn.Module):
    """Presents ``fn(*tensors)`` of ``model`` as a module for tracing."""

    def __init__(self, model: nn.Module, fn: Callable) -> None:
        super().__init__()
        self.model = model
        self.fn = fn

    def forward(self, *tensors: torch.Tensor) -> Any:
        return self.fn(*tensors)


def count(model: nn.Module, fn: Callable,
          inputs: Sequence[torch.Tensor]) -> Dict[str, Any]:
    """FLOPs of ``fn(*inputs)``: the total, per part of :data:`PARTS`, and
    the operators without a counting rule."""
    analyzer = FlopAnalyzer(_Traced(model, fn), tuple(inputs))
    analyzer.set_op_handle('aten::scaled_dot_product_attention',
                           sdpa_flop_jit)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        total = analyzer.total()
        by_module = analyzer.by_module()
    parts = {
        part: by_module.get(f'model.{part}', 0)
        for part in PARTS if getattr(model, part, None) is not None
    }
    parts['other'] = total - sum(parts.values())
    return dict(
        total=total,
        parts=parts,
        uncounted_ops=sorted(analyzer.unsupported_ops()))


def build_model(cfg: Config) -> nn.Module:
    """The config's RICE, randomly initialised. A text encoder whose
    vocabulary file is absent uses hash buckets (same FLOPs)."""
    model_cfg = cfg.model
    if model_cfg.get('type') != 'RICE':
        raise ValueError(f'{cfg.filename}: get_flops.py counts RICE '
                         f'retrievers, the config builds '
                         f'{model_cfg.get("type")}')
    text = model_cfg.get('text_encoder')
    if text and text.get('vocab_file') and not osp.isfile(text.vocab_file):
        print(f'note: {text.vocab_file} not found; the text encoder uses '
              'hash buckets (same FLOPs, another embedding size)')
        text.vocab_file = None
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(model_cfg)


def tokens_per_image(model: nn.Module, size: int) -> int:
    with torch.no_grad():
        _, tokens = model._encode(torch.zeros(1, 3, size, size))
    return tokens.shape[1]


def pair_samples(model: nn.Module, n: int, frames: int,
                 size: int) -> List[DataSample]:
    """``n`` training samples of distinct products; text configs get
    titles and ASR of the tokenizer's full length, box configs full-frame
    patch masks."""
    samples = []
    words = ' '.join(f'w{i}' for i in range(64))
    n_tok = tokens_per_image(model, size) if model.use_boxes else 0
    for i in range(n):
        sample = DataSample()
        sample.set_metainfo(dict(image_id=f'img{i}', title=words, asr=words))
        if model.use_boxes:
            sample.set_field(
                torch.ones(frames, n_tok, dtype=torch.bool), 'patch_masks',
                field_type='data')
        samples.append(sample)
    return samples


def analyse(cfg: Config, size: int, frames: int,
            pairs: int) -> Dict[str, Any]:
    """FLOPs per image, per clip and per training pair (see the module
    docstring), and the parameter count."""
    model = build_model(cfg)
    torch.manual_seed(0)
    image = torch.randn(1, 3, size, size)
    clip = torch.randn(1, frames, 3, size, size)
    mask = torch.ones(1, frames, dtype=torch.bool)

    model.eval()
    result = dict(
        config=cfg.filename,
        shape=size,
        frames=frames,
        pairs=pairs,
        params=sum(p.numel() for p in model.parameters()),
        image=count(model, lambda x: model.extract_image(x)[0], [image]),
        clip=count(model, lambda f, m: model.extract_clip(f, m)[0],
                   [clip, mask]))

    model.train()
    samples = pair_samples(model, pairs, frames, size)
    batch = [
        torch.randn(pairs, 3, size, size),
        torch.randn(pairs, frames, 3, size, size),
        torch.ones(pairs, frames, dtype=torch.bool)
    ]

    def loss(img, frm, frm_mask):
        losses = model.loss(
            dict(image=img, frames=frm, frame_mask=frm_mask), samples)
        return sum(v for k, v in losses.items() if k.startswith('loss'))

    total = count(model, loss, batch)
    result['pair'] = dict(
        total=total['total'] / pairs,
        parts={k: v / pairs
               for k, v in total['parts'].items()},
        uncounted_ops=total['uncounted_ops'])
    return result


def _g(flops: float) -> str:
    if flops >= 1e8:
        return f'{flops / 1e9:.3f} G'
    return f'{flops / 1e6:.3f} M'


def report(result: Dict[str, Any]) -> str:
    lines = [
        f"{result['config']}: {result['shape']}x{result['shape']} input, "
        f"{result['frames']} frames per clip, "
        f"{result['params'] / 1e6:.2f} M parameters "
        '(FLOPs: one multiply-add = 1, forward only)',
        f"  per shop image:     {_g(result['image']['total'])}",
        f"  per clip:           {_g(result['clip']['total'])} "
        f"({result['frames']} frames)",
        f"  per training pair:  {_g(result['pair']['total'])} "
        f"(mean over a batch of {result['pairs']} pairs)",
    ]
    for part, flops in result['pair']['parts'].items():
        lines.append(f'    {part + ":":<18}{_g(flops)}')
    uncounted = sorted(
        set(result['image']['uncounted_ops'])
        | set(result['clip']['uncounted_ops'])
        | set(result['pair']['uncounted_ops']))
    lines.append('  not counted (element-wise or no rule): ' +
                 ', '.join(f'{op}' for op in uncounted))
    return '\n'.join(lines)


def parse_args():
    parser = argparse.ArgumentParser(
        description='FLOPs of a RICE model per image, clip and training pair')
    parser.add_argument('config', help='RICE config file')
    parser.add_argument(
        '--shape', type=int, default=224,
        help='input side in pixels (square images and frames)')
    parser.add_argument(
        '--frames', type=int, default=10, help='frames per clip')
    parser.add_argument(
        '--pairs', type=int, default=8,
        help='training batch the per-pair cost is averaged over (at least '
        'the hard negatives + 1)')
    parser.add_argument('--out', help='also write the numbers as JSON')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value pairs')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    pmd = cfg.model.get('pmd_head') or {}
    need = pmd.get('num_negatives', 0) + 1
    if args.pairs < need:
        raise SystemExit(f'error: --pairs {args.pairs} < {need}: PMD needs '
                         f'{need - 1} negatives per pair in the batch')
    try:
        result = analyse(cfg, args.shape, args.frames, args.pairs)
    except ValueError as err:
        raise SystemExit(f'error: {err}')
    print(report(result))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)


if __name__ == '__main__':
    main()
