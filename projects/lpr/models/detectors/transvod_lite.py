"""TransVOD Lite on DAB-DETR: the multi-frame intended-product detector."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmdet.models.detectors import DABDETR
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample, OptSampleList, SampleList
from mmdet.utils import ConfigType
from mmengine.model import ModuleList
from torch import Tensor

from ..layers import single_level_memory
from .clip_batch import frame_groups, split_clips


def frames_per_group(test_cfg: Optional[dict]) -> Optional[int]:
    """``test_cfg.frames_per_group``: frames per test group (``None``:
    whole clips)."""
    group = (test_cfg or {}).get('frames_per_group')
    if group is not None and (isinstance(group, bool)
                              or not isinstance(group, int) or group < 1):
        raise ValueError('test_cfg.frames_per_group must be a positive int '
                         f'or None, got {group!r}')
    return group


@MODELS.register_module()
class TransVODLite(DABDETR):
    """A single-frame DAB-DETR (SD) followed by SeqHQM stages over the
    frames of each clip (MD).

    The SD runs the usual DETR template on the B·T frames of B clips; its
    last-layer queries, boxes and class logits and each frame's encoder
    memory feed the SeqHQM stages (top-k per frame, default 80 → 50 → 30),
    which attend across the frames of a clip (never across clips), read
    their frame's memory with deformable attention (one feature level, the
    DAB-DETR memory) and predict with their own heads. Every stage is
    supervised per frame with the SD head's Hungarian loss (the last stage
    as ``loss_*``, earlier ones as ``s{i}.loss_*``); predictions come from
    the last stage.

    The clip structure is explicit (:func:`split_clips`): (B, T, 3, H, W)
    clips with one :class:`TrackDataSample` each (``PackTrackInputs`` +
    ``TrackDataPreprocessor``), or (N, 3, H, W) frames whose
    :class:`DetDataSample`\\ s carry their clip's ``video_id`` (frames of a
    clip consecutive, clips equally long); anything else is a
    ``ValueError``.

    At test, ``test_cfg.frames_per_group`` (the configs set their training
    clip length) runs each clip in consecutive groups of that many frames
    (:func:`frame_groups`: the last one padded with copies of the clip's
    last frames, as TransVOD Lite does), so memory grows with the group,
    not the clip; a group that covers the clip, or ``None``, processes it
    whole.

    Args:
        stage_topk: queries kept per frame by each stage (non-increasing,
            each at most ``num_queries``).
        stage_cfg: config of every stage (:class:`SeqHQMStage` by
            default: every stage anchored on the SD's final boxes of its
            kept queries, as TransVOD Lite; ``CascadeSeqHQMStage``: each
            stage anchored on the previous stage's refined boxes);
            ``top_k`` and ``num_classes`` are filled in per stage, and its
            width must equal the detector's ``embed_dims``.
        freeze_detector: keep the SD fixed (no gradients, eval mode): the
            TransVOD Lite recipe trains only the temporal module.
        *args, **kwargs: :class:`mmdet.models.DABDETR` arguments.
    """

    def __init__(self,
                 *args,
                 stage_topk: Sequence[int] = (80, 50, 30),
                 stage_cfg: ConfigType = dict(type='SeqHQMStage'),
                 freeze_detector: bool = True,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        topk = list(stage_topk)
        if not topk or any(k > self.num_queries for k in topk) or any(
                a < b for a, b in zip(topk, topk[1:])):
            raise ValueError(f'stage_topk {topk} must be non-increasing and '
                             f'at most num_queries={self.num_queries}')
        max_per_img = self.bbox_head.test_cfg.get('max_per_img', 1)
        if max_per_img > topk[-1] * self.bbox_head.cls_out_channels:
            raise ValueError(f'max_per_img={max_per_img} exceeds the last '
                             f'stage\'s {topk[-1]} queries x classes')
        frames_per_group(self.test_cfg)  # a bad value fails at build
        self.stages = ModuleList(
            MODELS.build(
                dict(
                    stage_cfg,
                    top_k=k,
                    num_classes=self.bbox_head.cls_out_channels))
            for k in topk)
        if self.stages[0].embed_dims != self.embed_dims:
            raise ValueError(f'the stages are {self.stages[0].embed_dims} '
                             f'wide, the detector {self.embed_dims}')
        self.freeze_detector = freeze_detector
        if freeze_detector:
            for name, param in self.named_parameters():
                if not name.startswith('stages.'):
                    param.requires_grad_(False)

    def train(self, mode: bool = True) -> 'TransVODLite':
        super().train(mode)
        if self.freeze_detector and mode:
            for name, module in self.named_children():
                if name != 'stages':
                    module.eval()
        return self

    def forward_clips(self, frames: Tensor, samples: List[DetDataSample],
                      num_clips: int) -> List[Tuple[Tensor, Tensor]]:
        """SD over the frames, then the SeqHQM stages.

        Args:
            frames: (B·T, 3, H, W), the T frames of a clip consecutive.
            samples: the B·T frame samples (batch_input_shape, img_shape).
            num_clips: B.

        Returns:
            list[tuple]: per stage, class logits (B·T, k, C) and boxes
            (B·T, k, 4) (sigmoid cx, cy, w, h).
        """
        with torch.set_grad_enabled(torch.is_grad_enabled()
                                    and not self.freeze_detector):
            img_feats = self.extract_feat(frames)
            encoder_inputs, decoder_inputs = self.pre_transformer(
                img_feats, samples)
            encoder_outputs = self.forward_encoder(**encoder_inputs)
            query_inputs, _ = self.pre_decoder(**encoder_outputs)
            decoder_inputs.update(query_inputs)
            decoder_outputs = self.forward_decoder(**decoder_inputs)
            hidden = decoder_outputs['hidden_states'][-1]
            cls, boxes = self.bbox_head(
                hidden[None], decoder_outputs['references'][-1][None])
        memory = single_level_memory(encoder_outputs['memory'],
                                     decoder_inputs['memory_mask'],
                                     img_feats[-1].shape[-2:])
        # Every stage's reference boxes start from the SD's final boxes;
        # each stage says what the next one gets.
        query, cls, reference = hidden, cls[0], boxes[0]
        outputs = []
        for stage in self.stages:
            query, cls, boxes, reference = stage(query, reference, cls,
                                                 num_clips, **memory)
            outputs.append((cls, boxes))
        return outputs

    # -------------------------------------------------------------- modes
    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        frames, samples, num_clips = split_clips(batch_inputs,
                                                 batch_data_samples)
        outputs = self.forward_clips(frames, samples, num_clips)
        gts = [s.gt_instances for s in samples]
        metas = [s.metainfo for s in samples]
        losses = {}
        last = len(outputs) - 1
        for i, (cls, boxes) in enumerate(outputs):
            prefix = '' if i == last else f's{i}.'
            loss_cls, loss_bbox, loss_iou = \
                self.bbox_head.loss_by_feat_single(cls, boxes, gts, metas)
            losses[f'{prefix}loss_cls'] = loss_cls
            losses[f'{prefix}loss_bbox'] = loss_bbox
            losses[f'{prefix}loss_iou'] = loss_iou
        return losses

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Per-frame predictions of the last stage, written to each frame
        sample's ``pred_instances`` (``max_per_img`` boxes per frame).

        Clips longer than ``test_cfg.frames_per_group`` run group by group
        (one group per forward); each frame gets the prediction of the
        group it is new in."""
        batch = split_clips(batch_inputs, batch_data_samples)
        group = frames_per_group(self.test_cfg)
        length = batch.clip_length
        if group is None or length <= group:
            self._predict_frames(batch.frames, batch.samples,
                                 batch.num_clips, len(batch.samples),
                                 rescale)
            return batch_data_samples
        for clip in range(batch.num_clips):
            start = clip * length
            for ids, num_new in frame_groups(length, group):
                index = [start + i for i in ids]
                self._predict_frames(batch.frames[index],
                                     [batch.samples[i] for i in index], 1,
                                     num_new, rescale)
        return batch_data_samples

    def _predict_frames(self, frames: Tensor, samples: List[DetDataSample],
                        num_clips: int, num_kept: int,
                        rescale: bool) -> None:
        """Run ``num_clips`` equally long clips and write the predictions
        of the first ``num_kept`` frames to their samples.

        Args:
            frames: (B·T, 3, H, W), the T frames of a clip consecutive.
            samples: their B·T samples.
            num_clips: B.
            num_kept: leading frames that get predictions (the rest pad a
                group).
            rescale: boxes in the original image's pixels.
        """
        cls, boxes = self.forward_clips(frames, samples, num_clips)[-1]
        kept = samples[:num_kept]
        results = self.bbox_head.predict_by_feat(
            cls[None, :num_kept], boxes[None, :num_kept],
            [s.metainfo for s in kept], rescale=rescale)
        for sample, result in zip(kept, results):
            sample.pred_instances = result

    def _forward(self, batch_inputs: Tensor,
                 batch_data_samples: OptSampleList = None):
        frames, samples, num_clips = split_clips(batch_inputs,
                                                 batch_data_samples)
        return self.forward_clips(frames, samples, num_clips)
