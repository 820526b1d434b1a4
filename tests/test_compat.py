"""Environment fixes applied by `import lpr`."""
import pickle
import subprocess
import sys
import textwrap

import pytest

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


class _Reduce:
    """Pickles as ``func(*args)``: how a crafted checkpoint calls things."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _weights_only_load(path):
    import torch
    return torch.load(path, weights_only=True)


def test_getattr_is_never_allow_listed():
    import torch

    import lpr  # noqa: F401
    assert getattr not in torch.serialization.get_safe_globals()


@pytest.mark.parametrize('owner,name', [
    ('numpy', 'tofile'),          # an allow-listed type, another attribute
    ('HistoryBuffer', 'update'),  # HistoryBuffer, not a statistic
    ('HistoryBuffer', '__init__'),
    ('torch', 'load'),            # an attribute of a tensor class
])
def test_crafted_getattr_pickle_is_refused(tmp_path, owner, name):
    import numpy as np
    import torch
    from mmengine.logging import HistoryBuffer

    import lpr  # noqa: F401
    target = dict(numpy=np.ndarray, HistoryBuffer=HistoryBuffer,
                  torch=torch.Tensor)[owner]
    path = tmp_path / 'getattr.pth'
    torch.save({'x': _Reduce(getattr, target, name)}, path)
    with pytest.raises(Exception, match='not allowed|Unsupported global'):
        _weights_only_load(path)


def test_crafted_os_system_pickle_is_refused(tmp_path):
    import os

    import torch

    import lpr  # noqa: F401
    marker = tmp_path / 'ran'
    path = tmp_path / 'system.pth'
    torch.save({'x': _Reduce(os.system, f'touch {marker}')}, path)
    with pytest.raises(Exception, match='blocked|Unsupported global'):
        _weights_only_load(path)
    assert not marker.exists()


def test_history_buffers_load_weights_only(tmp_path):
    """A message hub's HistoryBuffers (what mmengine checkpoints hold)
    round-trip through weights-only loading, statistics methods included."""
    import torch
    from mmengine.logging import HistoryBuffer

    import lpr  # noqa: F401
    buf = HistoryBuffer()
    for v in (3.0, 1.0, 2.0):
        buf.update(v)
    path = tmp_path / 'hub.pth'
    torch.save({'meta': {'message_hub': {'log_scalars': {'loss': buf}}}},
               path)
    loaded = _weights_only_load(path)['meta']['message_hub']['log_scalars']
    out = loaded['loss']
    assert isinstance(out, HistoryBuffer)
    assert out.min() == 1.0 and out.max() == 3.0 and out.current() == 2.0
    assert out.mean() == pytest.approx(2.0)
    assert out.statistics('mean') == pytest.approx(2.0)


def test_history_buffer_statistic_names_what_it_refuses():
    from mmengine.logging import HistoryBuffer

    from lpr.compat import history_buffer_statistic
    assert history_buffer_statistic(HistoryBuffer, 'min') is HistoryBuffer.min
    with pytest.raises(pickle.UnpicklingError, match="'update'.*min,max"):
        history_buffer_statistic(HistoryBuffer, 'update')
    with pytest.raises(pickle.UnpicklingError, match='ndarray'):
        import numpy as np
        history_buffer_statistic(np.ndarray, 'min')
