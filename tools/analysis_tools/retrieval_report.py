"""Print an R@k table: chance, the colour-histogram baseline and one or more
models' dumped predictions (``tools/test.py --out preds.pkl``).

    python tools/analysis_tools/retrieval_report.py --data-root data/toy_lpr4m \\
        --preds RICE=work_dirs/rice/preds.pkl

``NAME=a.pkl,b.pkl,c.pkl`` (one run per seed) prints mean ± std over runs.
"""
import argparse
import json
import os.path as osp
import subprocess
import sys
import tempfile
from math import comb

import numpy as np

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))), 'projects'))

TOPK = (1, 5, 10)


def chance(data_root: str) -> dict:
    """Expected R@k of a random ranking of each query's own gallery."""
    from lpr.datasets import (find_annotation, load_gallery,
                              load_gt_images)
    from lpr.datasets.ids import live_id_of
    ann = osp.join(data_root, 'annotations')
    gt = load_gt_images(find_annotation(ann, 'test_videoid_to_gtimage_'))
    gallery = load_gallery(find_annotation(ann, 'test_liveid_to_gallery_'))
    out = {}
    for k in TOPK:
        hits = []
        for clip, gts in gt.items():
            n = len(gallery[live_id_of(clip)])
            g = len(set(gts))
            kk = min(k, n)
            hits.append(1 - comb(n - g, kk) / comb(n, kk))
        out[f'R@{k}'] = 100 * float(np.mean(hits))
    return out


def from_predictions(path: str) -> dict:
    from mmengine.fileio import load

    from lpr.evaluation import LPRRetrievalMetric
    preds = load(path)
    return LPRRetrievalMetric.calculate(
        [p.get('pred_ranking', []) for p in preds],
        [p['gt_image_ids'] for p in preds], TOPK)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default='data/toy_lpr4m')
    parser.add_argument('--preds', nargs='*', default=[],
                        metavar='NAME=PKL')
    parser.add_argument('--no-baseline', action='store_true')
    args = parser.parse_args()
    import lpr  # noqa: F401

    rows = [('chance (random ranking of the live gallery)',
             chance(args.data_root))]
    colour_preds = None
    if not args.no_baseline:
        tool = osp.join(osp.dirname(osp.abspath(__file__)),
                        'color_histogram_baseline.py')
        with tempfile.TemporaryDirectory() as tmp:
            dump = osp.join(tmp, 'colour.json')
            out = subprocess.run(
                [sys.executable, tool, '--data-root', args.data_root,
                 '--out', dump],
                check=True, capture_output=True, text=True).stdout
            with open(dump) as f:
                colour_preds = json.load(f)
        rows.append(('colour histogram', json.loads(out.strip().split(
            '\n')[-1])))
    for item in args.preds:
        name, _, paths = item.partition('=')
        runs = [from_predictions(p) for p in paths.split(',')]
        rows.append((f'{name} ({len(runs)} runs)' if len(runs) > 1 else name,
                     {key: [r[key] for r in runs] for key in runs[0]}))
    head = '| method | ' + ' | '.join(f'R@{k}' for k in TOPK) + ' |'
    print(head)
    print('|' + ' --- |' * (len(TOPK) + 1))
    for name, m in rows:
        print(f'| {name} | ' + ' | '.join(
            _cell(m[f'R@{k}']) for k in TOPK) + ' |')
    for item in args.preds:
        name, _, paths = item.partition('=')
        print(intervals(name, paths.split(',')[0], colour_preds))


def intervals(name: str, path: str, colour_preds) -> str:
    """R@1 with its 95 % bootstrap interval over queries and, against the
    colour histogram, the paired difference and the ratio."""
    from mmengine.fileio import load

    from lpr.evaluation.baselines import first_hits
    from lpr.evaluation.bootstrap import (bootstrap_indices, compare,
                                          hit_table, interval)
    preds = load(path)
    hits = hit_table(first_hits(preds), (1, ))
    idx = bootstrap_indices(len(preds))
    est, lo, hi = interval(hits, idx)
    text = (f'{name}: R@1 {est[0]:.1f} [{lo[0]:.1f}, {hi[0]:.1f}] (95 % '
            f'bootstrap interval over {len(preds)} queries)')
    if colour_preds is not None:
        by_id = {p['clip_id']: p for p in colour_preds}
        base = hit_table(first_hits([by_id[p['clip_id']] for p in preds]),
                         (1, ))
        d = compare(hits, base, idx)
        ratio = hits.mean() / max(base.mean(), 1e-9)
        text += (f'; vs colour histogram {d["diff"][0]:+.1f} '
                 f'[{d["lo"][0]:+.1f}, {d["hi"][0]:+.1f}] points, '
                 f'{ratio:.2f}x')
    return text


def _cell(values) -> str:
    """A value, or mean ± sample std of a list of runs."""
    if not isinstance(values, list):
        return f'{values:.1f}'
    if len(values) == 1:
        return f'{values[0]:.1f}'
    return f'{np.mean(values):.1f} ± {np.std(values, ddof=1):.1f}'


if __name__ == '__main__':
    main()
