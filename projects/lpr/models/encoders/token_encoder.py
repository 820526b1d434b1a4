"""One visual encoder for shop images and clip frames: a global embedding
and token features for every image."""
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS


@MODELS.register_module()
class TokenEncoder(BaseModule):
    """Wrap any mmpretrain or mmdet backbone as a token encoder.

    * ViT-style backbones (``out_type='raw'``) give (N, 1 + P, C) tokens
      after their final norm (CLIP's ``ln_post``); token 0 is the CLS token.
    * CNN backbones give a (N, C, H, W) map; the tokens are its H·W
      positions, preceded by their pooled global token: the mean
      (``gem_p=1``) or the generalised mean ``(mean x^p)^(1/p)`` of the
      positions (GeM, the usual pooling of image retrieval, ``gem_p=3``:
      a small product in a large frame is not averaged away by the room
      around it).

    Every token is projected to ``embed_dims`` by a bias-free linear layer
    (CLIP's ``visual.proj``); the global embedding is the projected token 0.
    ``forward(..., return_hidden=True)`` also returns the tokens before the
    final norm and the projection (a ViT's last hidden state before
    ``ln_post``, 768-d for ViT-B; a CNN's unprojected tokens), which the
    released recipe feeds to its decoder.

    Box mode: a (N, 1 + P) ``patch_mask`` is used as the key padding mask of
    every self-attention layer of a ViT (frames only), so attention ignores
    the patches outside the intended-product box; a CNN averages only the
    feature-map positions inside the box into its global token.

    Args:
        backbone: the backbone config (``type='mmdet.ResNet'`` for mmdet's).
        in_channels: channels of the backbone's last output.
        embed_dims: the shared embedding space (512 for CLIP ViT-B/32).
        gem_p: exponent of the CNN global pooling (1: mean).
        init_cfg: initialisation config.
    """

    def __init__(self,
                 backbone: dict,
                 in_channels: int,
                 embed_dims: int = 512,
                 gem_p: float = 1.0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if gem_p < 1:
            raise ValueError(f'gem_p must be >= 1, got {gem_p}')
        self.gem_p = gem_p
        self.backbone = MODELS.build(backbone)
        self.proj = nn.Linear(in_channels, embed_dims, bias=False)
        nn.init.normal_(self.proj.weight, std=in_channels**-0.5)
        self.embed_dims = embed_dims

    @property
    def is_vit(self) -> bool:
        return hasattr(self.backbone, 'layers') and hasattr(
            self.backbone, 'cls_token')

    def _vit_tokens(
        self, x: torch.Tensor, patch_mask: Optional[torch.Tensor],
        return_hidden: bool = False
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """mmpretrain ViT forward with an optional key padding mask.

        Returns:
            tuple: the output tokens (N, L, C) (after the final norm) and,
            with ``return_hidden``, the tokens before it (else ``None``).
        """
        vit = self.backbone
        if patch_mask is None:
            hidden = []
            hook = None
            if return_hidden and vit.final_norm:
                hook = vit.ln1.register_forward_hook(
                    lambda module, args, out: hidden.append(args[0]))
            try:
                out = vit(x)
            finally:
                if hook is not None:
                    hook.remove()
            out = out[-1] if isinstance(out, (tuple, list)) else out
            if not return_hidden:
                return out, None
            return out, hidden[-1] if hidden else out
        n = x.shape[0]
        x, patch_resolution = vit.patch_embed(x)
        cls = vit.cls_token.expand(n, -1, -1)
        x = torch.cat((cls, x), dim=1)
        x = x + vit.resize_pos_embed(
            vit.pos_embed,
            vit.patch_resolution,
            patch_resolution,
            mode=vit.interpolate_mode,
            num_extra_tokens=vit.num_extra_tokens)
        x = vit.drop_after_pos(x)
        x = vit.pre_norm(x)
        if patch_mask.shape[1] != x.shape[1]:
            raise ValueError(f'patch mask has {patch_mask.shape[1]} tokens, '
                             f'the ViT {x.shape[1]}')
        bias = torch.zeros(patch_mask.shape, dtype=x.dtype, device=x.device)
        bias.masked_fill_(~patch_mask.bool(), float('-inf'))
        bias = bias[:, None, None, :]  # (N, 1, 1, L) over keys
        for layer in vit.layers:
            x = x + _masked_attention(layer.attn, layer.ln1(x), bias)
            x = layer.ffn(layer.ln2(x), identity=x)
        hidden = x
        if vit.final_norm:
            x = vit.ln1(x)
        return x, hidden if return_hidden else None

    def forward(
        self,
        images: torch.Tensor,
        patch_mask: Optional[torch.Tensor] = None,
        return_hidden: bool = False
    ) -> Union[Tuple[torch.Tensor, torch.Tensor],
               Tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Encode images.

        Args:
            images: (N, 3, H, W) normalised images.
            patch_mask: (N, L) bool, True for tokens to attend to; ``None``
                attends to all. ViTs use it as the attention key mask; CNNs
                pool the global token over the kept positions only (the
                feature map must match the mask's grid).
            return_hidden: also return the tokens before the final norm and
                the projection.

        Returns:
            tuple: global embeddings (N, E) and tokens (N, L, E); with
            ``return_hidden``, also the hidden tokens (N, L, C) (C: the
            backbone width, e.g. 768 for ViT-B).
        """
        if self.is_vit:
            tokens, hidden = self._vit_tokens(images, patch_mask,
                                              return_hidden)
        else:
            out = self.backbone(images)
            fmap = out[-1] if isinstance(out, (tuple, list)) else out
            flat = fmap.flatten(2).transpose(1, 2)  # (N, HW, C)
            if patch_mask is None:
                keep = flat.new_ones(flat.shape[:2])
            else:
                keep = patch_mask[:, 1:].to(flat.dtype)
                if keep.shape[1] != flat.shape[1]:
                    raise ValueError(
                        f'patch mask has {keep.shape[1]} cells, the feature '
                        f'map {flat.shape[1]} positions')
            pooled = self._pool(flat, keep)
            tokens = hidden = torch.cat([pooled, flat], dim=1)
        projected = self.proj(tokens)
        if return_hidden:
            return projected[:, 0], projected, hidden
        return projected[:, 0], projected


    def _pool(self, flat: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """(N, P, C) positions, (N, P) weights → (N, 1, C) global token:
        the (generalised) mean of the kept positions."""
        w = keep[..., None]
        den = keep.sum(1).clamp(min=1)[:, None, None]
        if self.gem_p == 1:
            return (flat * w).sum(1, keepdim=True) / den
        p = self.gem_p
        x = flat.clamp(min=1e-6).pow(p)
        return ((x * w).sum(1, keepdim=True) / den).pow(1.0 / p)


def _masked_attention(attn: nn.Module, x: torch.Tensor,
                      bias: torch.Tensor) -> torch.Tensor:
    """mmpretrain ``MultiheadAttention`` with an additive key mask."""
    b, n, _ = x.shape
    qkv = attn.qkv(x).reshape(b, n, 3, attn.num_heads,
                              attn.head_dims).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    drop = attn.attn_drop if attn.training else 0.0
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias,
                                         dropout_p=drop)
    out = out.transpose(1, 2).reshape(b, n, attn.embed_dims)
    out = attn.proj(out)
    return attn.out_drop(attn.gamma1(attn.proj_drop(out)))
