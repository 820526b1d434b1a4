"""One data root for every dataset of a config: ``set_data_root``,
``--data-root`` / ``--cfg-options data_root=`` in the tools, and a real
``tools/test.py --data-root`` run on the toy set."""
import argparse
import glob
import os.path as osp
import shutil
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from conftest import ROOT, run_env

CONFIGS = sorted(
    glob.glob(osp.join(ROOT, 'configs/rice/*.py')) +
    glob.glob(osp.join(ROOT, 'configs/ipd/*.py')))
NEW = '/some/root'


def _name(path):
    return osp.relpath(path, ROOT)


def _leaves(cfg):
    """(dotted key, dataset cfg) of every dataset of every dataloader."""
    from lpr.utils.data_root import iter_dataloaders, iter_datasets
    return [(f'{key}.{ds_key}', ds)
            for key, loader in iter_dataloaders(cfg._cfg_dict)
            for ds_key, ds in iter_datasets(loader['dataset'])]


def _strings(obj, path=''):
    if isinstance(obj, str):
        yield path, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _strings(v, f'{path}.{k}' if path else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _strings(v, f'{path}.{i}')


@pytest.mark.parametrize('config', CONFIGS, ids=_name)
def test_every_dataset_of_every_config_reads_the_new_root(config):
    from lpr.utils import set_data_root
    cfg = Config.fromfile(config)
    old = cfg.data_root
    cfg.test_dataloader.dataset.box_file = f'{old}/boxes/sd.json'
    changed = set_data_root(cfg, NEW + '/')  # a trailing slash is dropped
    assert cfg.data_root == NEW
    leaves = dict(_leaves(cfg))
    roles = {key.split('.')[0] for key in leaves}
    assert {'train_dataloader', 'val_dataloader',
            'test_dataloader'} <= roles
    if cfg.test_cfg.get('type', '').startswith('LPRRetrieval'):
        # The galleries of the retrieval loops, and their queries.
        assert 'test_cfg.gallery_dataloader.dataset' in leaves
        assert 'val_cfg.gallery_dataloader.dataset' in leaves
    for key, ds in leaves.items():
        assert ds.data_root == NEW, key
        for field in ('ann_file', 'ann_dir'):  # relative: follow the root
            value = ds.get(field)
            if isinstance(value, str):
                assert not osp.isabs(value) and not value.startswith(old), \
                    (key, value)
    for key in ('val_evaluator', 'test_evaluator'):
        if 'ann_file' in cfg[key]:  # detection metrics read the COCO file
            assert cfg[key].ann_file.startswith(NEW + '/annotations/')
    assert cfg.test_dataloader.dataset.box_file == NEW + '/boxes/sd.json'
    # No path below the old root is left (outputs and weights aside).
    left = [(k, v) for k, v in _strings(cfg._cfg_dict)
            if (v == old or v.startswith(old + '/'))
            and k not in ('work_dir', 'load_from')]
    assert not left
    assert 'train_dataloader.dataset.data_root' in changed


def test_wrapped_datasets_and_other_roots_are_rerooted():
    from lpr.utils import set_data_root
    cfg = Config(dict(
        data_root='data/a',
        train_dataloader=dict(dataset=dict(
            type='ConcatDataset',
            datasets=[
                dict(type='X', data_root='data/a', ann_file='x.json'),
                dict(type='RepeatDataset', times=2,
                     dataset=dict(type='Y', data_root='data/b',
                                  ann_file='data/b/y.json')),
            ])),
        custom=dict(paths=('data/a/v.txt', 'data/ab/keep.txt')),
        work_dir='data/a/work'))
    set_data_root(cfg, 'new')
    ds = cfg.train_dataloader.dataset
    assert 'data_root' not in ds  # wrappers take no root
    assert ds.datasets[0].data_root == 'new'
    assert ds.datasets[1].dataset.data_root == 'new'
    assert ds.datasets[1].dataset.ann_file == 'new/y.json'
    # Only whole path components match; outputs are not data.
    assert cfg.custom.paths == ('new/v.txt', 'data/ab/keep.txt')
    assert cfg.work_dir == 'data/a/work'


def test_a_root_below_the_old_one_is_applied_once():
    from lpr.utils import set_data_root
    cfg = Config.fromfile(CONFIGS[0])
    old = cfg.data_root
    set_data_root(cfg, f'{old}/v2')
    assert cfg.val_evaluator.ann_file.startswith(f'{old}/v2/annotations/')
    assert cfg.train_dataloader.dataset.data_root == f'{old}/v2'


def test_bad_roots_and_configs_are_errors():
    from lpr.utils import set_data_root
    cfg = Config.fromfile(CONFIGS[0])
    with pytest.raises(ValueError, match='non-empty'):
        set_data_root(cfg, '')
    with pytest.raises(ValueError, match='no dataloader'):
        set_data_root(Config(dict(data_root='x', model=dict())), '/r')


def _args(config, data_root=None, cfg_options=None):
    return argparse.Namespace(
        config=config, launcher='none', work_dir=None, data_root=data_root,
        cfg_options=cfg_options)


@pytest.mark.parametrize('via', ['--data-root', '--cfg-options'])
def test_tools_apply_it_before_per_key_options(via):
    from lpr.utils import load_tool_config
    config = osp.join(ROOT,
                      'configs/rice/rice_r18-slim_1xb32-18e_toy-lpr4m.py')
    opts = {'val_cfg.gallery_dataloader.dataset.data_root': '/elsewhere'}
    if via == '--data-root':
        cfg = load_tool_config(_args(config, NEW, opts))
    else:
        cfg = load_tool_config(_args(config, None, dict(opts, data_root=NEW)))
    assert cfg.train_dataloader.dataset.data_root == NEW
    assert cfg.test_dataloader.dataset.data_root == NEW
    assert cfg.test_cfg.gallery_dataloader.dataset.data_root == NEW
    # A per-key option given with the root still wins.
    assert cfg.val_cfg.gallery_dataloader.dataset.data_root == '/elsewhere'


@pytest.fixture(scope='module')
def data_copy(toy_root, tmp_path_factory):
    """The toy set with its COCO files and a box file, in a private copy
    (building the training set caches an index next to the annotations)."""
    from lpr.datasets.det_coco import convert_test, convert_training
    root = str(tmp_path_factory.mktemp('data_root') / 'toy')
    shutil.copytree(toy_root, root)
    ann = osp.join(root, 'annotations')
    for n in (1, 34):
        convert_training(root, osp.join(ann, f'lpr_det_train_{n}cls.json'), n,
                         frames_per_clip=2)
    # Every detector config tests on the one-class file.
    convert_test(root, osp.join(ann, 'lpr_det_test_1cls.json'), 1)
    shutil.copy(glob.glob(osp.join(ann, 'test_frameid2gtbox_*'))[0],
                osp.join(root, 'boxes.json'))
    return root


@pytest.mark.parametrize('name', [
    'rice/rice-box_r18-slim-s16_1xb32-18e_toy-lpr4m.py',
    'rice/rice_vit-b-p32_8xb32-1e_lpr4m.py',
    'ipd/dab-detr_r18-slim_1xb8-12e_toy-lpr4m.py',
    'ipd/transvod-lite_r18-slim_1xb2-3e_toy-lpr4m.py',
])
def test_built_datasets_read_from_the_new_root(name, data_copy):
    import lpr  # noqa: F401
    from mmdet.registry import DATASETS as DET
    from mmpretrain.registry import DATASETS as CLS

    from lpr.utils import set_data_root
    cfg = Config.fromfile(osp.join(ROOT, 'configs', name))
    set_data_root(cfg, data_copy)
    if name.startswith('rice'):
        cfg.test_dataloader.dataset.box_file = 'boxes.json'
    scope, registry = ('mmdet', DET) if name.startswith('ipd') else (
        'mmpretrain', CLS)
    for key, ds_cfg in _leaves(cfg):
        if key.split('.')[0] not in ('train_dataloader', 'test_dataloader') \
                and 'gallery' not in key:
            continue
        if ds_cfg.type == 'LPR4MGalleryDataset':  # toy: no shards
            ds_cfg = dict(ds_cfg, check_files=False)
        with DefaultScope.overwrite_default_scope(scope):
            ds = registry.build(ds_cfg)
        assert len(ds) > 0, key
        paths = [getattr(ds, a, None) for a in
                 ('ann_file', 'ann_dir', 'box_file')]
        paths += [s.root for s in (getattr(ds, 'frame_store', None),
                                   getattr(ds, 'image_store', None)) if s]
        paths += list(getattr(ds, 'data_prefix', {}).values())
        paths += getattr(ds, '_ann_paths', lambda: [])()
        paths = [p for p in paths if p]
        assert paths, key
        assert all(p.startswith(data_copy) for p in paths), (key, paths)
    if name.startswith('ipd'):
        assert cfg.test_evaluator.ann_file == osp.join(
            data_copy, 'annotations/lpr_det_test_1cls.json')


def test_tools_test_py_with_data_root_on_the_toy_set(toy_root, tmp_path):
    """tools/test.py --data-root: the toy RICE config on the toy tests
    preset, from a folder where the config's own root does not exist; its
    log shows the retrieval loop's progress as plain lines."""
    import lpr  # noqa: F401
    from mmpretrain.registry import MODELS
    config = osp.join(ROOT,
                      'configs/rice/rice_r18-slim_1xb32-18e_toy-lpr4m.py')
    cfg = Config.fromfile(config)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    ckpt = str(tmp_path / 'random.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    root = str(tmp_path / 'toy')
    shutil.copytree(toy_root, root)
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools/test.py'), config, ckpt,
         '--work-dir', str(tmp_path / 'work'), '--data-root', root,
         '--cfg-options', 'test_dataloader.num_workers=0',
         'test_cfg.gallery_dataloader.num_workers=0'],
        cwd=str(tmp_path), env=run_env(), capture_output=True, text=True,
        timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert not osp.exists(tmp_path / cfg.data_root)
    assert f'data root {root}:' in out
    assert 'retrieval/R@1' in out
    # 2 test livestreams: 12 gallery images + 8 queries, one line at the end.
    lines = [l for l in proc.stdout.splitlines()
             if l.startswith('encoding and ranking')]
    assert lines and lines[-1].startswith(
        'encoding and ranking gallery images + queries: 20/20 samples '
        '(100%)')
    assert '\r' not in proc.stdout
