"""The wheel ships configs, tools, demo and model-index.yml as
``lpr/.mim``.
Slow: installed in a fresh virtual environment, ``import lpr`` finds the
wheel's package, ``mim search lpr`` lists every model of the metafiles, and
``mim train lpr`` / ``mim test lpr`` run the toy config from it."""
import glob
import os
import os.path as osp
import shutil
import site
import subprocess
import sys
import zipfile

import pytest
import yaml

from conftest import ROOT

CONFIGS = sorted(
    osp.relpath(p, ROOT)
    for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                       recursive=True))


def source_tree(dst: str) -> str:
    """The checkout's files (tracked, or new and not ignored) in ``dst``,
    so that the build writes nothing into the checkout."""
    files = subprocess.run(
        ['git', 'ls-files', '--cached', '--others', '--exclude-standard'],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for rel in files:
        src = osp.join(ROOT, rel)
        if osp.isfile(src):
            os.makedirs(osp.dirname(osp.join(dst, rel)), exist_ok=True)
            shutil.copy2(src, osp.join(dst, rel))
    return dst


def clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    env.setdefault('OMP_NUM_THREADS', '1')
    return env


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    if not osp.isdir(osp.join(ROOT, '.git')) and not osp.isfile(
            osp.join(ROOT, '.git')):
        pytest.skip('needs a git checkout to list the source files')
    src = source_tree(str(tmp_path_factory.mktemp('src')))
    out = str(tmp_path_factory.mktemp('wheel'))
    proc = subprocess.run(
        [sys.executable, '-m', 'pip', 'wheel', '--no-deps',
         '--no-build-isolation', '--disable-pip-version-check', '-w', out,
         src], capture_output=True, text=True, timeout=600, env=clean_env())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (path, ) = glob.glob(osp.join(out, 'lpr-*.whl'))
    return path


@pytest.fixture(scope='module')
def venv(wheel, tmp_path_factory):
    """A fresh venv of the base interpreter with the wheel installed; the
    current environment's packages (torch, the OpenMMLab stack, mim) are
    reachable through a path file, its ``lpr`` is not."""
    root = str(tmp_path_factory.mktemp('venv'))
    base = getattr(sys, '_base_executable', sys.executable)
    subprocess.run([base, '-m', 'venv', root], check=True, timeout=300)
    python = osp.join(root, 'bin', 'python')
    purelib = subprocess.run(
        [python, '-c', 'import sysconfig; '
         'print(sysconfig.get_paths()["purelib"])'],
        capture_output=True, text=True, check=True).stdout.strip()
    with open(osp.join(purelib, 'zz_parent_env.pth'), 'w') as f:
        f.write('\n'.join(site.getsitepackages()) + '\n')
    proc = subprocess.run(
        [python, '-m', 'pip', 'install', '--no-deps',
         '--disable-pip-version-check', wheel],
        capture_output=True, text=True, timeout=600, env=clean_env())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return python, purelib


def test_wheel_holds_the_mim_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for rel in CONFIGS + ['model-index.yml', 'tools/train.py',
                          'tools/test.py', 'tools/dist_train.sh',
                          'tools/model_converters/publish_model.py',
                          'tools/analysis_tools/get_flops.py',
                          'demo/retrieve_demo.py', 'demo/stream_demo.py']:
        assert f'lpr/.mim/{rel}' in names, rel
    with open(osp.join(ROOT, 'model-index.yml')) as f:
        for metafile in yaml.safe_load(f)['Import']:
            assert f'lpr/.mim/{metafile}' in names, metafile
    assert not [n for n in names if '__pycache__' in n or n.endswith('.pyc')]
    assert 'lpr/__init__.py' in names and 'lpr/models/__init__.py' in names
    assert 'lpr/toy/generator.py' in names


@pytest.mark.slow
def test_installed_wheel_imports_and_lists_models(venv):
    python, purelib = venv
    proc = subprocess.run(
        [python, '-c', 'import lpr; print(lpr.__file__)'],
        capture_output=True, text=True, timeout=300, env=clean_env(),
        cwd=purelib)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == osp.join(purelib, 'lpr', '__init__.py')
    pytest.importorskip('mim')
    proc = subprocess.run(
        [python, '-m', 'mim', 'search', 'lpr', '--field', 'config'],
        capture_output=True, text=True, timeout=300, env=clean_env(),
        cwd=purelib)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    from modelindex.load_model_index import load
    names = [m.name for m in load(osp.join(ROOT, 'model-index.yml')).models]
    listed = [line.split(':', 1)[1].strip()
              for line in proc.stdout.splitlines()
              if line.startswith('config id:')]
    assert sorted(listed) == sorted(names)


@pytest.mark.slow
def test_mim_train_and_test_from_the_wheel(venv, toy_root, tmp_path):
    """mim finds the config inside the installed package (the working
    directory has no configs/), trains one short epoch and tests it."""
    pytest.importorskip('mim')
    python, _ = venv
    config = 'configs/rice/rice_r18-slim_1xb32-18e_toy-lpr4m.py'
    data = [
        f'{loader}.dataset.data_root={toy_root}' for loader in (
            'train_dataloader', 'val_dataloader', 'test_dataloader',
            'val_cfg.gallery_dataloader', 'test_cfg.gallery_dataloader')
    ]
    workers = [
        f'{loader}.num_workers=0' for loader in (
            'train_dataloader', 'val_dataloader', 'test_dataloader',
            'val_cfg.gallery_dataloader', 'test_cfg.gallery_dataloader')
    ]
    small = [
        'train_cfg.max_epochs=1', 'train_dataloader.batch_size=8',
        'train_dataloader.sampler.batch_size=8',
        'train_dataloader.sampler.clips_per_live=4',
        'train_dataloader.persistent_workers=False'
    ]
    work = str(tmp_path / 'work')
    proc = subprocess.run(
        [python, '-m', 'mim', 'train', 'lpr', config, '--work-dir', work,
         '--cfg-options', *small, *workers, *data],
        capture_output=True, text=True, timeout=900, env=clean_env(),
        cwd=str(tmp_path))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert 'we find the config file in codebase lpr' in out
    assert 'lpr/.mim/tools/train.py' in out
    assert 'loss_pmd' in out
    assert osp.isfile(osp.join(work, 'epoch_1.pth'))
    proc = subprocess.run(
        [python, '-m', 'mim', 'test', 'lpr', config, '--checkpoint',
         osp.join(work, 'epoch_1.pth'), '--work-dir', work, '--cfg-options',
         *workers, *data],
        capture_output=True, text=True, timeout=900, env=clean_env(),
        cwd=str(tmp_path))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert 'lpr/.mim/tools/test.py' in out
    assert 'retrieval/R@1' in out
