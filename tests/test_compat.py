"""Environment fixes applied by `import lpr`."""
import subprocess
import sys
import textwrap

from conftest import run_env


def run(code, extra_path=None):
    env = run_env()
    if extra_path:
        env['PYTHONPATH'] = extra_path + ':' + env['PYTHONPATH']
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)],
                          env=env, capture_output=True, text=True, timeout=300)


def test_import_registers_modules():
    import lpr
    modules = lpr.registered_modules()
    assert 'LPR4MShopImageDataset' in modules['mmpretrain.DATASETS']


def test_mmaction_models_import_after_lpr():
    proc = run('''
        import lpr, mmaction.models
        from mmaction.registry import MODELS
        print('ok', len(MODELS.module_dict) > 0)
    ''')
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'ok True' in proc.stdout


def test_mmpretrain_models_with_an_incompatible_transformers(tmp_path):
    # A stand-in for a new transformers release whose modeling_utils lacks
    # what mmpretrain 1.2.0's multimodal models import.
    pkg = tmp_path / 'transformers'
    pkg.mkdir()
    (pkg / '__init__.py').write_text("__version__ = '5.17.0'\n")
    (pkg / 'modeling_utils.py').write_text('')
    dist = tmp_path / 'transformers-5.17.0.dist-info'
    dist.mkdir()
    (dist / 'METADATA').write_text(
        'Metadata-Version: 2.1\nName: transformers\nVersion: 5.17.0\n')
    broken = run('import mmpretrain.models', extra_path=str(tmp_path))
    assert broken.returncode != 0
    assert 'ImportError' in broken.stderr
    fixed = run('''
        import lpr, mmpretrain.models
        from mmpretrain.utils import dependency
        print('multimodal', dependency.WITH_MULTIMODAL)
    ''', extra_path=str(tmp_path))
    assert fixed.returncode == 0, fixed.stderr[-2000:]
    assert 'multimodal False' in fixed.stdout


def test_cpu_process_group_needs_torchrun_env(monkeypatch):
    import pytest
    import torch
    from lpr.compat import init_cpu_process_group
    if torch.cuda.is_available():
        pytest.skip('a GPU is visible; the CPU path is not used')
    monkeypatch.delenv('RANK', raising=False)
    with pytest.raises(RuntimeError, match='dist_train.sh'):
        init_cpu_process_group()
