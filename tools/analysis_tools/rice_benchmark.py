"""RICE benchmark on a toy LPR4M split large enough to tell a gain from
noise: every variant trained with several seeds, R@1/5/10 with 95 %
paired-bootstrap intervals (resampling queries), next to chance, a colour
histogram and a SIFT matcher, and each row's difference to its parent.

    python tools/analysis_tools/rice_benchmark.py --work-dir work_dirs/rice_benchmark \\
        --out table.md

Every row with 3 seeds takes about 9 hours on 2 CPU cores (a 4x4-grid
training about 10 minutes, an 8x8 one about 27, a second stage 18-29);
``--variants`` and ``--seeds`` pick rows; ``--jobs N`` runs N trainings at
once (e.g. on a GPU node). Resumable: a run whose predictions exist is not
trained again; runs with extra ``--cfg-options`` get their own work dirs. The data
(``--data-root``, default ``<work-dir>/data``) is generated with the
``benchmark`` preset when missing. Predicted boxes (detector output of
``tools/test.py DET_CFG CKPT --out-boxes boxes.json``) are added with
``--box-file SD=sd.json MD=md.json``. With ``--val-data-root`` every trained
PMD row also picks its re-ranking (top-K and weight) on a validation split
that another generator seed makes, and the chosen setting is tested: the
test queries never choose a setting.
"""
import argparse
import hashlib
import json
import os
import os.path as osp
import subprocess
import sys
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Tuple

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'projects'))

TOPK = (1, 5, 10)
CFG = 'configs/rice/'
# name: (config, parent row, training cfg-options)
# The 8x8 whole-frame first stage draws PMD's 3 negatives from the 8 most
# similar images (the second-stage configs set this themselves); the 4x4
# rows and the one-stage box row keep the paper's 3 hardest.
TRAINED = OrderedDict([
    ('ICL', (CFG + 'rice-icl_r18-slim_1xb32-18e_toy-lpr4m.py', 'colour histogram', [])),
    ('ICL+PMD', (CFG + 'rice-icl-pmd_r18-slim_1xb32-18e_toy-lpr4m.py', 'ICL', [])),
    ('ICL+PMD+PFR', (CFG + 'rice_r18-slim_1xb32-18e_toy-lpr4m.py', 'ICL+PMD', [])),
    ('ICL+PMD+PFR+text', (CFG + 'rice-text_r18-slim_1xb32-18e_toy-lpr4m.py', 'ICL+PMD+PFR', [])),
    ('ICL+PMD+PFR, 8x8 grid', (CFG + 'rice_r18-slim-s16_1xb32-18e_toy-lpr4m.py', 'ICL+PMD+PFR', ['model.pmd_head.negative_pool=8'])),
    ('ICL+PMD+PFR, 8x8 grid, PMD stage 2', (CFG + 'rice-pmd-stage2_r18-slim-s16_1xb32-34e_toy-lpr4m.py', 'ICL+PMD+PFR, 8x8 grid', [])),
    ('ICL+PMD+PFR, 8x8 grid, PMD stage 2, tuned last stage', (CFG + 'rice-pmd-stage2-ft_r18-slim-s16_1xb32-34e_toy-lpr4m.py', 'ICL+PMD+PFR, 8x8 grid', [])),
    ('ICL+PMD+PFR+boxes, 8x8 grid', (CFG + 'rice-box_r18-slim-s16_1xb32-18e_toy-lpr4m.py', 'ICL+PMD+PFR, 8x8 grid', [])),
    ('ICL+PMD+PFR+boxes, 8x8 grid, PMD stage 2', (CFG + 'rice-box-pmd-stage2_r18-slim-s16_1xb32-34e_toy-lpr4m.py', 'ICL+PMD+PFR+boxes, 8x8 grid', [])),
])
# Second stages: they start from their parent's checkpoint of the same seed
# and train for --stage2-epochs.
STAGE2 = tuple(name for name in TRAINED if ', PMD stage 2' in name)
# Test-time settings of the PMD variants: (suffix, cfg-options).
RERANK = [
    ('PMD only', ['model.rerank.top_k=1000', 'model.rerank.weight=1.0']),
    ('re-rank top-5', ['model.rerank.top_k=5', 'model.rerank.weight=0.5']),
]
# Re-ranking settings (top-K, PMD weight) tried on the validation split
# (--val-data-root); top-K 0 is the embedding ranking.
FUSION_GRID = [(0, 0.0)] + [(k, w) for k in (2, 3, 5, 10)
                            for w in (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)]


