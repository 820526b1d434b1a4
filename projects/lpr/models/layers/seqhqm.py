"""Sequential hard query mining (SeqHQM), the temporal module of
TransVOD Lite, over the object queries of a single-frame DETR.

Each stage keeps the top-k queries of every frame by class score, lets the
kept queries of all frames of a clip attend to each other (temporal query
encoder), refines them against their own frame's encoder memory (a
one-layer frame decoder with plain attention) and predicts classes and
boxes with its own heads.
"""
from typing import Optional, Tuple

import torch
from mmcv.cnn import Linear
from mmdet.models.layers.transformer import (MLP, coordinate_to_encoding,
                                             inverse_sigmoid)
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


class _FFN(nn.Sequential):

    def __init__(self, dims: int, hidden: int, dropout: float) -> None:
        super().__init__(
            nn.Linear(dims, hidden), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(hidden, dims))


class _AttentionPairLayer(BaseModule):
    """Self-attention, a second attention and an FFN, each followed by
    dropout, a residual and a LayerNorm (post-norm)."""

    def __init__(self,
                 embed_dims: int = 256,
                 num_heads: int = 8,
                 feedforward_channels: int = 1024,
                 dropout: float = 0.1,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.embed_dims = embed_dims
        self.self_attn = nn.MultiheadAttention(
            embed_dims, num_heads, dropout=dropout, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(
            embed_dims, num_heads, dropout=dropout, batch_first=True)
        self.ffn = _FFN(embed_dims, feedforward_channels, dropout)
        self.norms = nn.ModuleList(nn.LayerNorm(embed_dims) for _ in range(3))
        self.dropout = nn.Dropout(dropout)


class TemporalQueryEncoderLayer(_AttentionPairLayer):
    """Self-attention over the kept queries of all frames of a clip, then
    attention whose keys/values are that same input set, then an FFN
    (post-norm).

    Args:
        embed_dims: query width.
        num_heads: attention heads.
        feedforward_channels: FFN width.
        dropout: dropout of attention outputs and FFN.
    """

    def forward(self, queries: Tensor) -> Tensor:
        """(B, T·k, D) → (B, T·k, D)."""
        x = self.norms[0](
            queries + self.dropout(self.self_attn(queries, queries,
                                                  queries)[0]))
        x = self.norms[1](
            x + self.dropout(self.cross_attn(x, queries, queries)[0]))
        return self.norms[2](x + self.dropout(self.ffn(x)))


class FrameDecoderLayer(_AttentionPairLayer):
    """One decoder layer per frame: self-attention among the frame's kept
    queries, plain cross-attention into the frame's own encoder memory,
    FFN (post-norm). Query positions come from the reference boxes (sine
    encoding → MLP, as in DAB-DETR).

    Args:
        embed_dims: query width.
        num_heads: attention heads.
        feedforward_channels: FFN width.
        dropout: dropout of attention outputs and FFN.
    """

    def __init__(self, embed_dims: int = 256, *args, **kwargs) -> None:
        super().__init__(embed_dims, *args, **kwargs)
        self.ref_point_head = MLP(2 * embed_dims, embed_dims, embed_dims, 2)

    def forward(self, query: Tensor, reference: Tensor, memory: Tensor,
                memory_pos: Tensor,
                memory_mask: Optional[Tensor]) -> Tensor:
        """Refine queries against their frame's memory.

        Args:
            query: (N, k, D) queries of N frames.
            reference: (N, k, 4) sigmoid (cx, cy, w, h) anchors.
            memory: (N, HW, D) encoder memory of each frame.
            memory_pos: (N, HW, D) its positional encodings.
            memory_mask: (N, HW) bool, True at padding (or ``None``).

        Returns:
            Tensor: (N, k, D).
        """
        pos = self.ref_point_head(
            coordinate_to_encoding(reference, self.embed_dims // 2))
        q = query + pos
        x = self.norms[0](query + self.dropout(self.self_attn(q, q, query)[0]))
        x = self.norms[1](x + self.dropout(
            self.cross_attn(
                x + pos, memory + memory_pos, memory,
                key_padding_mask=memory_mask)[0]))
        return self.norms[2](x + self.dropout(self.ffn(x)))


class SeqHQMStage(BaseModule):
    """One SeqHQM stage: top-k per frame → temporal query encoder over the
    clip → frame decoder → stage class and box heads.

    Args:
        top_k: queries kept per frame.
        embed_dims: query width.
        num_classes: class-score channels.
        num_heads: attention heads.
        feedforward_channels: FFN width.
        dropout: dropout.
    """

    def __init__(self,
                 top_k: int,
                 embed_dims: int = 256,
                 num_classes: int = 1,
                 num_heads: int = 8,
                 feedforward_channels: int = 1024,
                 dropout: float = 0.1,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.top_k = top_k
        self.temporal_encoder = TemporalQueryEncoderLayer(
            embed_dims, num_heads, feedforward_channels, dropout)
        self.frame_decoder = FrameDecoderLayer(embed_dims, num_heads,
                                               feedforward_channels, dropout)
        self.cls_head = Linear(embed_dims, num_classes)
        self.reg_head = MLP(embed_dims, embed_dims, 4, 3)

    def init_weights(self) -> None:
        super().init_weights()
        nn.init.constant_(self.cls_head.bias, bias_init_with_prob(0.01))
        nn.init.zeros_(self.reg_head.layers[-1].weight)
        nn.init.zeros_(self.reg_head.layers[-1].bias)

    def forward(self, query: Tensor, reference: Tensor, cls_logits: Tensor,
                memory: Tensor, memory_pos: Tensor,
                memory_mask: Optional[Tensor], num_clips: int
                ) -> Tuple[Tensor, Tensor, Tensor]:
        """Run the stage on B clips of T frames (N = B·T, frames of a clip
        consecutive).

        Args:
            query: (N, Q, D) queries of the previous stage (or the SD).
            reference: (N, Q, 4) their boxes, sigmoid (cx, cy, w, h).
            cls_logits: (N, Q, C) their class logits (for the top-k).
            memory, memory_pos, memory_mask: the frames' encoder memory.
            num_clips: B.

        Returns:
            tuple: queries (N, k, D), class logits (N, k, C) and boxes
            (N, k, 4) of this stage.
        """
        n, _, d = query.shape
        if n % num_clips:
            raise ValueError(f'{n} frames do not split into {num_clips} clips')
        scores = cls_logits.sigmoid().max(-1).values
        _, query, reference = gather_topk_queries(scores, self.top_k, query,
                                                  reference.detach())
        # (B·T, k, D) → (B, T·k, D): attention never mixes clips.
        query = self.temporal_encoder(query.reshape(num_clips, -1, d))
        query = self.frame_decoder(
            query.reshape(n, self.top_k, d), reference, memory, memory_pos,
            memory_mask)
        cls = self.cls_head(query)
        boxes = (self.reg_head(query) +
                 inverse_sigmoid(reference, eps=1e-3)).sigmoid()
        return query, cls, boxes
