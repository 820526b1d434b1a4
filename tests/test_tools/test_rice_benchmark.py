"""The benchmark script end to end on the tests preset: baselines, one
trained variant with its re-ranking settings, and a Markdown table with
bootstrap intervals and differences to the parent rows."""
import os.path as osp
import re
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT, run_env
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
        '--bootstrap', '200', '--out', out, '--cfg-options', *small
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
    # resumable: a second call trains nothing again
    proc = subprocess.run(cmd, env=run_env(), capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0
    assert 'training' not in proc.stdout
    assert osp.exists(osp.join(str(tmp_path / 'bench'), 'ICL_PMD', 'seed0',
                               'preds_re_rank_top_5.pkl'))