def data_opts(root: str, box_file: Optional[str] = None) -> List[str]:
    opts = [
        f'train_dataloader.dataset.data_root={root}',
        f'val_dataloader.dataset.data_root={root}',
        f'test_dataloader.dataset.data_root={root}',
        f'val_cfg.gallery_dataloader.dataset.data_root={root}',
        f'test_cfg.gallery_dataloader.dataset.data_root={root}',
    ]
    if box_file:
        opts.append(f'test_dataloader.dataset.box_file={box_file}')
    return opts


def slug(text: str) -> str:
    return ''.join(c if c.isalnum() else '_' for c in text).strip('_')


def schedule_opts(epochs: Optional[int]) -> List[str]:
    """Cut the toy recipe to ``epochs`` (its 2 warmup epochs kept), with no
    validation and one checkpoint at the end."""
    if not epochs:
        return []
    return [
        f'train_cfg.max_epochs={epochs}', 'train_cfg.val_interval=1000',
        f'param_scheduler.1.T_max={epochs - 2}',
        f'param_scheduler.1.end={epochs}',
        f'default_hooks.checkpoint.interval={epochs}'
    ]


def run(cmd: List[str], log: str) -> None:
    with open(log, 'w') as f:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode:
        with open(log) as f:
            tail = f.read()[-4000:]
        raise RuntimeError(f'{" ".join(cmd)} failed ({log}):\n{tail}')


def run_dir(args, name: str, seed: int) -> str:
    """Work dir of one row and seed. Runs with extra ``--cfg-options`` get
    their own dirs (``seed0-<hash of the options>``), so a resumed benchmark
    never reuses a run trained or tested with other options."""
    leaf = f'seed{seed}'
    if args.cfg_options:
        key = ' '.join(args.cfg_options).encode()
        leaf += '-' + hashlib.sha1(key).hexdigest()[:8]
    return osp.join(args.work_dir, slug(name), leaf)


def box_file_path(path: str, data_root: str) -> str:
    """A ``--box-file`` path as the test dataset finds it (as given, else
    under the data root), made absolute."""
    for candidate in (path, osp.join(data_root, path)):
        if osp.isfile(candidate):
            return osp.abspath(candidate)
    raise FileNotFoundError(f'box file {path} is neither a file nor under '
                            f'the data root {data_root}')


def same_box_file(pkl: str, box_file: str) -> bool:
    """Whether the predictions ``pkl`` (if any) were made with the boxes now
    in ``box_file``: its SHA-1 is kept beside them (``<pkl>.boxes``), so a
    detector's new boxes under an old name are tested again. Predictions
    without the record adopt the current file."""
    with open(box_file, 'rb') as f:
        digest = hashlib.sha1(f.read()).hexdigest()
    record = pkl + '.boxes'
    same = True
    if osp.exists(pkl) and osp.exists(record):
        with open(record) as f:
            same = f.read().strip() == digest
    with open(record, 'w') as f:
        f.write(digest + '\n')
    return same


def last_checkpoint(work_dir: str) -> str:
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def row_tag(name: str, row: str) -> str:
    """File tag of a test row of ``name``: 'emb' for its embedding ranking,
    else its setting ('re_rank_top_5', 'SD_boxes', ...)."""
    return slug(row[len(name) + 2:]) if row != name else 'emb'


