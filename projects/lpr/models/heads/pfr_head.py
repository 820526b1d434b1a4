"""PFR: reconstruct image patch features from video patch features with
coefficients derived from the PMD cross-attention.

:class:`BasePFRHead` holds the reconstruction loss; :class:`PFRHead`
(paper-era, "V0") and :class:`MMFPFRHead` (released, "MMF") differ in which
tokens take part and how the coefficients are normalised.
"""
import math
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS


class BasePFRHead(BaseModule):
    """Patch feature reconstruction, the parts both code versions share.

    The positive pair's per-head cross-attention (H, Lq, Lk) goes through
    1×1 convolutions H → 4 → 1 with ReLU to give coefficients W (Lq, Lk);
    the image tokens are reconstructed as W · V̂ from the stop-gradient
    video tokens V̂ (padded or masked tokens zeroed), and compared by MSE
    with the stop-gradient image tokens. Gradients reach the model only
    through W (the conv head, the attention's query/key projections and,
    through them, the encoder).

    Subclasses choose the tokens (:meth:`select`) and the normalisation of
    W (:meth:`coefficients`).

    Args:
        num_heads: heads of the PMD cross-attention.
        loss_weight: weight of ``loss_pfr``.
        init_cfg: initialisation config.
    """

    def __init__(self,
                 num_heads: int = 8,
                 loss_weight: float = 1.0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.loss_weight = loss_weight
        self.conv1 = nn.Conv2d(num_heads, 4, 1)
        self.conv2 = nn.Conv2d(4, 1, 1)

    def conv_map(self, probs: torch.Tensor) -> torch.Tensor:
        """(B, H, Lq, Lk) → ReLU(conv2(ReLU(conv1(·)))) (B, Lq, Lk)."""
        return F.relu(self.conv2(F.relu(self.conv1(probs)))).squeeze(1)

    def select(
        self, probs: torch.Tensor, target: torch.Tensor,
        values: torch.Tensor, key_valid: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The tokens that take part: (B, H, Lq, Lk) probabilities,
        (B, Lq, D) targets, (B, Lk, D) values, (B, Lk) validity → the same,
        cut. All of them by default."""
        return probs, target, values, key_valid

    def coefficients(self, probs: torch.Tensor,
                     key_valid: torch.Tensor) -> torch.Tensor:
        """W (B, Lq', Lk') from the (selected) attention probabilities
        (B, H, Lq', Lk') and key validity (B, Lk')."""
        raise NotImplementedError

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
        probs, target, values, valid = self.select(
            attn_probs, image_tokens.detach(), values, key_valid)
        w = self.coefficients(probs, valid)
        recon = w @ values.to(w.dtype)
        mse = F.mse_loss(recon.float(), target.float())
        return dict(loss_pfr=self.loss_weight * mse)


@MODELS.register_module()
class PFRHead(BasePFRHead):
    """Paper-era ("V0") patch feature reconstruction.

    The image's CLS query row and every frame's CLS key column are dropped
    (49 × 490 for ViT-B/32 with 10 frames); W is the non-negative conv map
    itself, without normalisation; default PyTorch conv initialisation.

    Args:
        num_heads: heads of the PMD cross-attention.
        tokens_per_frame: L, tokens per frame (1 CLS + patches).
        loss_weight: weight of ``loss_pfr`` (0.05 in the paper-era recipe).
        init_cfg: initialisation config.
    """

    def __init__(self,
                 num_heads: int = 8,
                 tokens_per_frame: int = 50,
                 loss_weight: float = 0.05,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(num_heads, loss_weight, init_cfg=init_cfg)
        self.tokens_per_frame = tokens_per_frame

    def _drop_cls(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        """Remove every frame's CLS token along ``dim`` (length T·L)."""
        length = x.shape[dim]
        keep = torch.ones(length, dtype=torch.bool, device=x.device)
        keep[::self.tokens_per_frame] = False
        return x.index_select(dim, keep.nonzero().squeeze(1))

    def select(
        self, probs: torch.Tensor, target: torch.Tensor,
        values: torch.Tensor, key_valid: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        return (self._drop_cls(probs[:, :, 1:], dim=3), target[:, 1:],
                self._drop_cls(values, dim=1),
                self._drop_cls(key_valid, dim=1))

    def coefficients(self, probs: torch.Tensor,
                     key_valid: torch.Tensor) -> torch.Tensor:
        return self.conv_map(probs)


@MODELS.register_module()
class MMFPFRHead(BasePFRHead):
    """Released ("MMF") patch feature reconstruction.

    All tokens take part (50 × 500 for ViT-B/32 with 10 frames); the
    attention probabilities are multiplied by √(head width); the convs start
    with weights 1 and biases 0; W is the softmax of the conv map over
    **all** keys: padded keys are not masked before the softmax (their
    attention probability is 0, so their conv output is ReLU(bias) and they
    keep a share of every row's mass), and their values are zero.

    Args:
        num_heads: heads of the PMD cross-attention.
        head_dims: per-head width of the PMD cross-attention (96 for 768
            wide and 8 heads).
        loss_weight: weight of ``loss_pfr`` (1 in the released recipe).
        init_cfg: initialisation config.
    """

    def __init__(self,
                 num_heads: int = 8,
                 head_dims: int = 96,
                 loss_weight: float = 1.0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(num_heads, loss_weight, init_cfg=init_cfg)
        self.head_dims = head_dims
        for conv in (self.conv1, self.conv2):
            nn.init.ones_(conv.weight)
            nn.init.zeros_(conv.bias)

    def coefficients(self, probs: torch.Tensor,
                     key_valid: torch.Tensor) -> torch.Tensor:
        w = self.conv_map(probs * math.sqrt(self.head_dims))
        return w.float().softmax(-1).to(w.dtype)
