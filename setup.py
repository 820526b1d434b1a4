"""Install the LPR plugin: the package ``lpr`` lives in ``projects/lpr``."""
import os.path as osp

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
    install_requires=read_requirements('requirements/runtime.txt'),
    extras_require=dict(
        tests=read_requirements('requirements/tests.txt'),
        video=read_requirements('requirements/optional.txt'),
        serve=read_requirements('requirements/serve.txt')),
    zip_safe=False,
)
