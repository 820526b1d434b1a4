"""The tiny RICE config trains and tests through the standard tools on the
toy set; --out dumps per-query rankings restricted to each live."""
import json
import os.path as osp
import shutil
import subprocess
import sys

from mmengine.fileio import load

from conftest import ROOT, run_env

CONFIG = osp.join(ROOT, 'configs/rice/rice_vit-tiny-p16_1xb32-18e_toy-lpr4m.py')
SMALL = [
    'train_cfg.max_epochs=1', 'train_dataloader.batch_size=8',
    'train_dataloader.sampler.batch_size=8',
    'train_dataloader.sampler.clips_per_live=4',
    'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers='
    'False', 'val_cfg.gallery_dataloader.num_workers=0',
    'test_cfg.gallery_dataloader.num_workers=0',
    'val_dataloader.num_workers=0', 'test_dataloader.num_workers=0'
]


def data_options(root):
    return [
        f'train_dataloader.dataset.data_root={root}',
        f'val_dataloader.dataset.data_root={root}',
        f'test_dataloader.dataset.data_root={root}',
        f'val_cfg.gallery_dataloader.dataset.data_root={root}',
        f'test_cfg.gallery_dataloader.dataset.data_root={root}',
    ]


def test_train_then_test_dumps_rankings(toy_root, tmp_path):
    root = str(tmp_path / 'toy')
    shutil.copytree(toy_root, root)
    work = str(tmp_path / 'work')
    opts = SMALL + data_options(root)
    proc = subprocess.run(
        [sys.executable, f'{ROOT}/tools/train.py', CONFIG, '--work-dir', work,
         '--cfg-options', *opts],
        env=run_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'loss_icl' in proc.stdout + proc.stderr
    assert 'loss_pmd' in proc.stdout + proc.stderr
    out = str(tmp_path / 'preds.pkl')
    proc = subprocess.run(
        [sys.executable, f'{ROOT}/tools/test.py', CONFIG,
         osp.join(work, 'epoch_1.pth'), '--work-dir', work, '--out', out,
         '--cfg-options', *opts],
        env=run_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert 'retrieval/R@1' in proc.stdout + proc.stderr
    preds = load(out)
    with open(osp.join(root, 'meta.json')) as f:
        n_queries = json.load(f)['stats']['test']['clips']
    assert len(preds) == n_queries
    from lpr.datasets import find_annotation, load_gallery
    from lpr.datasets.ids import live_id_of
    gallery = load_gallery(
        find_annotation(osp.join(root, 'annotations'),
                        'test_liveid_to_gallery_'))
    for p in preds:
        assert sorted(p['pred_ranking']) == sorted(
            gallery[live_id_of(p['clip_id'])])
    # Deterministic at test time: a second run ranks identically.
    out2 = str(tmp_path / 'preds2.pkl')
    subprocess.run(
        [sys.executable, f'{ROOT}/tools/test.py', CONFIG,
         osp.join(work, 'epoch_1.pth'), '--work-dir', work, '--out', out2,
         '--cfg-options', *opts],
        env=run_env(), capture_output=True, text=True, timeout=600,
        check=True)
    assert [p['pred_ranking'] for p in load(out2)] == [
        p['pred_ranking'] for p in preds
    ]
    # The report: chance, one run, and mean ± std over runs.
    proc = subprocess.run(
        [sys.executable, f'{ROOT}/tools/analysis_tools/retrieval_report.py',
         '--data-root', root, '--no-baseline', '--preds', f'one={out}',
         f'two={out},{out2}'],
        env=run_env(), capture_output=True, text=True, timeout=600,
        check=True)
    rows = {line.split('|')[1].strip(): line for line in
            proc.stdout.splitlines() if line.startswith('| ')}
    assert 'chance (random ranking of the live gallery)' in rows
    r1 = rows['one'].split('|')[2].strip()
    assert rows['two (2 runs)'].split('|')[2].strip() == f'{r1} ± 0.0'
