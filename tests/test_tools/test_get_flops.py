"""tools/analysis_tools/get_flops.py: the attention rule counts by hand,
and on the toy RICE config the per-clip and per-pair numbers add up from
the per-image one."""
import json
import os.path as osp
import runpy
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from conftest import ROOT, run_env

TOOL = osp.join(ROOT, 'tools/analysis_tools/get_flops.py')
TOY = osp.join(ROOT, 'configs/rice/rice_r18-slim_1xb32-18e_toy-lpr4m.py')


@pytest.fixture(scope='module')
def tool():
    return runpy.run_path(TOOL)


def test_attention_is_counted_as_two_matmuls(tool):
    model = torch.nn.Identity()
    q = torch.randn(2, 4, 5, 8)
    k = torch.randn(2, 4, 7, 8)
    v = torch.randn(2, 4, 7, 6)
    out = tool['count'](model, F.scaled_dot_product_attention, [q, k, v])
    # q·kᵀ: 2·4·5·7·8, probs·v: 2·4·5·7·6 multiply-adds.
    assert out['total'] == 2 * 4 * 5 * 7 * (8 + 6)
    assert out['uncounted_ops'] == []
    ref = tool['count'](model, torch.matmul, [q, k.transpose(-1, -2)])
    assert ref['total'] == 2 * 4 * 5 * 7 * 8


def test_toy_config_adds_up(tmp_path):
    out = tmp_path / 'flops.json'
    proc = subprocess.run(
        [sys.executable, TOOL, TOY, '--shape', '64', '--frames', '3',
         '--pairs', '4', '--out', str(out)],
        env=run_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert 'per training pair:' in proc.stdout
    res = json.loads(out.read_text())
    image, clip, pair = res['image'], res['clip'], res['pair']
    assert image['total'] > 1e6
    # A clip is its frames through the same encoder (GeM pooling and the
    # frame mean are element-wise, not counted).
    assert clip['total'] == 3 * image['total']
    # A pair encodes 1 image + 3 frames (batch-norm in training mode is
    # counted a little higher than in eval mode) ...
    assert pair['parts']['encoder'] == pytest.approx(
        4 * image['total'], rel=0.02)
    # ... and runs every head: PMD and PFR layers, ICL's similarities
    # (outside any layer: "other"); the total is the sum of its parts.
    for part in ('pmd_head', 'pfr_head', 'other'):
        assert pair['parts'][part] > 0, part
    assert clip['parts']['other'] == 0 and image['parts']['other'] == 0
    assert pair['total'] == pytest.approx(sum(pair['parts'].values()))
    uncounted = set(image['uncounted_ops'] + clip['uncounted_ops'] +
                    pair['uncounted_ops'])
    assert not {op for op in uncounted
                if 'mm' in op or 'attention' in op or 'conv' in op
                or 'linear' in op}, uncounted


@pytest.mark.parametrize('config,args,message', [
    (TOY, ['--pairs', '3'], '--pairs 3 < 4: PMD needs 3 negatives'),
    (osp.join(ROOT, 'configs/ipd/dab-detr_r18-slim_1xb8-12e_toy-lpr4m.py'),
     [], 'get_flops.py counts RICE retrievers, the config builds DABDETR'),
])
def test_refused(tool, monkeypatch, config, args, message):
    monkeypatch.setattr(sys, 'argv', [TOOL, config, *args])
    with pytest.raises(SystemExit) as exc:
        tool['main']()
    assert message in str(exc.value)
