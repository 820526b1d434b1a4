"""Intended-product detection AP with bootstrap confidence intervals.

Reads the COCO ground truth of the test split (``lpr4m_to_coco.py``, e.g.
``<root>/annotations/lpr_det_test_1cls.json``, which carries each frame's
split types) and the predictions of one or more detectors
(``tools/test.py CONFIG CKPT --out NAME.pkl``), and prints AP, AP50, AP75
and AP50 per product scale / visible duration / number of products (the
numbers of ``IntendedProductMetric``), each with a percentile interval over
resampled test frames, and paired differences on the same resamples::

    python tools/analysis_tools/det_ap_bootstrap.py \\
        data/toy_lpr4m/annotations/lpr_det_test_1cls.json \\
        SD=work_dirs/toy_ipd/sd.pkl MD=work_dirs/toy_ipd/md.pkl \\
        --diff MD-SD --n-boot 200 --out ap_ci.json

Every frame of the ground truth is a test frame; a frame missing from a
prediction file counts as a frame without detections (as in the metric's
overall AP).
"""
import argparse
import json
import os.path as osp
import sys
import time
from typing import Dict, Sequence, Tuple

import numpy as np

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))), 'projects'))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('gt', help='COCO ground truth of the test frames')
    parser.add_argument(
        'preds', nargs='+', metavar='NAME=PKL',
        help='a detector\'s predictions (tools/test.py --out)')
    parser.add_argument(
        '--diff', nargs='*', default=[], metavar='A-B',
        help='paired differences A − B of two named detectors')
    parser.add_argument('--n-boot', type=int, default=200,
                        help='number of resamples')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--level', type=float, default=0.95,
                        help='coverage of the intervals')
    parser.add_argument(
        '--unit', choices=['frame', 'clip'], default='frame',
        help='what is resampled: test frames, or whole clips (their '
        'frames are correlated; gives wider intervals)')
    parser.add_argument(
        '--class-agnostic', action='store_true',
        help='merge all predicted labels into the one "intended product" '
        'class (a detector trained on the product categories evaluated on '
        'the one-class test file)')
    parser.add_argument('--out', help='write the results as JSON')
    args = parser.parse_args(argv)
    if args.n_boot < 1:
        parser.error('--n-boot must be >= 1')
    if not 0 < args.level < 1:
        parser.error('--level must be in (0, 1)')
    return args


def parse_diff(item: str, names: Sequence[str]) -> Tuple[str, str]:
    """``A-B`` → (A, B), both detector names (names may contain '-')."""
    pairs = [(item[:i], item[i + 1:]) for i, c in enumerate(item)
             if c == '-' and item[:i] in names and item[i + 1:] in names]
    if len(pairs) != 1:
        raise ValueError(
            f'--diff {item!r}: expected A-B with A and B among the detector '
            f'names {list(names)}')
    return pairs[0]


def without_nan(obj):
    """``obj`` with NaN floats as ``None`` (strict JSON)."""
    if isinstance(obj, dict):
        return {k: without_nan(v) for k, v in obj.items()}
    if isinstance(obj, float) and np.isnan(obj):
        return None
    return obj


def fmt(cell: dict, signed: bool = False) -> str:
    """``est [lo, hi]`` in percent."""
    if np.isnan(cell['est']):
        return '-'
    f = '{:+.1f}' if signed else '{:.1f}'
    text = f.format(100 * cell['est'])
    if not (np.isnan(cell['lo']) or np.isnan(cell['hi'])):
        text += ' [{}, {}]'.format(
            f.format(100 * cell['lo']), f.format(100 * cell['hi']))
    return text


def markdown(result: dict, diffs: Sequence[Tuple[str, str]],
             frames: Dict[str, int], level: float) -> str:
    """The detectors' rows, then the differences, as a Markdown table."""
    from lpr.evaluation.det_bootstrap import metric_keys
    keys = metric_keys()
    head = ['AP', 'AP50', 'AP75'] + [
        '{}:{}'.format(k.split('/')[0].split('_')[-1], k.split('/')[1])
        for k in keys[3:]
    ]
    lines = [
        '| detector | ' + ' | '.join(head) + ' |',
        '| --- |' + ' --- |' * len(head),
    ]
    for name, cells in result['detectors'].items():
        lines.append(f'| {name} | ' +
                     ' | '.join(fmt(cells[k]) for k in keys) + ' |')
    for a, b in diffs:
        cells = result['diffs'][f'{a}-{b}']
        lines.append(f'| {a} − {b} | ' +
                     ' | '.join(fmt(cells[k], True) for k in keys) + ' |')
    lines.append(
        f'\nAP in %, {100 * level:.0f} % percentile intervals; AP50 per '
        'split; frames: ' + ', '.join(
            f'{h} {frames[k]}' for h, k in zip(head[3:], keys[3:])))
    return '\n'.join(lines)


def main(argv=None) -> dict:
    args = parse_args(argv)
    from lpr.evaluation.det_bootstrap import (ResampledAP, bootstrap_ap,
                                              load_detections, load_gt,
                                              parse_named, resample_positions)
    from lpr.utils import ProgressBar

    named = parse_named(args.preds)
    diffs = [parse_diff(d, list(named)) for d in args.diff]
    coco_gt = load_gt(args.gt)
    cat_ids = coco_gt.get_cat_ids()
    img_ids = sorted(coco_gt.get_img_ids())
    if not img_ids:
        raise ValueError(f'{args.gt} has no images')
    evaluators = {}
    for name, path in named.items():
        detections, seen = load_detections(path, coco_gt, cat_ids,
                                           args.class_agnostic)
        if len(seen) < len(img_ids):
            print(f'{name}: {len(img_ids) - len(seen)} of {len(img_ids)} '
                  f'test frames have no entry in {path}; they count as '
                  'frames without detections')
        evaluators[name] = ResampledAP(coco_gt, detections, img_ids, cat_ids)
    groups = img_ids if args.unit == 'frame' else [
        coco_gt.imgs[i].get('video_id', i) for i in img_ids
    ]
    resamples = resample_positions(groups, args.n_boot, args.seed)
    start = time.perf_counter()
    with ProgressBar(args.n_boot, desc='bootstrap resamples') as bar:
        result = bootstrap_ap(evaluators, resamples, diffs, args.level,
                              progress=bar.update)
    seconds = time.perf_counter() - start
    per_detector = seconds / args.n_boot / len(evaluators)
    ref = next(iter(evaluators.values()))
    frames = {k: int(m.sum()) for k, m in ref.split_masks.items()}
    print(markdown(result, diffs, frames, args.level))
    print(f'{len(img_ids)} test frames, {args.n_boot} resamples of '
          f'{args.unit}s (seed {args.seed}): {seconds:.1f} s, '
          f'{per_detector:.3f} s per resample and detector')
    out = dict(
        gt=args.gt, predictions=named, n_boot=args.n_boot, seed=args.seed,
        level=args.level, unit=args.unit, frames=len(img_ids),
        split_frames=frames, class_agnostic=args.class_agnostic,
        seconds_per_resample_and_detector=per_detector,
        detectors=result['detectors'], diffs=result['diffs'])
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(without_nan(out), f, indent=1)
    return out


if __name__ == '__main__':
    main()
