"""The benchmark script end to end on the tests preset: baselines, one
trained variant with its re-ranking settings, and a Markdown table with
bootstrap intervals and differences to the parent rows."""
import glob
import os.path as osp
import re
import shutil
import subprocess
import sys
from argparse import Namespace

import pytest
from conftest import ROOT, load_script, run_env
from test_rice_tools import SMALL


@pytest.mark.slow  # trains a variant; the benchmark tool, not a unit
def test_benchmark_table(toy_root, tmp_path):
    root = str(tmp_path / 'toy')
    shutil.copytree(toy_root, root)
    out = str(tmp_path / 'table.md')
    small = [o for o in SMALL if not o.startswith('train_cfg.max_epochs')]
    cmd = [
        sys.executable, f'{ROOT}/tools/analysis_tools/rice_benchmark.py',
        '--work-dir', str(tmp_path / 'bench'), '--data-root', root,
        '--variants', 'ICL+PMD', '--seeds', '0', '--epochs', '3',
        '--bootstrap', '200', '--out', out, '--val-data-root', root,
        '--cfg-options', *small
    ]
    proc = subprocess.run(cmd, env=run_env(), capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(out) as f:
        text = f.read()
    rows = {
        line.split('|')[1].strip(): line
        for line in text.splitlines() if line.startswith('| ')
    }
    for name in ('chance', 'colour histogram', 'SIFT + ratio test', 'ICL+PMD',
                 'ICL+PMD, PMD only', 'ICL+PMD, re-rank top-5'):
        assert name in rows, text
    # every cell is "estimate [low, high]" with low <= estimate <= high
    for name, line in rows.items():
        if name == 'method':
            continue
        for est, lo, hi in re.findall(
                r'([\d.]+) \[([\d.]+), ([\d.]+)\]', line)[:3]:
            assert float(lo) <= float(est) <= float(hi), line
    # re-ranking rows compare against their embedding ranking
    assert '| ICL+PMD |' in rows['ICL+PMD, re-rank top-5']
    # the re-ranking chosen on the validation split (here the test data
    # itself, to check the plumbing) is tested and reported
    chosen = [r for r in rows if r.endswith('(chosen on val)')]
    assert len(chosen) == 1 and '| ICL+PMD |' in rows[chosen[0]], text
    assert 'Re-ranking chosen on the validation split' in text
    assert '- ICL+PMD: top-' in text
    # resumable: a second call trains nothing again
    proc = subprocess.run(cmd, env=run_env(), capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0
    assert 'training' not in proc.stdout
    # runs with --cfg-options live in their own seed dir
    assert glob.glob(osp.join(str(tmp_path / 'bench'), 'ICL_PMD', 'seed0-*',
                              'preds_re_rank_top_5.pkl'))


def fake_run(calls):
    """A stand-in for the script's ``run``: records each command; a
    training writes ``last_checkpoint``, a test its ``--out`` file."""

    def run(cmd, log):
        calls.append(cmd)
        if cmd[1] == 'tools/train.py':
            wd = cmd[cmd.index('--work-dir') + 1]
            with open(osp.join(wd, 'last_checkpoint'), 'w') as f:
                f.write(osp.join(wd, 'epoch_last.pth'))
        else:
            open(cmd[cmd.index('--out') + 1], 'w').close()

    return run


def test_second_stage_starts_from_its_parents_checkpoint(tmp_path,
                                                         monkeypatch):
    bench = load_script('tools/analysis_tools/rice_benchmark.py')
    calls = []

    monkeypatch.setattr(bench, 'run', fake_run(calls))
    args = Namespace(work_dir=str(tmp_path), data_root='/data', epochs=9,
                     stage2_epochs=17, cfg_options=[], box_files={})
    name = bench.STAGE2[0]
    parent = bench.TRAINED[name][1]
    rows = bench.train_and_test(name, bench.TRAINED[name][0], 1, args, [])
    trains = [c for c in calls if c[1] == 'tools/train.py']
    assert [c[2] for c in trains] == [bench.TRAINED[parent][0],
                                      bench.TRAINED[name][0]]
    parent_ckpt = osp.join(str(tmp_path), bench.slug(parent), 'seed1',
                           'epoch_last.pth')
    assert f'load_from={parent_ckpt}' in trains[1]
    assert 'train_cfg.max_epochs=17' in trains[1]
    assert 'train_cfg.max_epochs=9' in trains[0]
    # the parent trains with its own row's training options
    assert 'model.pmd_head.negative_pool=8' in trains[0]
    assert 'randomness.seed=1' in trains[1]
    assert set(rows) == {name, f'{name}, PMD only', f'{name}, re-rank top-5'}
    # the embedding row does not re-rank, though the stage-2 config does
    emb_test = [c for c in calls if c[1] == 'tools/test.py'
                and c[c.index('--out') + 1] == rows[name]]
    assert 'model.rerank.top_k=0' in emb_test[0]
    # resumable: nothing is trained again
    calls.clear()
    bench.train_and_test(name, bench.TRAINED[name][0], 1, args, [])
    assert not [c for c in calls if c[1] == 'tools/train.py']


def test_runs_with_other_cfg_options_are_not_reused(tmp_path, monkeypatch):
    bench = load_script('tools/analysis_tools/rice_benchmark.py')
    calls = []
    monkeypatch.setattr(bench, 'run', fake_run(calls))

    def trained():
        return [c[c.index('--work-dir') + 1] for c in calls
                if c[1] == 'tools/train.py']

    def train(options):
        args = Namespace(work_dir=str(tmp_path), data_root='/data',
                         epochs=9, stage2_epochs=17, cfg_options=options,
                         box_files={})
        name = bench.STAGE2[0]
        return bench.train_and_test(name, bench.TRAINED[name][0], 0, args,
                                    [])

    plain = train([])
    pool4 = train(['model.pmd_head.negative_pool=4'])
    # the options' runs (row and its parent) are trained in new dirs
    dirs = trained()
    assert len(dirs) == 4 and len(set(dirs)) == 4
    assert all(osp.basename(wd) == 'seed0' for wd in dirs[:2])
    assert all(osp.basename(wd).startswith('seed0-') for wd in dirs[2:])
    with open(osp.join(dirs[3], 'cfg_options.txt')) as f:
        assert f.read().split() == ['model.pmd_head.negative_pool=4']
    assert set(plain.values()).isdisjoint(pool4.values())
    # and resumed from there with the same options
    train(['model.pmd_head.negative_pool=4'])
    assert len(trained()) == 4


def test_changed_box_file_is_tested_again(tmp_path, monkeypatch):
    bench = load_script('tools/analysis_tools/rice_benchmark.py')
    calls = []
    monkeypatch.setattr(bench, 'run', fake_run(calls))
    boxes = tmp_path / 'sd_boxes.json'
    boxes.write_text('{"f0": [[0.1, 0.1, 0.5, 0.5]]}')
    args = Namespace(work_dir=str(tmp_path / 'w'), data_root=str(tmp_path),
                     epochs=9, stage2_epochs=17, cfg_options=[],
                     box_files={'SD': bench.box_file_path(
                         'sd_boxes.json', str(tmp_path))})
    name = 'ICL+PMD+PFR+boxes, 8x8 grid'
    cfg, _, extra = bench.TRAINED[name]

    def box_tests():
        calls.clear()
        rows = bench.train_and_test(name, cfg, 0, args, extra)
        return [c for c in calls if c[1] == 'tools/test.py'
                and c[c.index('--out') + 1] == rows[f'{name}, SD boxes']]

    assert len(box_tests()) == 1
    assert box_tests() == []  # same boxes: resumed
    boxes.write_text('{"f0": [[0.2, 0.2, 0.6, 0.6]]}')
    assert len(box_tests()) == 1  # new boxes under the old name
    assert box_tests() == []
    with pytest.raises(FileNotFoundError, match='missing.json'):
        bench.box_file_path('missing.json', str(tmp_path))


def _saved_predictions(cos, pmd, gt):
    """Embedding and PMD-only predictions as tools/test.py saves them, for
    one query per row of ``cos``/``pmd`` (gallery image j is 'img{j}')."""
    import numpy as np
    emb, pmd_only = [], []
    for q, (c, p) in enumerate(zip(cos, pmd)):
        ids = [f'img{j}' for j in range(len(c))]
        by_cos = np.argsort(-c, kind='stable')
        by_pmd = np.argsort(-p, kind='stable')
        z = (p - p.mean()) / p.std()  # what the PMD-only ranking stores
        emb.append(dict(clip_id=f'q{q}', gt_image_ids=[f'img{gt[q]}'],
                        pred_ranking=[ids[j] for j in by_cos],
                        pred_scores=[float(c[j]) for j in by_cos]))
        pmd_only.append(dict(clip_id=f'q{q}', gt_image_ids=[f'img{gt[q]}'],
                             pred_ranking=[ids[j] for j in by_pmd],
                             pred_scores=[float(z[j]) for j in by_pmd]))
    return emb, pmd_only


def test_offline_fusion_matches_a_hand_computation():
    import numpy as np
    bench = load_script('tools/analysis_tools/rice_benchmark.py')
    rng = np.random.default_rng(0)
    cos = rng.normal(size=(40, 9))
    pmd = rng.normal(size=(40, 9)) * 3 + 1
    gt = rng.integers(0, 9, size=40)
    emb, pmd_only = _saved_predictions(cos, pmd, gt)
    for top_k, weight in ((0, 0.0), (2, 0.3), (5, 0.5), (10, 1.0)):
        expected = []
        for c, p, g in zip(cos, pmd, gt):
            top = np.argsort(-c, kind='stable')[:max(1, min(top_k, 9))]
            first = top[0]
            if len(top) > 1:
                zc = (c[top] - c[top].mean()) / c[top].std()
                zp = (p[top] - p[top].mean()) / p[top].std()
                first = top[np.argmax((1 - weight) * zc + weight * zp)]
            expected.append(first == g)
        got = bench.fused_top1_hits(emb, pmd_only, top_k, weight)
        assert got.tolist() == expected, (top_k, weight)


def test_choose_rerank_on_validation():
    import numpy as np
    bench = load_script('tools/analysis_tools/rice_benchmark.py')
    rng = np.random.default_rng(1)
    gt = rng.integers(0, 6, size=30)
    # the GT image is always 2nd by cosine (another image is 1st) and 1st
    # by PMD: PMD on the top 2 fixes every query
    cos = rng.uniform(0, 0.5, size=(30, 6))
    cos[np.arange(30), gt] = 0.9
    cos[np.arange(30), (gt + 1) % 6] = 1.0
    pmd = -np.abs(rng.normal(size=(30, 6)))
    pmd[np.arange(30), gt] = 1.0
    runs = [_saved_predictions(cos, pmd, gt)] * 2
    (top_k, weight), r1 = bench.choose_rerank(runs)
    assert r1[(0, 0.0)] == 0.0
    assert r1[(top_k, weight)] == 100.0 and top_k >= 2
    assert bench.rerank_row('X', (top_k, weight)).startswith('X, re-rank')
    # PMD that knows nothing: the embedding ranking wins its ties
    flat = [_saved_predictions(cos, np.zeros((30, 6)) + np.arange(6)[::-1],
                               np.argmax(cos, 1))] * 2
    setting, r1 = bench.choose_rerank(flat)
    assert setting == (0, 0.0) and r1[setting] == 100.0
    assert bench.rerank_row('X', setting) == 'X, no re-rank (chosen on val)'