def predict(cfg: str, wd: str, tag: str, opts: List[str], args,
            prefix: str = '') -> str:
    """Test the checkpoint of the run in ``wd`` with ``opts`` (then
    ``--cfg-options``) into ``<wd>/<prefix>preds_<tag>.pkl`` (log
    ``<prefix>test_<tag>.log``), unless it is there. Returns the path."""
    pkl = osp.join(wd, f'{prefix}preds_{tag}.pkl')
    if not osp.exists(pkl):
        run([sys.executable, 'tools/test.py', cfg, last_checkpoint(wd),
             '--work-dir', wd, '--out', pkl, '--cfg-options', *opts,
             *args.cfg_options], osp.join(wd, f'{prefix}test_{tag}.log'))
    return pkl


def train_and_test(name: str, cfg: str, seed: int, args,
                   extra: List[str]) -> Dict[str, str]:
    """Train one variant with one seed (unless done); test it with every
    test setting it has. Returns {row name: predictions path}."""
    wd = run_dir(args, name, seed)
    os.makedirs(wd, exist_ok=True)
    if args.cfg_options:
        with open(osp.join(wd, 'cfg_options.txt'), 'w') as f:
            f.write('\n'.join(args.cfg_options) + '\n')
    opts = data_opts(args.data_root) + [f'randomness.seed={seed}'] + extra
    epochs = args.epochs
    if name in STAGE2:
        parent = TRAINED[name][1]
        train_and_test(parent, TRAINED[parent][0], seed, args,
                       TRAINED[parent][2])
        opts.append('load_from=' + last_checkpoint(
            run_dir(args, parent, seed)))
        epochs = args.stage2_epochs
    opts += schedule_opts(epochs) + args.cfg_options
    if not osp.exists(osp.join(wd, 'last_checkpoint')):
        print(f'[benchmark] training {name} seed {seed}', flush=True)
        t0 = time.time()
        run([sys.executable, 'tools/train.py', cfg, '--work-dir', wd,
             '--cfg-options', *opts], osp.join(wd, 'train.log'))
        print(f'[benchmark]   {time.time() - t0:.0f} s', flush=True)
    has_pmd = name.startswith('ICL+PMD')
    # Embedding rows rank by the embeddings alone, whatever the config's
    # re-ranking default.
    emb = ['model.rerank.top_k=0'] if has_pmd else []
    settings = [(name, emb, None)]
    if has_pmd:
        settings += [(f'{name}, {s}', o, None) for s, o in RERANK]
    if 'boxes' in name:
        settings += [(f'{name}, {k} boxes', emb, v)
                     for k, v in args.box_files.items()]
    out = {}
    for row, test_opts, box in settings:
        tag = row_tag(name, row)
        pkl = osp.join(wd, f'preds_{tag}.pkl')
        if box and not same_box_file(pkl, box):
            os.remove(pkl)
        out[row] = predict(cfg, wd, tag,
                           data_opts(args.data_root, box) + test_opts, args)
    return out


def validation_predictions(name: str, cfg: str, seed: int,
                           args) -> Tuple[str, str]:
    """Embedding and PMD-only predictions of a trained row on the
    validation split (``val_preds_emb.pkl``, ``val_preds_PMD_only.pkl``)."""
    wd = run_dir(args, name, seed)
    val = data_opts(args.val_data_root)
    return (predict(cfg, wd, 'emb', val + ['model.rerank.top_k=0'], args,
                    prefix='val_'),
            predict(cfg, wd, 'PMD_only', val + RERANK[0][1], args,
                    prefix='val_'))


