"""Install the LPR plugin: the package ``lpr`` lives in ``projects/lpr``."""
import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup


def read_version() -> str:
    namespace: dict = {}
    with open(osp.join('projects', 'lpr', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


def read_requirements(path: str) -> list:
    with open(path) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line]


def add_mim_extension() -> None:
    """Ship configs, tools, demo and model-index.yml as ``lpr/.mim`` (what
    ``mim train/test/search lpr`` read), as mmdet's setup.py does: copies
    for a wheel or an sdist, symlinks for an editable install."""
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        mode = 'symlink'
    elif 'sdist' in sys.argv or 'bdist_wheel' in sys.argv:
        mode = 'copy'
    else:
        return
    repo = osp.dirname(osp.abspath(__file__))
    mim_path = osp.join(repo, 'projects', 'lpr', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for name in ('configs', 'tools', 'demo', 'model-index.yml'):
        src = osp.join(repo, name)
        if not osp.exists(src):  # building from an sdist: .mim is there
            continue
        dst = osp.join(mim_path, name)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_path), dst)
        elif osp.isfile(src):
            shutil.copyfile(src, dst)
        else:
            shutil.copytree(
                src, dst,
                ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))


add_mim_extension()
setup(
    name='lpr',
    version=read_version(),
    description='Livestreaming product recognition (LPR4M, RICE, intended '
    'product detection) for OpenMMLab',
    long_description=open('README.md').read() if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    license='Apache License 2.0',
    python_requires='>=3.8',
    packages=['lpr'] + ['lpr.' + p for p in find_packages('projects/lpr')],
    package_dir={'lpr': 'projects/lpr'},
    include_package_data=True,  # lpr/.mim, listed in MANIFEST.in
    install_requires=read_requirements('requirements/runtime.txt'),
    extras_require=dict(
        tests=read_requirements('requirements/tests.txt'),
        video=read_requirements('requirements/optional.txt'),
        serve=read_requirements('requirements/serve.txt')),
    zip_safe=False,
)
