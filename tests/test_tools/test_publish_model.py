"""tools/model_converters/publish_model.py: a full mmengine checkpoint of
RICE becomes weights + meta under a SHA-256-suffixed name, without the
plugin imported; the release loads into the model with the same weights;
anything but the allow-listed globals is refused."""
import hashlib
import json
import os
import os.path as osp
import re
import runpy
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner import load_checkpoint

from conftest import ROOT, run_env
from tiny_rice import build_tiny_rice

TOOL = osp.join(ROOT, 'tools/model_converters/publish_model.py')


def full_checkpoint(path):
    """What mmengine's CheckpointHook writes: meta, state_dict, optimizer,
    param_schedulers and the message hub with its HistoryBuffers."""
    model = build_tiny_rice()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.parameters().__next__().sum().backward()
    optimizer.step()
    hub = MessageHub.get_instance('publish_model_test')
    for i in range(3):
        hub.update_scalar('train/loss', 1.0 / (i + 1))
    hub.update_info('iter', 3)
    torch.save(
        dict(
            meta=dict(epoch=1, iter=3, cfg='model = dict(type="RICE")',
                      dataset_meta=dict(dataset='LPR4M')),
            state_dict=model.state_dict(),
            optimizer=optimizer.state_dict(),
            param_schedulers=[dict(last_step=3)],
            message_hub=hub.state_dict()), path)
    return model


def publish(in_file, out_file):
    """Run the tool in a fresh interpreter and check that it did not need
    ``import lpr``."""
    probe = ('import runpy, sys; sys.argv = sys.argv[1:]; '
             'runpy.run_path(sys.argv[0], run_name="__main__"); '
             'assert "lpr" not in sys.modules, "lpr was imported"')
    return subprocess.run(
        [sys.executable, '-c', probe, TOOL, in_file, out_file],
        env=run_env(), capture_output=True, text=True, timeout=120)


def test_release_keeps_weights_and_meta(tmp_path):
    src = str(tmp_path / 'epoch_1.pth')
    model = full_checkpoint(src)
    # The training checkpoint needs more than torch's default allow-list
    # (in a process that has not imported lpr).
    proc = subprocess.run(
        [sys.executable, '-c', 'import sys, torch; torch.load(sys.argv[1])',
         src], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and 'Unsupported global' in proc.stderr

    proc = publish(src, str(tmp_path / 'out' / 'rice_tiny.pth'))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'dropped: message_hub, optimizer, param_schedulers' in proc.stdout
    (name, ) = os.listdir(tmp_path / 'out')
    match = re.fullmatch(r'rice_tiny-([0-9a-f]{8})\.pth', name)
    assert match, name
    out = str(tmp_path / 'out' / name)
    with open(out, 'rb') as f:
        assert hashlib.sha256(f.read()).hexdigest()[:8] == match.group(1)

    # Plain torch.load with its weights_only default reads the release.
    release = torch.load(out)
    assert set(release) == {'meta', 'state_dict'}
    assert release['meta']['epoch'] == 1
    assert release['meta']['dataset_meta'] == dict(dataset='LPR4M')
    assert release['meta']['cfg'] == 'model = dict(type="RICE")'

    fresh = build_tiny_rice(seed=1)
    assert any(not torch.equal(fresh.state_dict()[k], v)
               for k, v in model.state_dict().items())
    load_checkpoint(fresh, out, map_location='cpu', strict=True)
    expected = model.state_dict()
    loaded = fresh.state_dict()
    assert loaded.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(loaded[key], value), key


@pytest.fixture(scope='module')
def tool():
    return runpy.run_path(TOOL)


def test_bare_state_dict_is_wrapped(tool, tmp_path, monkeypatch):
    src = str(tmp_path / 'weights.pth')
    torch.save({'w': torch.ones(2)}, src)
    monkeypatch.setattr(sys, 'argv', [TOOL, src, str(tmp_path / 'w')])
    tool['main']()
    (name, ) = [n for n in os.listdir(tmp_path) if n.startswith('w-')]
    release = torch.load(str(tmp_path / name))
    assert torch.equal(release['state_dict']['w'], torch.ones(2))


class _RunsCommand:

    def __reduce__(self):
        return (os.system, ('echo pwned',))


class _FetchesAttribute:
    """``getattr`` on an allow-listed class, for something that is not a
    HistoryBuffer statistics method."""

    def __init__(self, owner, name):
        self.owner, self.name = owner, name

    def __reduce__(self):
        return (getattr, (self.owner, self.name))


def test_foreign_globals_are_refused(tmp_path):
    """Each file is read by the tool's loader in one fresh interpreter (no
    lpr imported, so no allow-list but the tool's own is in force)."""
    cases = [
        (_RunsCommand(), "GLOBAL posix.system"),
        (_FetchesAttribute(np.ndarray, 'tofile'),
         "refused getattr(<class 'numpy.ndarray'>, 'tofile')"),
        (_FetchesAttribute(HistoryBuffer, '__init__'),
         "refused getattr(<class 'mmengine.logging.history_buffer."
         "HistoryBuffer'>, '__init__')"),
        (dict(history=subprocess.Popen), 'Popen was not an allowed global'),
    ]
    files = []
    for i, (payload, _) in enumerate(cases):
        files.append(str(tmp_path / f'evil{i}.pth'))
        torch.save(dict(state_dict={}, meta={}, message_hub=payload),
                   files[-1])
    probe = (
        'import json, runpy, sys\n'
        'tool = runpy.run_path(sys.argv[1])\n'
        'errors = []\n'
        'for path in sys.argv[2:]:\n'
        '    try:\n'
        '        tool["load_training_checkpoint"](path)\n'
        '        errors.append(None)\n'
        '    except ValueError as err:\n'
        '        errors.append(str(err))\n'
        'assert "lpr" not in sys.modules\n'
        'print(json.dumps(errors))\n')
    proc = subprocess.run([sys.executable, '-c', probe, TOOL, *files],
                          env=run_env(), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'pwned' not in proc.stdout
    errors = json.loads(proc.stdout.strip().splitlines()[-1])
    for path, (_, refused), error in zip(files, cases, errors):
        assert error is not None, path
        assert error.startswith(
            f'{path}: not read as an mmengine checkpoint'), error
        assert refused in error, error


def test_not_a_checkpoint(tool, tmp_path, monkeypatch):
    src = str(tmp_path / 'counter.pth')
    torch.save({'epoch': 3}, src)
    monkeypatch.setattr(sys, 'argv', [TOOL, src, str(tmp_path / 'out')])
    with pytest.raises(SystemExit, match='has no "state_dict"'):
        tool['main']()
    assert os.listdir(tmp_path) == ['counter.pth']
