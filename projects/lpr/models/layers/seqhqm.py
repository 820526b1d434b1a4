"""Sequential hard query mining (SeqHQM), the temporal module of
TransVOD Lite, over the object queries of a single-frame DETR.

Each stage keeps the top-k queries of every frame by class score, lets the
kept queries of all frames of a clip attend to each other (temporal query
encoder, an mmdet ``DetrTransformerDecoderLayer`` whose keys and values are
its own input), refines them against their own frame's encoder memory (a
one-layer frame decoder with multi-scale deformable cross-attention, mmdet's
``DeformableDetrTransformerDecoder``) and predicts classes and boxes with
its own heads.

Reference boxes: as in TransVOD Lite, every stage uses the single-frame
detector's final boxes of the queries it keeps (:class:`SeqHQMStage`);
:class:`CascadeSeqHQMStage` instead hands its own refined boxes to the next
stage.
"""
import copy
from typing import Optional, Tuple

from mmcv.cnn import Linear
from mmcv.ops import MultiScaleDeformableAttention
from mmdet.models.layers import (DeformableDetrTransformerDecoder,
                                 DetrTransformerDecoderLayer)
from mmdet.models.layers.transformer import MLP, inverse_sigmoid
from mmdet.registry import MODELS
from mmdet.utils import ConfigType
from mmengine.model import BaseModule, bias_init_with_prob
from torch import Tensor, nn


def gather_topk_queries(scores: Tensor, k: int, *tensors: Tensor
                        ) -> Tuple[Tensor, ...]:
    """Keep the ``k`` highest-scoring queries of every frame.

    Args:
        scores: (N, Q) query scores (N frames).
        k: queries kept per frame (``k <= Q``).
        *tensors: (N, Q, ...) tensors gathered along the query axis.

    Returns:
        tuple: the (N, k) indices sorted by decreasing score, then each
        tensor gathered to (N, k, ...).
    """
    if k > scores.shape[1]:
        raise ValueError(f'top-{k} of {scores.shape[1]} queries')
    index = scores.topk(k, dim=1).indices
    gathered = []
    for t in tensors:
        idx = index.view(*index.shape, *([1] * (t.dim() - 2)))
        gathered.append(t.gather(1, idx.expand(-1, -1, *t.shape[2:])))
    return (index, *gathered)


