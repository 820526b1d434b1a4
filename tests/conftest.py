import importlib.util
import os
import os.path as osp
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(ROOT, 'projects'))


@pytest.fixture(scope='session')
def toy_root(tmp_path_factory):
    """The toy LPR4M ``tests`` preset (seed 0), generated once per session."""
    from lpr.toy import generate, make_config
    out = str(tmp_path_factory.mktemp('toy_lpr4m'))
    generate(out, make_config('tests', seed=0))
    return out


@pytest.fixture(scope='session')
def repo_root():
    return ROOT


def load_script(path: str):
    """A script of this checkout imported as a module, so a test can call
    its functions. ``path``: relative to the repository root (e.g.
    ``tools/analysis_tools/det_box_report.py``) or absolute."""
    name = osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, osp.join(ROOT, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_env():
    """Environment for tool subprocesses: this checkout first on the path."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [osp.join(ROOT, 'projects'), ROOT, env.get('PYTHONPATH', '')])
    env.setdefault('OMP_NUM_THREADS', '1')
    return env


@pytest.fixture(scope='session')
def toy_pixel_root(tmp_path_factory):
    """The ``tests`` preset (seed 0) encoded like the LPR4M release: boxes in
    pixels of a 2.5x larger original frame, folders at that size, shards
    resized back with ``original_width``/``original_height``."""
    from lpr.toy import generate, make_config
    out = str(tmp_path_factory.mktemp('toy_lpr4m_pixel'))
    generate(out, make_config('tests', seed=0, box_format='pixel'))
    return out
