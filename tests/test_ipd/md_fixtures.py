"""The toy multi-frame detector with fixed weights and small clips for its
tests."""
import os.path as osp

import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample, TrackDataSample
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

import lpr  # noqa: F401

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MD_CONFIG = osp.join(ROOT,
                     'configs/ipd/transvod-lite_r18-slim_1xb2-3e_toy-lpr4m.py')
H, W = 64, 96


def build_md(seed=0, **overrides):
    """The toy MD with weights fixed by ``seed``."""
    cfg = Config.fromfile(MD_CONFIG)
    cfg.model.update(overrides)
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    return model.eval()


def frame_sample(video_id, t, with_id=True):
    meta = dict(img_shape=(H, W), ori_shape=(H, W), scale_factor=(1.0, 1.0),
                img_id=100 * video_id + t, frame_id=t)
    if with_id:
        meta['video_id'] = video_id
    s = DetDataSample(metainfo=meta)
    s.gt_instances = InstanceData(
        bboxes=torch.tensor([[10.0, 8.0, 50.0, 40.0 + t]]),
        labels=torch.zeros(1, dtype=torch.long))
    return s


def make_clip(video_id, num_frames, with_id=True):
    """(T, 3, H, W) uint8 frames (fixed by ``video_id``) and their
    TrackDataSample (its frames with or without their ``video_id``)."""
    g = torch.Generator().manual_seed(video_id)
    frames = torch.randint(0, 255, (num_frames, 3, H, W), generator=g)
    track = TrackDataSample()
    track.video_data_samples = [
        frame_sample(video_id, t, with_id) for t in range(num_frames)
    ]
    return frames, track


def preprocess(model, clips):
    """(B, T, 3, H, W) inputs and B TrackDataSamples, as the test loop
    gives them."""
    data = dict(inputs=[c[0] for c in clips],
                data_samples=[c[1] for c in clips])
    out = model.data_preprocessor(data, training=False)
    return out['inputs'], out['data_samples']
