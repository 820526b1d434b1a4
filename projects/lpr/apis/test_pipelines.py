"""A retriever config's test pipelines, adapted to frames and images that
are already in memory.

The query pipeline of a config reads a clip from a frame store
(``LoadClipFrames``) or a video (``LoadVideoFrames``); the gallery pipeline
reads a shop image from an image store (``LoadShopImage``). Here the
loaders are taken out (their channel order and sampling settings are kept),
and everything after them — resizing, box masks, packing — runs unchanged,
so a clip given to the inference API is encoded exactly as the test loop
encodes a dataset clip with the same frames.
"""
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

from mmcv.transforms import Compose
from mmengine.registry import DefaultScope
from mmpretrain.registry import TRANSFORMS

from ..datasets.transforms import (BoxToPatchMask, CutTail, LoadClipFrames,
                                   LoadShopImage, LoadVideoFrames,
                                   PackLPRInputs, SampleClipFrames)
from ..datasets.transforms.formatting import DEFAULT_META_KEYS

# Metainfo the inference API adds to each clip's data sample.
CLIP_META_KEYS = ('frame_ids', 'frame_inds', 'det_boxes', 'det_scores')


@dataclass
class ClipSampling:
    """How a config's query pipeline picks and decodes frames.

    Attributes:
        num_frames: the most frames kept (``T``).
        rule: the uniform rule (see
            :func:`~lpr.datasets.transforms.uniform_indices`).
        to_rgb: frames enter the pipeline in RGB (else BGR, OpenMMLab's
            decoding order).
        video_fps: rate of the grid video frames are picked from.
    """
    num_frames: int = 10
    rule: str = 'floor'
    to_rgb: bool = False
    video_fps: Optional[float] = 1.0


def _build(cfgs: Sequence) -> List[Callable]:
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return [TRANSFORMS.build(c) if isinstance(c, dict) else c
                for c in cfgs]


def _with_meta_keys(transforms: List[Callable],
                    keys: Sequence[str]) -> List[Callable]:
    out = []
    for t in transforms:
        if isinstance(t, PackLPRInputs):
            meta = tuple(t.meta_keys) + tuple(
                k for k in keys if k not in t.meta_keys)
            t = PackLPRInputs(meta_keys=meta,
                              empty_frame_size=t.empty_frame_size)
        out.append(t)
    return out


def clip_pipeline(pipeline_cfg: Sequence
                  ) -> Tuple[Compose, ClipSampling, bool]:
    """Adapt a query pipeline to in-memory frames.

    The returned pipeline takes ``frames`` (decoded frames in the channel
    order of :attr:`ClipSampling.to_rgb`), ``frame_ids``, ``num_frames``
    and, for box input, ``frame_boxes`` (per frame, a list of normalised
    ``[x1, y1, x2, y2]``); frames must already be sampled (at most
    ``num_frames``).

    Args:
        pipeline_cfg: the config's query (test dataloader) pipeline.

    Returns:
        tuple: the pipeline, the sampling settings and whether it turns
        boxes into patch masks (box-input retriever).

    Raises:
        ValueError: the pipeline has no ``PackLPRInputs``.
    """
    sampling = ClipSampling()
    sampler_seen = False
    kept = []
    for t in _build(pipeline_cfg):
        if isinstance(t, SampleClipFrames):
            sampling.num_frames, sampling.rule = t.num_frames, t.rule
            sampler_seen = True
            kept.append(t)
        elif isinstance(t, LoadClipFrames):
            sampling.to_rgb = t.to_rgb
        elif isinstance(t, LoadVideoFrames):
            sampling.to_rgb, sampling.video_fps = t.to_rgb, t.fps
            if not sampler_seen:
                sampling.num_frames, sampling.rule = t.num_frames, t.rule
        elif isinstance(t, CutTail):
            continue  # training augmentation
        else:
            kept.append(t)
    if not any(isinstance(t, PackLPRInputs) for t in kept):
        raise ValueError('the query pipeline has no PackLPRInputs')
    uses_boxes = any(isinstance(t, BoxToPatchMask) for t in kept)
    meta = tuple(DEFAULT_META_KEYS) + CLIP_META_KEYS
    return Compose(_with_meta_keys(kept, meta)), sampling, uses_boxes


def image_pipeline(pipeline_cfg: Sequence) -> Tuple[Compose, bool]:
    """Adapt a gallery pipeline to in-memory images.

    The returned pipeline takes ``img`` (in the channel order returned
    here), ``img_shape``, ``ori_shape``, ``image_id`` and ``title``.

    Args:
        pipeline_cfg: the config's gallery pipeline.

    Returns:
        tuple: the pipeline and whether images enter it in RGB (else BGR).

    Raises:
        ValueError: the pipeline has no ``PackLPRInputs``.
    """
    to_rgb = False
    kept = []
    for t in _build(pipeline_cfg):
        if isinstance(t, LoadShopImage):
            to_rgb = t.to_rgb
        else:
            kept.append(t)
    if not any(isinstance(t, PackLPRInputs) for t in kept):
        raise ValueError('the gallery pipeline has no PackLPRInputs')
    return Compose(kept), to_rgb