def chosen_on_val(name: str, cfg: str, args
                  ) -> Tuple[str, List[str], str]:
    """Choose the re-ranking of a trained PMD row on the validation split
    (:func:`choose_rerank` over the seeds' validation predictions) and test
    it on the benchmark split. Returns the row name, the predictions of
    each seed and a line that reports the choice."""
    from mmengine.fileio import load

    val_runs = [
        tuple(load(pkl) for pkl in validation_predictions(
            name, cfg, seed, args)) for seed in args.seeds
    ]
    setting, val_r1 = choose_rerank(val_runs)
    row = rerank_row(name, setting)
    report = (f'- {name}: top-{setting[0]}, weight {setting[1]:g} '
              f'(validation R@1 {val_r1[setting]:.1f}; embeddings '
              f'{val_r1[(0, 0.0)]:.1f}; top-5, weight 0.5: '
              f'{val_r1[(5, 0.5)]:.1f})')
    # no re-ranking chosen: the embedding row's predictions
    tag = row_tag(name, row) if setting[0] else 'emb'
    pkls = [
        predict(cfg, run_dir(args, name, seed), tag,
                data_opts(args.data_root) + rerank_opts(setting), args)
        for seed in args.seeds
    ]
    return row, pkls, report


def fused_top1_hits(emb: List[dict], pmd_only: List[dict], top_k: int,
                    weight: float) -> np.ndarray:
    """(Q,) whether each query's first image after re-ranking its top-K
    with ``weight`` is a GT image, from saved predictions: the embedding
    ranking (cosine scores) and the PMD-only one (PMD of every image,
    z-scored over the gallery, which the z-score over the top-K undoes).
    The fusion is :func:`fuse_top_k`, the one ``RICE.rank`` uses."""
    import torch

    from lpr.models.retrievers.rice import fuse_top_k

    hits = np.zeros(len(emb), bool)
    for i, (e, p) in enumerate(zip(emb, pmd_only)):
        ranking = list(e['pred_ranking'])
        k = min(top_k, len(ranking))
        first = ranking[0]
        if k >= 2:
            pmd_of = dict(zip(p['pred_ranking'], p['pred_scores']))
            scores = torch.tensor([e['pred_scores']], dtype=torch.float32)
            pmd = torch.tensor([[pmd_of[c] for c in ranking[:k]]])
            _, order = fuse_top_k(scores, torch.arange(len(ranking))[None],
                                  pmd, weight)
            first = ranking[int(order[0, 0])]
        hits[i] = first in set(e['gt_image_ids'])
    return hits


def choose_rerank(val_runs: List[Tuple[List[dict], List[dict]]]
                  ) -> Tuple[Tuple[int, float], Dict[Tuple[int, float],
                                                     float]]:
    """The re-ranking setting of :data:`FUSION_GRID` with the best R@1 on
    the validation split, averaged over the seeds' runs (ties: the earlier
    setting, so the embedding ranking wins a tie). Returns it and every
    setting's R@1 in %."""
    r1 = {
        setting: 100 * float(np.mean([
            fused_top1_hits(emb, pmd, *setting).mean()
            for emb, pmd in val_runs
        ]))
        for setting in FUSION_GRID
    }
    best = max(FUSION_GRID, key=lambda s: (r1[s], -FUSION_GRID.index(s)))
    return best, r1


def rerank_opts(setting: Tuple[int, float]) -> List[str]:
    top_k, weight = setting
    return [f'model.rerank.top_k={top_k}', f'model.rerank.weight={weight}']


def rerank_row(name: str, setting: Tuple[int, float]) -> str:
    top_k, weight = setting
    if not top_k:
        return f'{name}, no re-rank (chosen on val)'
    return f'{name}, re-rank top-{top_k} w {weight:g} (chosen on val)'


