"""Every retrieval config parses, builds and states its batch; the paper-era
recipe's decoupled learning rates; the real-data pipelines on toy data."""
import glob
import os.path as osp
import shutil

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmpretrain.registry import DATASETS, MODELS

import lpr  # noqa: F401

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs/rice/*.py')))
V0 = osp.join(ROOT, 'configs/rice/rice_vit-b-p32_8xb32-1e_lpr4m.py')


def _gpus_and_batch(path: str) -> tuple:
    """(GPUs, batch per GPU) from the OpenMMLab name: ..._{gpus}xb{batch}-..."""
    gpus, batch = osp.basename(path).split('_')[2].split('-')[0].split('xb')
    return int(gpus), int(batch)


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_parses_and_states_its_global_batch(path):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports['imports'] == ['lpr']
    gpus, batch = _gpus_and_batch(path)
    assert cfg.auto_scale_lr['base_batch_size'] == gpus * batch
    assert cfg.train_dataloader['batch_size'] == batch
    name = osp.basename(path)
    heads = (cfg.model.get('pmd_head') is not None,
             cfg.model.get('pfr_head') is not None)
    if name.startswith('rice-icl_'):
        assert heads == (False, False)
    elif name.startswith('rice-icl-pmd_'):
        assert heads == (True, False)
    else:
        assert heads == (True, True)
    assert (cfg.model.get('text_encoder') is not None) == \
        name.startswith('rice-text_')
    assert cfg.model.get('use_boxes', False) == name.startswith(
        ('rice-box_', 'rice-box-'))


def _build_model(cfg):
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(cfg.model)


def test_paper_recipe_decoupled_learning_rates():
    cfg = Config.fromfile(V0)
    model = _build_model(cfg)
    optim = dict(cfg.optim_wrapper)
    optim['type'] = 'OptimWrapper'  # AMP needs a GPU; the groups are equal
    optim.pop('dtype')
    wrapper = build_optim_wrapper(model, optim)
    lr_of = {}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            lr_of[id(p)] = (group['lr'], group['weight_decay'])
    named = dict(model.named_parameters())
    assert lr_of[id(named['encoder.backbone.layers.0.ffn.layers.0.0.weight'])
                 ] == pytest.approx((3e-7, 0.2))
    assert lr_of[id(named['encoder.proj.weight'])][0] == pytest.approx(3e-7)
    assert lr_of[id(named['pmd_head.cross_attn.q.weight'])] == \
        pytest.approx((3e-4, 0.2))
    assert lr_of[id(named['pmd_head.ln_pool.weight'])][1] == 0.0
    assert lr_of[id(named['pmd_head.score.bias'])][1] == 0.0
    # CLIP layout: 12 layers of width 768, patch 32, 50 tokens, 512-d.
    model.eval()
    g, tokens = model.encoder(torch.zeros(1, 3, 224, 224))
    assert g.shape == (1, 512) and tokens.shape == (1, 50, 512)


@pytest.fixture(scope='module')
def toy_copy(toy_root, tmp_path_factory):
    """A private copy: building the datasets caches an index next to the
    annotations."""
    root = str(tmp_path_factory.mktemp('configs') / 'toy')
    shutil.copytree(toy_root, root)
    return root


def _toy_folder_dataset(cfg_ds, toy_root):
    """The config's dataset on the toy set (id-named folders, not shards)."""
    cfg_ds = dict(cfg_ds, data_root=toy_root)
    cfg_ds.pop('frame_store', None)
    cfg_ds.pop('image_store', None)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return DATASETS.build(cfg_ds)


@pytest.mark.parametrize('name', [
    'rice_vit-b-p32_8xb32-1e_lpr4m.py',
    'rice-box_vit-b-p32_8xb32-1e_lpr4m.py',
    'rice-mmf_vit-b-p32_4xb32-5000iter_lpr4m.py',
])
def test_real_data_pipelines_on_toy_data(name, toy_copy):
    toy_root = toy_copy
    cfg = Config.fromfile(osp.join(ROOT, 'configs/rice', name))
    train = _toy_folder_dataset(cfg.train_dataloader.dataset, toy_root)
    sample = train[0]
    assert sample['inputs']['frames'].shape[1:] == (3, 224, 224)
    assert sample['inputs']['frames'].shape[0] <= 10
    assert sample['inputs']['image'].shape == (3, 224, 224)
    query = _toy_folder_dataset(cfg.test_dataloader.dataset, toy_root)
    q = query[0]
    assert q['inputs']['frames'].shape[1:] == (3, 224, 224)
    if name.startswith('rice-box_'):
        masks = q['data_samples'].patch_masks
        assert masks.shape[-1] == 50 and masks.any()
    gallery = _toy_folder_dataset(cfg.test_cfg.gallery_dataloader.dataset,
                                  toy_root)
    assert gallery[0]['inputs']['image'].shape == (3, 224, 224)


def test_tuned_second_stage_trains_only_the_last_stage_slowly():
    cfg = Config.fromfile(osp.join(
        ROOT, 'configs/rice/rice-pmd-stage2-ft_r18-slim-s16_1xb32-34e_'
        'toy-lpr4m.py'))
    model = _build_model(cfg)
    model.train()
    named = dict(model.named_parameters())
    trained = {n for n, p in named.items() if p.requires_grad}
    encoder = {n for n in trained if n.startswith('encoder.')}
    assert encoder and all(
        n.startswith(('encoder.backbone.layer4.', 'encoder.proj.'))
        for n in encoder)
    assert not any(n.startswith('icl_head.') for n in trained)
    assert any(n.startswith('pmd_head.') for n in trained)
    assert any(n.startswith('pfr_head.') for n in trained)
    # frozen stages keep their batch-norm statistics; the last one adapts
    backbone = model.encoder.backbone
    assert not backbone.layer3.training and not backbone.norm1.training
    assert backbone.layer4.training
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    lr_of = {id(p): g['lr'] for g in wrapper.optimizer.param_groups
             for p in g['params']}
    head_lr = lr_of[id(named['pmd_head.cross_attn.q.weight'])]
    assert lr_of[id(named['encoder.backbone.layer4.0.conv1.weight'])] == \
        pytest.approx(0.1 * head_lr)
    assert lr_of[id(named['encoder.proj.weight'])] == \
        pytest.approx(0.1 * head_lr)
