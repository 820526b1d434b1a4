"""ICL: instance-level contrastive learning between clips and shop images."""
import math
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

from ..utils import gather_objects, gather_with_grad, rank_offset


def _masked_frame_mean(frame_emb: torch.Tensor,
                       frame_mask: torch.Tensor) -> torch.Tensor:
    """Mean of the valid frames: (B, T, E) embeddings, (B, T) bool mask →
    (B, E) (zero for a clip with no frame)."""
    w = frame_mask.to(frame_emb.dtype).unsqueeze(-1)
    return (frame_emb * w).sum(1) / w.sum(1).clamp(min=1.0)


def clip_embedding(frame_emb: torch.Tensor,
                   frame_mask: torch.Tensor) -> torch.Tensor:
    """Paper-era clip vector: normalise each frame, average the valid
    frames, normalise again.

    Args:
        frame_emb: (B, T, E) per-frame global embeddings.
        frame_mask: (B, T) bool, True for real frames.

    Returns:
        torch.Tensor: (B, E) unit vectors (zero for a clip with no frame).
    """
    mean = _masked_frame_mean(F.normalize(frame_emb, dim=-1), frame_mask)
    return F.normalize(mean, dim=-1)


def mean_clip_embedding(frame_emb: torch.Tensor,
                        frame_mask: torch.Tensor) -> torch.Tensor:
    """Released (MMF) clip vector: average the raw embeddings of the valid
    frames, then normalise.

    Args:
        frame_emb: (B, T, E) per-frame global embeddings.
        frame_mask: (B, T) bool, True for real frames.

    Returns:
        torch.Tensor: (B, E) unit vectors (zero for a clip with no frame).
    """
    return F.normalize(_masked_frame_mean(frame_emb, frame_mask), dim=-1)


def same_product_mask(row_ids: Sequence, col_ids: Sequence,
                      targets: torch.Tensor) -> torch.Tensor:
    """(R, C) bool: column ``j`` shows the same shop image as row ``i`` but
    is not row ``i``'s target, so it must not count as a negative."""
    same = torch.tensor([[r == c for c in col_ids] for r in row_ids],
                        dtype=torch.bool,
                        device=targets.device)
    same[torch.arange(len(row_ids), device=targets.device), targets] = False
    return same


@MODELS.register_module()
class ICLHead(BaseModule):
    """Symmetric InfoNCE between clip and image embeddings over the global
    batch (embeddings all-gathered with gradients).

    The head also pools a clip's frame embeddings into its vector
    (:meth:`pool_clip`), with the paper-era rule :func:`clip_embedding`
    (normalise each frame, average, normalise); :class:`MMFICLHead` uses the
    released rule.

    Args:
        logit_scale: initial ``1 / temperature`` (100 in the paper-era code;
            the released code uses a learnable scalar whose square, 16,
            scales the logits).
        learnable_scale: learn ``log(logit_scale)``.
        mask_same_product: do not treat a clip (image) whose shop image is
            the row's own image as a negative (the official code does;
            ``False`` reproduces it).
        loss_weight: weight of ``loss_icl``.
    """

    def __init__(self,
                 logit_scale: float = 100.0,
                 learnable_scale: bool = False,
                 mask_same_product: bool = True,
                 loss_weight: float = 1.0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        log_scale = torch.tensor(math.log(logit_scale))
        if learnable_scale:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer('log_scale', log_scale)
        self.mask_same_product = mask_same_product
        self.loss_weight = loss_weight

    def pool_clip(self, frame_emb: torch.Tensor,
                  frame_mask: torch.Tensor) -> torch.Tensor:
        """(B, T, E) frame embeddings, (B, T) bool mask → (B, E) unit clip
        vectors (:func:`clip_embedding`)."""
        return clip_embedding(frame_emb, frame_mask)

    @property
    def scale(self) -> torch.Tensor:
        return self.log_scale.exp().clamp(max=100.0)

    def loss(self, clip_emb: torch.Tensor, image_emb: torch.Tensor,
             image_ids: Sequence[str]
             ) -> Tuple[Dict[str, torch.Tensor], dict]:
        """Symmetric InfoNCE.

        Args:
            clip_emb: (B, E) local clip embeddings (unit norm).
            image_emb: (B, E) local image embeddings; row ``i`` is clip
                ``i``'s positive.
            image_ids: B image ids, to find same-product pairs.

        Returns:
            tuple: ``dict(loss_icl=...)`` and a dict for hard-negative
            mining: ``sim`` (B, G) no-grad cosine of the local images against
            the global clips, ``sim_v2i`` (B, G) no-grad cosine of the local
            clips against the global images, ``targets`` (B,) the positives'
            columns, ``same`` (B, G) same-product mask.
        """
        image_emb = F.normalize(image_emb, dim=-1)
        all_clips = gather_with_grad(clip_emb)
        all_images = gather_with_grad(image_emb)
        all_ids = gather_objects(list(image_ids))
        b = clip_emb.shape[0]
        targets = torch.arange(b, device=clip_emb.device) + rank_offset(b)
        scale = self.scale
        logits_i2v = scale * image_emb @ all_clips.t()  # (B, G)
        logits_v2i = scale * clip_emb @ all_images.t()  # (B, G)
        same = same_product_mask(image_ids, all_ids, targets)
        if self.mask_same_product:
            logits_i2v = logits_i2v.masked_fill(same, float('-inf'))
            logits_v2i = logits_v2i.masked_fill(same, float('-inf'))
        loss = 0.5 * (F.cross_entropy(logits_i2v, targets) +
                      F.cross_entropy(logits_v2i, targets))
        with torch.no_grad():
            sim = image_emb @ all_clips.t()
            sim_v2i = clip_emb @ all_images.t()
        mining = dict(sim=sim, sim_v2i=sim_v2i, targets=targets, same=same)
        return dict(loss_icl=self.loss_weight * loss), mining


@MODELS.register_module()
class MMFICLHead(ICLHead):
    """:class:`ICLHead` with the released (MMF) clip vector: the masked mean
    of the raw frame embeddings, normalised afterwards
    (:func:`mean_clip_embedding`)."""

    def pool_clip(self, frame_emb: torch.Tensor,
                  frame_mask: torch.Tensor) -> torch.Tensor:
        return mean_clip_embedding(frame_emb, frame_mask)
