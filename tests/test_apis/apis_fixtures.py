"""Checkpoints, inferencers and toy-set paths shared by the API tests."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS

from conftest import ROOT

TOY_CFG = osp.join(ROOT, 'configs/rice/rice_r18-slim_1xb32-18e_toy-lpr4m.py')
BOX_CFG = osp.join(ROOT,
                   'configs/rice/rice-box_r18-slim-s16_1xb32-18e_toy-lpr4m.py')
SD_CFG = osp.join(ROOT, 'configs/ipd/dab-detr_r18-slim_1xb8-12e_toy-lpr4m.py')
MD_CFG = osp.join(ROOT,
                  'configs/ipd/transvod-lite_r18-slim_1xb2-3e_toy-lpr4m.py')


def random_checkpoint(config: str, path: str, seed: int = 0,
                      scope: str = 'mmpretrain') -> str:
    """Save a randomly initialised model of ``config`` as a checkpoint."""
    import lpr  # noqa: F401
    cfg = Config.fromfile(config)
    torch.manual_seed(seed)
    if scope == 'mmdet':
        from mmdet.registry import MODELS as DET_MODELS
        registry = DET_MODELS
    else:
        registry = MODELS
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(cfg.model)
    torch.save(dict(state_dict=model.state_dict(), meta={}), path)
    return path


@pytest.fixture(scope='session')
def rice_ckpt(tmp_path_factory):
    return random_checkpoint(
        TOY_CFG, str(tmp_path_factory.mktemp('ckpt') / 'rice.pth'))


@pytest.fixture(scope='session')
def inferencer(rice_ckpt):
    from lpr.apis import LPRInferencer
    return LPRInferencer(TOY_CFG, weights=rice_ckpt, device='cpu')


@pytest.fixture(scope='session')
def rerank_inferencer(rice_ckpt):
    """The same weights, re-ranking the top 4 with PMD."""
    from lpr.apis import LPRInferencer
    return LPRInferencer(TOY_CFG, weights=rice_ckpt, device='cpu',
                         cfg_options={'model.rerank.top_k': 4})


@pytest.fixture(scope='session')
def toy_live(toy_root):
    """The first test query: its clip folder, and its live's gallery image
    paths in the gallery's order."""
    from lpr.datasets import find_annotation, load_gallery, load_gt_images
    from lpr.datasets.ids import parse_clip_id
    ann = osp.join(toy_root, 'annotations')
    gt = load_gt_images(find_annotation(ann, 'test_videoid_to_gtimage_'))
    clip = next(iter(gt))
    live = parse_clip_id(clip).live_id
    gallery = load_gallery(find_annotation(ann,
                                           'test_liveid_to_gallery_'))[live]
    images = [osp.join(toy_root, 'test_images', f'{i}.jpg') for i in gallery]
    return dict(clip_id=clip, live_id=live,
                clip_dir=osp.join(toy_root, 'test_frames', clip),
                images=images)
