"""The IPD configs are what their OpenMMLab names say, and the 20-epoch MD
config is the supplementary's recipe over the 7-epoch one."""
import glob
import os.path as osp
import re

import numpy as np
import pytest
import yaml
from mmcv.transforms import Compose
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope

import lpr  # noqa: F401

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'ipd', '*.py')))
MD7 = osp.join(ROOT,
               'configs/ipd/transvod-lite_dab-detr_r50_8xb1-7e_lpr4m-1cls.py')
MD20 = osp.join(
    ROOT, 'configs/ipd/transvod-lite_dab-detr_r50_8xb2-20e_lpr4m-1cls.py')


def _broadcast(pipeline):
    (step, ) = [t for t in pipeline if t.type == 'TransformBroadcaster']
    return step


@pytest.mark.parametrize('config', CONFIGS, ids=osp.basename)
def test_name_gives_gpus_batch_and_epochs(config):
    gpus, batch, epochs = map(
        int,
        re.search(r'_(\d+)xb(\d+)-(\d+)e_', osp.basename(config)).groups())
    cfg = Config.fromfile(config)
    assert cfg.train_dataloader.batch_size == batch
    assert cfg.auto_scale_lr.base_batch_size == gpus * batch
    assert cfg.train_cfg.max_epochs == epochs
    for sched in cfg.param_scheduler:
        if sched.type == 'MultiStepLR':
            assert sched.end == epochs
            assert all(0 < m < epochs for m in sched.milestones)


def test_the_20_epoch_md_is_the_supplementary_recipe():
    md7, md20 = Config.fromfile(MD7), Config.fromfile(MD20)
    assert md20.train_cfg.max_epochs == 20
    (sched, ) = md20.param_scheduler
    assert (sched.type, sched.milestones, sched.gamma) == ('MultiStepLR',
                                                          [15], 0.1)
    # 2 clips x 10 frames per GPU; tested in groups of 10 frames.
    loader = md20.train_dataloader
    assert loader.batch_size == 2
    assert loader.dataset.pipeline[0] == dict(
        type='ClipFrameSample', num_frames=10, rule='linspace')
    assert md20.model.test_cfg.frames_per_group == 10
    # Multi-scale training, one scale for all frames of a clip.
    step = _broadcast(loader.dataset.pipeline)
    assert step.share_random_params
    (resize, ) = [t for t in step.transforms if 'Resize' in t.type]
    assert resize.type == 'RandomChoiceResize' and resize.keep_ratio
    assert [tuple(s) for s in resize.scales] == [(1333, s) for s in range(
        480, 801, 32)]
    # Everything else is the 7-epoch one-class MD's.
    assert md20.model == md7.model
    assert md20.test_dataloader == md7.test_dataloader
    assert md20.test_evaluator == md7.test_evaluator
    assert md20.optim_wrapper == md7.optim_wrapper
    assert md20.load_from == md7.load_from
    assert loader.dataset.ann_file == md7.train_dataloader.dataset.ann_file
    train7 = _broadcast(md7.train_dataloader.dataset.pipeline).transforms
    assert [t for t in step.transforms if 'Resize' not in t.type] == [
        t for t in train7 if 'Resize' not in t.type]


def test_the_20_epoch_md_resizes_every_frame_of_a_clip_alike():
    md20 = Config.fromfile(MD20)
    step = _broadcast(md20.train_dataloader.dataset.pipeline)
    # The loading steps need files: start at the flip, on 3 frames.
    step.transforms = [
        t for t in step.transforms
        if t.type not in ('LoadImageFromFile', 'LoadTrackAnnotations')
    ]
    with DefaultScope.overwrite_default_scope('mmdet'):
        pipeline = Compose([step])
    shapes = set()
    for seed in range(8):
        np.random.seed(seed)
        out = pipeline(dict(img=[np.zeros((300, 400, 3), np.uint8)] * 3))
        clip = {o.shape for o in out['img']}
        assert len(clip) == 1
        shapes |= clip
    assert len(shapes) > 1
    assert all(480 <= min(s[:2]) <= 800 for s in shapes)


def test_the_metafile_counts_the_20_epoch_mds_parameters():
    with open(osp.join(ROOT, 'configs', 'ipd', 'metafile.yml')) as f:
        models = {m['Name']: m for m in yaml.safe_load(f)['Models']}
    name = osp.basename(MD20)[:-3]
    meta = models[name]['Metadata']
    assert (meta['Epochs'], meta['Batch Size']) == (20, 16)
    cfg = Config.fromfile(MD20)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    assert meta['Parameters'] == sum(p.numel() for p in model.parameters())
