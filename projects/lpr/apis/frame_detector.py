"""The intended product of each frame of a clip, from a single-frame (SD,
DAB-DETR) or multi-frame (MD, TransVOD Lite) detector."""
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope

# Per frame: ([x1, y1, x2, y2] in pixels of the frame, score), or None.
FrameBox = Optional[Tuple[List[float], float]]

_ANNOTATION_LOADERS = ('LoadAnnotations', 'LoadTrackAnnotations')
_PACKERS = ('PackDetInputs', 'PackTrackInputs')
FRAME_META_KEYS = ('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor')


def _type(cfg: dict) -> str:
    return str(cfg['type']).split('.')[-1]


def _frame_transforms(pipeline_cfg: Sequence[dict]) -> List[dict]:
    """The per-frame transforms of a detection test pipeline (the
    transforms of a ``TransformBroadcaster`` for video pipelines), with
    the image loader reading arrays and without annotation loaders or
    packers."""
    out = []
    for cfg in pipeline_cfg:
        kind = _type(cfg)
        if kind == 'TransformBroadcaster':
            out += _frame_transforms(cfg['transforms'])
        elif kind == 'LoadImageFromFile':
            out.append(dict(type='LoadImageFromNDArray'))
        elif kind in _ANNOTATION_LOADERS or kind in _PACKERS:
            continue
        else:
            out.append(dict(cfg))
    return out


class FrameDetector:
    """Top-1 intended-product box per frame.

    The detector is built with mmdet's ``init_detector`` from its config
    and checkpoint; frames go through the per-frame part of the config's
    test pipeline. A video detector (a config whose test pipeline packs
    clips with ``PackTrackInputs``, e.g. TransVOD Lite) sees the frames of
    a clip together, as one clip, the way its test loop feeds it; an image
    detector sees them as a batch of images.

    Args:
        config: the detector config path (or ``Config``).
        checkpoint: its checkpoint (``None``: random weights).
        device: e.g. ``'cpu'`` or ``'cuda:0'``.
        score_thr: frames whose best box scores below this get no box.
    """

    def __init__(self,
                 config,
                 checkpoint: Optional[str] = None,
                 device: str = 'cpu',
                 score_thr: float = 0.0) -> None:
        from mmdet.apis import init_detector
        with DefaultScope.overwrite_default_scope('mmdet'):
            self.model = init_detector(config, checkpoint, device=device)
            pipeline_cfg = self.model.cfg.test_dataloader.dataset.pipeline
            self.video = any(
                _type(c) == 'PackTrackInputs' for c in pipeline_cfg)
            frame = _frame_transforms(pipeline_cfg)
            if self.video:
                steps = [
                    dict(type='TransformBroadcaster', transforms=frame),
                    dict(type='PackTrackInputs')
                ]
            else:
                steps = frame + [
                    dict(type='PackDetInputs',
                         meta_keys=FRAME_META_KEYS)
                ]
            self.pipeline = Compose(steps)
        self.score_thr = score_thr

    @torch.no_grad()
    def __call__(self, frames: Sequence[np.ndarray]) -> List[FrameBox]:
        """Detect the intended product in each frame of one clip.

        Args:
            frames: (H, W, 3) RGB uint8 frames (any sizes).

        Returns:
            list: per frame, ``([x1, y1, x2, y2], score)`` of its
            best-scoring box in the frame's pixels, or ``None`` when it has
            no box scoring at least ``score_thr``.
        """
        if not frames:
            return []
        # mmdet decodes BGR; its data preprocessor flips to RGB.
        bgr = [np.ascontiguousarray(f[..., ::-1]) for f in frames]
        with DefaultScope.overwrite_default_scope('mmdet'):
            if self.video:
                n = len(bgr)
                data = self.pipeline(
                    dict(img=bgr, img_id=list(range(n)),
                         frame_id=list(range(n)), video_id=[0] * n,
                         video_length=[n] * n, ori_video_length=[n] * n))
                out = self.model.test_step(pseudo_collate([data]))
                preds = [s.pred_instances
                         for s in out[0].video_data_samples]
            else:
                batch = [self.pipeline(dict(img=f, img_id=i))
                         for i, f in enumerate(bgr)]
                preds = [s.pred_instances
                         for s in self.model.test_step(pseudo_collate(batch))]
        return [self._best(p) for p in preds]

    def _best(self, pred) -> FrameBox:
        if len(pred) == 0:
            return None
        i = int(pred.scores.argmax())
        score = float(pred.scores[i])
        if score < self.score_thr:
            return None
        return [float(v) for v in pred.bboxes[i].tolist()], score
