"""PFR: reconstruct image patch features from video patch features with
coefficients derived from the PMD cross-attention."""
import math
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS


@MODELS.register_module()
class PFRHead(BaseModule):
    """Patch feature reconstruction.

    The positive pair's per-head cross-attention (H, Lq, Lk) goes through
    1×1 convolutions H → 4 → 1 with ReLU to give coefficients W (Lq, Lk);
    the image tokens are reconstructed as W · V̂ from the stop-gradient
    video tokens V̂ (padded or masked tokens zeroed), and compared by MSE
    with the stop-gradient image tokens. Gradients reach the model only
    through W (the conv head, the attention's query/key projections and,
    through them, the encoder).

    Variants: ``'v0'`` (paper-era: CLS query row and every frame's CLS key
    column dropped, no normalisation of W, default conv init, attention
    probabilities); ``'mmf'`` (released: all tokens, attention
    probabilities × √d, convs initialised to 1/0, softmax of W over keys).

    Args:
        num_heads: heads of the PMD cross-attention.
        tokens_per_frame: L, tokens per frame (1 CLS + patches).
        head_dims: per-head width (for the mmf √d scaling).
        variant: ``'v0'`` or ``'mmf'``.
        loss_weight: weight of ``loss_pfr`` (0.05 in the paper-era recipe).
    """

    def __init__(self,
                 num_heads: int = 8,
                 tokens_per_frame: int = 50,
                 head_dims: int = 64,
                 variant: str = 'v0',
                 loss_weight: float = 0.05,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        assert variant in ('v0', 'mmf'), variant
        self.variant = variant
        self.tokens_per_frame = tokens_per_frame
        self.head_dims = head_dims
        self.loss_weight = loss_weight
        self.conv1 = nn.Conv2d(num_heads, 4, 1)
        self.conv2 = nn.Conv2d(4, 1, 1)
        if variant == 'mmf':
            for conv in (self.conv1, self.conv2):
                nn.init.ones_(conv.weight)
                nn.init.zeros_(conv.bias)

    def coefficients(self, probs: torch.Tensor,
                     key_valid: torch.Tensor) -> torch.Tensor:
        """W from the cross-attention probabilities.

        Args:
            probs: (B, H, Lq', Lk') attention probabilities (over all keys
                of the decoder pass; v0: CLS row and columns removed after).
            key_valid: (B, Lk') bool.

        Returns:
            torch.Tensor: (B, Lq', Lk') coefficients.
        """
        if self.variant == 'mmf':
            probs = probs * math.sqrt(self.head_dims)
        w = F.relu(self.conv2(F.relu(self.conv1(probs)))).squeeze(1)
        if self.variant == 'mmf':
            w = w.masked_fill(~key_valid[:, None, :], float('-inf'))
            w = w.softmax(-1).nan_to_num(0.0)
        return w

    def _drop_cls(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        """Remove every frame's CLS token along ``dim`` (length T·L)."""
        length = x.shape[dim]
        keep = torch.ones(length, dtype=torch.bool, device=x.device)
        keep[::self.tokens_per_frame] = False
        return x.index_select(dim, keep.nonzero().squeeze(1))

    def loss(self, attn_probs: torch.Tensor, image_tokens: torch.Tensor,
             clip_tokens: torch.Tensor,
             key_valid: torch.Tensor) -> Dict[str, torch.Tensor]:
        """
        Args:
            attn_probs: (B, H, Lq, Lk) the positive pairs' cross-attention
                probabilities (softmax over all the decoder's keys), cut to
                the image and frame tokens (text tokens removed).
            image_tokens: (B, Lq, D) image tokens (targets).
            clip_tokens: (B, Lk, D) the positive clips' tokens.
            key_valid: (B, Lk) bool.

        Returns:
            dict: ``loss_pfr``.
        """
        values = clip_tokens.detach() * key_valid[..., None].to(
            clip_tokens.dtype)
        target = image_tokens.detach()
        valid = key_valid
        # v0: the CLS row and the frames' CLS columns are dropped.
        probs = attn_probs
        if self.variant == 'v0':
            probs = self._drop_cls(probs[:, :, 1:], dim=3)
            valid = self._drop_cls(key_valid, dim=1)
            values = self._drop_cls(values, dim=1)
            target = target[:, 1:]
        w = self.coefficients(probs, valid)
        recon = w @ values
        return dict(loss_pfr=self.loss_weight * F.mse_loss(recon, target))
