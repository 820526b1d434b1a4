"""The benchmark tools run end to end at a tiny scale."""
import json
import os.path as osp
import subprocess
import sys

import pytest
from conftest import ROOT, run_env


@pytest.mark.slow  # a timing benchmark; the index itself is tested in test_apis
def test_benchmark_index_small(tmp_path):
    proc = subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools/analysis_tools/benchmark_index.py'),
        '--work-dir',
        str(tmp_path), '--rows', '3000', '--frames', '15', '--repeats', '1',
        '--samples', '200', '--workers', '2'
    ],
                          env=run_env(),
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout[proc.stdout.index('{'):])
    assert result['samples'] == 3000
    assert result['load_s_median'] < 60
    assert len(result['workers_mb']) == 2
    # Workers share the index instead of copying it.
    for worker in result['workers_mb']:
        assert worker['private'] < result['parent_mb']['rss'] / 4


@pytest.mark.slow  # a timing benchmark of the data pipeline
def test_benchmark_pipeline_small(toy_root, tmp_path):
    import shutil
    root = str(tmp_path / 'toy')
    shutil.copytree(toy_root, root)
    proc = subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools/analysis_tools/benchmark_pipeline.py'),
        '--data-root', root, '--samples', '10', '--repeats', '1', '--size',
        '32'
    ],
                          env=run_env(),
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout[proc.stdout.index('{'):])
    assert result['pipeline_fps_median'] > 0 and result['raw_fps_median'] > 0
    assert len(result['ratios']) == 1
    assert abs(result['ratios'][0] - result['pipeline_fps_median'] /
               result['raw_fps_median']) < 0.01