def aligned(preds: List[dict], order: List[str]) -> List[dict]:
    by_id = {p['clip_id']: p for p in preds}
    missing = [c for c in order if c not in by_id]
    if missing:
        raise ValueError(f'{len(missing)} queries without a prediction '
                         f'(first: {missing[0]})')
    return [by_id[c] for c in order]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/rice_benchmark')
    parser.add_argument('--data-root', default=None)
    parser.add_argument('--preset', default='benchmark')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument(
        '--epochs', type=int, default=9,
        help='training epochs (the benchmark preset has twice the demo\'s '
        'training clips: 9 epochs = the iterations of the 18-epoch toy '
        'recipe on the demo set; 0 keeps the config\'s schedule)')
    parser.add_argument(
        '--stage2-epochs', type=int, default=17,
        help='training epochs of second stages (PMD on a frozen or slowly '
        'tuned encoder, from the parent\'s checkpoint): 17 = the '
        'iterations of the 34-epoch stage-2 recipe on the demo set')
    parser.add_argument('--variants', nargs='+', default=list(TRAINED))
    parser.add_argument('--box-file', nargs='*', default=[],
                        metavar='NAME=JSON',
                        help='detector boxes (tools/test.py --out-boxes) '
                        'to test the box rows with, one row per NAME; a '
                        'changed file is tested again')
    parser.add_argument('--bootstrap', type=int, default=2000)
    parser.add_argument('--jobs', type=int, default=1,
                        help='train/test runs at once (one per GPU or per '
                        'few cores)')
    parser.add_argument(
        '--val-data-root', default=None,
        help='a validation split (generated with the preset and '
        '--val-seed when missing) on which every trained PMD row picks its '
        're-ranking (top-K, weight); the chosen setting is then tested')
    parser.add_argument('--val-seed', type=int, default=1,
                        help='generator seed of the validation split')
    parser.add_argument('--out', default=None, help='Markdown table file')
    parser.add_argument('--cfg-options', nargs='*', default=[],
                        help='extra cfg-options for every train/test run; '
                        'such runs get their own work dirs '
                        '(seedS-<hash of the options>)')
    args = parser.parse_args()
    args.work_dir = osp.abspath(args.work_dir)
    args.data_root = osp.abspath(args.data_root
                                 or osp.join(args.work_dir, 'data'))
    args.box_files = {
        name: box_file_path(path, args.data_root)
        for name, path in (b.split('=', 1) for b in args.box_file)
    }
    os.makedirs(args.work_dir, exist_ok=True)

    import lpr  # noqa: F401
    from mmengine.fileio import load

    from lpr.datasets import LPR4MGalleryDataset, LPR4MQueryDataset
    from lpr.evaluation.baselines import (colour_histogram_predictions,
                                          first_hits, sift_predictions)
    from lpr.evaluation.bootstrap import (bootstrap_indices, chance_table,
                                          compare, hit_table, interval)

    splits = [(args.data_root, 0, 'generate.log')]
    if args.val_data_root:
        args.val_data_root = osp.abspath(args.val_data_root)
        splits.append((args.val_data_root, args.val_seed, 'generate_val.log'))
    for root, data_seed, log in splits:
        if not osp.exists(osp.join(root, 'meta.json')):
            print(f'[benchmark] generating {root}', flush=True)
            run([sys.executable, 'tools/dataset_converters/make_toy_lpr4m.py',
                 '--out', root, '--preset', args.preset, '--seed',
                 str(data_seed), '--shards', '--workers', '2'],
                osp.join(args.work_dir, log))
    queries = LPR4MQueryDataset(data_root=args.data_root, pipeline=[])
    gallery = LPR4MGalleryDataset(data_root=args.data_root, pipeline=[])
    order = [queries.get_data_info(i)['clip_id'] for i in range(len(queries))]
    live_size: Dict[str, int] = {}
    for i in range(len(gallery)):
        live = gallery.get_data_info(i)['live_id']
        live_size[live] = live_size.get(live, 0) + 1
    infos = [queries.get_data_info(i) for i in range(len(queries))]
    tables = OrderedDict()
    parents = {}
    tables['chance'] = chance_table(
        [live_size.get(q['live_id'], 0) for q in infos],
        [len(set(q['gt_image_ids'])) for q in infos], TOPK)
    seeds_of = {}
    for name, fn in (('colour histogram', colour_histogram_predictions),
                     ('SIFT + ratio test', sift_predictions)):
        cache = osp.join(args.work_dir, name.split()[0].lower() + '.json')
        if not osp.exists(cache):
            print(f'[benchmark] {name}', flush=True)
            with open(cache, 'w') as f:
                json.dump(fn(queries, gallery,
                             show_progress=sys.stdout.isatty()), f)
        with open(cache) as f:
            preds = aligned(json.load(f), order)
        tables[name] = hit_table(first_hits(preds), TOPK)
        parents[name] = 'chance'

    # Second stages after the rest: they start from their parents'
    # checkpoints.
    done = {}
    val_reports: List[str] = []
    for stage in (False, True):
        tasks = [(name, seed) for name in args.variants
                 for seed in args.seeds if (name in STAGE2) == stage]
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            done.update(zip(tasks, pool.map(
                lambda t: train_and_test(t[0], TRAINED[t[0]][0], t[1], args,
                                         TRAINED[t[0]][2]), tasks)))
    for name in args.variants:
        cfg, parent, extra = TRAINED[name]
        runs: Dict[str, List[np.ndarray]] = OrderedDict()
        for seed in args.seeds:
            for row, pkl in done[(name, seed)].items():
                preds = aligned(load(pkl), order)
                runs.setdefault(row, []).append(
                    hit_table(first_hits(preds), TOPK))
        if args.val_data_root and name.startswith('ICL+PMD'):
            row, pkls, report = chosen_on_val(name, cfg, args)
            val_reports.append(report)
            runs[row] = [hit_table(first_hits(aligned(load(pkl), order)), TOPK)
                         for pkl in pkls]
        for row, hits in runs.items():
            tables[row] = np.mean(hits, 0)
            seeds_of[row] = [100 * h[:, 0].mean() for h in hits]
            parents[row] = name

    for name in args.variants:
        # A parent that was not run: compare with its own parent.
        parent = TRAINED[name][1]
        while parent not in tables and parent in TRAINED:
            parent = TRAINED[parent][1]
        parents[name] = parent if parent in tables else 'chance'

    idx = bootstrap_indices(len(order), args.bootstrap)
    lines = [
        f'Toy LPR4M benchmark split: {len(order)} queries from '
        f'{len(live_size)} livestreams, each ranked within its own gallery '
        f'({np.mean(list(live_size.values())):.1f} images); trained rows: '
        f'mean over seeds {args.seeds}; [95 % paired-bootstrap interval over '
        f'queries, {args.bootstrap} resamples]; Δ = difference to the parent '
        'row on the same resampled queries.', '',
        '| method | ' + ' | '.join(f'R@{k}' for k in TOPK) +
        ' | R@1 per seed | parent | Δ R@1 vs parent |',
        '| --- |' + ' --- |' * (len(TOPK) + 3)
    ]
    for row, table in tables.items():
        est, lo, hi = interval(table, idx)
        cells = [f'{e:.1f} [{a:.1f}, {b:.1f}]' for e, a, b in zip(est, lo, hi)]
        per_seed = ', '.join(f'{v:.1f}' for v in seeds_of.get(row, []))
        parent = parents.get(row, '')
        delta = ''
        if parent and parent in tables:
            d = compare(table, tables[parent], idx)
            delta = f'{d["diff"][0]:+.1f} [{d["lo"][0]:+.1f}, {d["hi"][0]:+.1f}]'
        lines.append(f'| {row} | ' + ' | '.join(cells) +
                     f' | {per_seed} | {parent} | {delta} |')
    if val_reports:
        lines += [
            '', 'Re-ranking chosen on the validation split '
            f'({args.val_data_root}, generator seed {args.val_seed}; mean '
            f'over seeds {args.seeds}) among top-K '
            f'{sorted({k for k, _ in FUSION_GRID if k})} and weights '
            f'{sorted({w for k, w in FUSION_GRID if k})}:'
        ] + val_reports
    text = '\n'.join(lines)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text + '\n')


if __name__ == '__main__':
    main()