@MODELS.register_module()
class SeqHQMStage(BaseModule):
    """One SeqHQM stage: top-k per frame → temporal query encoder over the
    clip → frame decoder → stage class and box heads.

    The temporal query encoder is one mmdet ``DetrTransformerDecoderLayer``
    over the B clips' (T·k) kept queries with that same input set as keys
    and values of its second attention (TransVOD Lite's temporal query
    encoder layer: self-attention, attention into the input set, FFN,
    post-norm, no positional embedding).

    The frame decoder is mmdet's ``DeformableDetrTransformerDecoder`` (one
    ``DeformableDetrTransformerDecoderLayer`` in TransVOD Lite: self-attention
    among the frame's kept queries, mmcv ``MultiScaleDeformableAttention``
    into the frame's encoder memory, FFN, post-norm), with the kept
    queries' boxes (sigmoid cx, cy, w, h) as 4-d reference points and
    without box refinement inside the decoder. As in TransVOD Lite, the
    queries get no positional embedding in the frame decoder (the
    original's temporal decoder is called with ``query_pos=None``).

    Feature levels: the DAB-DETR base has one single-scale encoder memory
    per frame, which is read as one level (``num_levels=1`` in
    ``cross_attn_cfg``; see :func:`single_level_memory`). TransVOD Lite's
    released multi-frame recipe also runs with one feature level (DC5), so
    this matches it. Padded memory entries are masked out of the value (as
    mmdet's Deformable DETR decoder does; the original passes no padding
    mask to its temporal decoder, which only differs on padded frames).

    Reference boxes (TransVOD Lite): the stage gathers the reference boxes
    it receives for the queries it keeps, refines them with its box head,
    and hands the gathered, unrefined references to the next stage, so
    every stage is anchored on the single-frame detector's final boxes of
    its kept queries (the chained top-k picks them); the refined boxes are
    only predictions. :class:`CascadeSeqHQMStage` hands on the refined
    boxes instead.

    Args:
        top_k: queries kept per frame.
        num_classes: class-score channels.
        temporal_encoder: config of the temporal query encoder's
            ``DetrTransformerDecoderLayer`` (``self_attn_cfg``,
            ``cross_attn_cfg``, ``ffn_cfg``).
        frame_decoder: config of the ``DeformableDetrTransformerDecoder``
            (``num_layers``, ``layer_cfg`` with ``self_attn_cfg``,
            ``cross_attn_cfg``, ``ffn_cfg``); its ``embed_dims`` set the
            stage width.
        init_cfg: mmengine init config.
    """

    def __init__(self,
                 top_k: int,
                 num_classes: int = 1,
                 temporal_encoder: ConfigType = dict(
                     self_attn_cfg=dict(
                         embed_dims=256,
                         num_heads=8,
                         attn_drop=0.1,
                         proj_drop=0.1,
                         batch_first=True),
                     cross_attn_cfg=dict(
                         embed_dims=256,
                         num_heads=8,
                         attn_drop=0.1,
                         proj_drop=0.1,
                         batch_first=True),
                     ffn_cfg=dict(
                         embed_dims=256,
                         feedforward_channels=1024,
                         ffn_drop=0.1)),
                 frame_decoder: ConfigType = dict(
                     num_layers=1,
                     layer_cfg=dict(
                         self_attn_cfg=dict(
                             embed_dims=256,
                             num_heads=8,
                             attn_drop=0.1,
                             proj_drop=0.1,
                             batch_first=True),
                         cross_attn_cfg=dict(
                             embed_dims=256,
                             num_heads=8,
                             num_levels=1,
                             num_points=4,
                             dropout=0.1,
                             batch_first=True),
                         ffn_cfg=dict(
                             embed_dims=256,
                             feedforward_channels=1024,
                             ffn_drop=0.1))),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.top_k = top_k
        frame_decoder = copy.deepcopy(dict(frame_decoder))
        frame_decoder.setdefault('return_intermediate', False)
        frame_decoder.setdefault('post_norm_cfg', None)
        self.frame_decoder = DeformableDetrTransformerDecoder(**frame_decoder)
        self.embed_dims = self.frame_decoder.embed_dims
        self.temporal_encoder = DetrTransformerDecoderLayer(
            **copy.deepcopy(dict(temporal_encoder)))
        if self.temporal_encoder.embed_dims != self.embed_dims:
            raise ValueError(
                f'temporal encoder {self.temporal_encoder.embed_dims} wide, '
                f'frame decoder {self.embed_dims}')
        self.cls_head = Linear(self.embed_dims, num_classes)
        self.reg_head = MLP(self.embed_dims, self.embed_dims, 4, 3)

    def init_weights(self) -> None:
        """Xavier-uniform matrices in the transformer layers, mmcv's own
        initialisation of the deformable attention (as mmdet's Deformable
        DETR), prior-probability class bias and a zero box delta."""
        super().init_weights()
        for layer in self.temporal_encoder, self.frame_decoder:
            for p in layer.parameters():
                if p.dim() > 1:
                    nn.init.xavier_uniform_(p)
        for m in self.frame_decoder.modules():
            if isinstance(m, MultiScaleDeformableAttention):
                m.init_weights()
        nn.init.constant_(self.cls_head.bias, bias_init_with_prob(0.01))
        nn.init.zeros_(self.reg_head.layers[-1].weight)
        nn.init.zeros_(self.reg_head.layers[-1].bias)

    def forward(self, query: Tensor, reference: Tensor, cls_logits: Tensor,
                num_clips: int, value: Tensor,
                key_padding_mask: Optional[Tensor], spatial_shapes: Tensor,
                level_start_index: Tensor,
                valid_ratios: Tensor
                ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """Run the stage on B clips of T frames (N = B·T, frames of a clip
        consecutive).

        Args:
            query: (N, Q, D) queries of the previous stage (or the SD).
            reference: (N, Q, 4) their reference boxes, sigmoid
                (cx, cy, w, h).
            cls_logits: (N, Q, C) their class logits (for the top-k).
            num_clips: B.
            value: (N, S, D) the frames' encoder memory (S entries over
                all levels).
            key_padding_mask: (N, S) bool, True at padding, or ``None``.
            spatial_shapes: (L, 2) long (H, W) of each level.
            level_start_index: (L, ) long start of each level in S.
            valid_ratios: (N, L, 2) valid (width, height) fractions.

        Returns:
            tuple: queries (N, k, D), class logits (N, k, C) and boxes
            (N, k, 4) (sigmoid cx, cy, w, h) of this stage, and the (N, k, 4)
            reference boxes for the next stage (:meth:`next_reference`).
        """
        n, _, d = query.shape
        if n % num_clips:
            raise ValueError(f'{n} frames do not split into {num_clips} clips')
        scores = cls_logits.sigmoid().max(-1).values
        _, query, reference = gather_topk_queries(scores, self.top_k, query,
                                                  reference.detach())
        # (B·T, k, D) → (B, T·k, D): attention never mixes clips.
        clip_queries = query.reshape(num_clips, -1, d)
        query = self.temporal_encoder(
            query=clip_queries, key=clip_queries, value=clip_queries)
        query, _ = self.frame_decoder(
            query=query.reshape(n, self.top_k, d),
            query_pos=None,
            value=value,
            key_padding_mask=key_padding_mask,
            reference_points=reference,
            spatial_shapes=spatial_shapes,
            level_start_index=level_start_index,
            valid_ratios=valid_ratios)
        cls = self.cls_head(query)
        boxes = (self.reg_head(query) +
                 inverse_sigmoid(reference, eps=1e-3)).sigmoid()
        return query, cls, boxes, self.next_reference(reference, boxes)

    def next_reference(self, reference: Tensor, boxes: Tensor) -> Tensor:
        """The next stage's reference boxes: the (N, k, 4) references this
        stage gathered for its kept queries (TransVOD Lite), not its
        refined ``boxes``."""
        return reference


@MODELS.register_module()
class CascadeSeqHQMStage(SeqHQMStage):
    """A SeqHQM stage that hands its refined boxes to the next stage as
    reference boxes (a cascade), instead of the single-frame detector's
    boxes of the kept queries. Same arguments as :class:`SeqHQMStage`."""

    def next_reference(self, reference: Tensor, boxes: Tensor) -> Tensor:
        """The next stage's reference boxes: this stage's refined (N, k, 4)
        ``boxes`` (detached when the next stage gathers them)."""
        return boxes
