"""The real-data recipes select the official semantics: head classes per
code version, the decoder's token source, the PMD initialisation they load,
and the query frames of the LPR4M test folders (floor rule)."""
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS, TRANSFORMS
from mmpretrain.structures import DataSample

import lpr  # noqa: F401
from lpr.datasets.transforms.clip_sampling import uniform_indices

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
RICE = osp.join(ROOT, 'configs/rice')
V0 = osp.join(RICE, 'rice_vit-b-p32_8xb32-1e_lpr4m.py')
MMF = [
    osp.join(RICE, 'rice-mmf_vit-b-p32_4xb32-5000iter_lpr4m.py'),
    osp.join(RICE, 'rice-mmf_vit-b-p32_2xb48-5000iter_movingfashion.py'),
]
LPR4M_REAL = sorted(
    p for p in glob.glob(osp.join(RICE, '*vit-b-p32*_lpr4m.py')))


@pytest.mark.parametrize('n', [1, 10, 11, 23, 57, 300])
def test_floor_rule_is_the_official_query_rule(n):
    expected = [i * n // 10 for i in range(10)] if n > 10 else list(range(n))
    assert uniform_indices(n, 10, 'floor').tolist() == expected
    if n > 10:  # the evaluator's linspace(0, n, 10, endpoint=False)
        assert expected == np.linspace(0, n, 10,
                                       endpoint=False).astype(int).tolist()


@pytest.mark.parametrize('path', LPR4M_REAL, ids=osp.basename)
def test_lpr4m_query_pipelines_take_floor_indices(path):
    cfg = Config.fromfile(path)
    assert cfg.test_dataloader.dataset.type == 'LPR4MQueryDataset'
    steps = [t for t in cfg.test_dataloader.dataset.pipeline
             if t['type'] == 'SampleClipFrames']
    assert len(steps) == 1 and steps[0]['rule'] == 'floor'
    assert cfg.val_dataloader.dataset.pipeline == \
        cfg.test_dataloader.dataset.pipeline
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        sample = TRANSFORMS.build(steps[0])
    frames = [f'clip-{i:04d}' for i in range(23)]
    out = sample.transform(dict(frame_ids=list(frames),
                                frame_boxes=[[i] for i in range(23)]))
    inds = [0, 2, 4, 6, 9, 11, 13, 16, 18, 20]  # floor(i * 23 / 10)
    assert out['frame_ids'] == [frames[i] for i in inds]
    assert out['frame_boxes'] == [[i] for i in inds]
    # No test pipeline cuts frames.
    assert not [t for t in cfg.test_dataloader.dataset.pipeline
                if t['type'] == 'CutTail']


def test_movingfashion_queries_take_floor_indices():
    cfg = Config.fromfile(MMF[1])
    load = [t for t in cfg.test_dataloader.dataset.pipeline
            if t['type'] == 'LoadVideoFrames']
    assert len(load) == 1 and load[0].get('rule', 'floor') == 'floor'


def test_no_config_selects_a_variant_by_string():
    for path in glob.glob(osp.join(ROOT, 'configs/**/*.py'), recursive=True):
        with open(path) as f:
            assert 'variant=' not in f.read(), path


def test_v0_recipe_heads():
    model = Config.fromfile(V0).model
    assert model.pmd_head.type == 'PMDHead'
    assert model.pfr_head.type == 'PFRHead'
    assert model.icl_head.type == 'ICLHead'
    assert model.get('pmd_tokens', 'projected') == 'projected'
    assert model.pmd_head.embed_dims == 512 and model.pmd_head.num_heads == 8
    assert model.pmd_head.query_pos_drop == 0.1
    assert model.pmd_head.get('v2i_weight', 0.0) == 0.0
    assert 'pmd-v0' in Config.fromfile(V0).load_from


@pytest.mark.parametrize('path', MMF, ids=osp.basename)
def test_mmf_recipe_heads(path):
    cfg = Config.fromfile(path)
    model = cfg.model
    assert model.pmd_tokens == 'hidden'
    assert model.icl_head.type == 'MMFICLHead'
    assert dict(model.pmd_head) == dict(
        type='MMFPMDHead', embed_dims=768, num_heads=8, num_negatives=3,
        attn_drop=0.1, score_scale=10.0, loss_weight=1.0)
    assert dict(model.pfr_head) == dict(type='MMFPFRHead', num_heads=8,
                                        head_dims=96, loss_weight=1.0)
    assert 'pmd-mmf' in cfg.load_from


def test_mmf_recipe_model_at_full_size():
    """The released recipe's model: the decoder is 768 wide with 8 heads
    over the 50 hidden tokens per image, and the MMF converter's keys are
    its parameters."""
    from lpr.models.clip_converter import _CROSS_BLOCK, _SELF_BLOCK
    cfg = Config.fromfile(MMF[0])
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    own = model.state_dict()
    for _, dst in _SELF_BLOCK + _CROSS_BLOCK:
        assert 'pmd_head.' + dst in own, dst
    for name in 'qkv':
        assert own[f'pmd_head.cross_attn.{name}.weight'].shape == (768, 768)
    assert model.pmd_head.cross_attn.num_heads == 8
    inputs = dict(
        image=torch.randn(2, 3, 224, 224),
        frames=torch.randn(2, 1, 3, 224, 224),
        frame_mask=torch.ones(2, 1, dtype=torch.bool))
    samples = [DataSample(metainfo=dict(image_id=str(i))) for i in range(2)]
    with torch.no_grad():
        _, tokens = model.extract_image(inputs['image'])
        losses = model.loss(inputs, samples)
    assert tokens.shape == (2, 50, 768)
    assert set(losses) == {'loss_icl', 'loss_pmd', 'loss_pfr'}
    assert all(torch.isfinite(v) for v in losses.values())
