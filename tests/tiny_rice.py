"""Tiny models for unit tests: a RICE (1-layer ViT on 16x16 inputs, 8-d
tokens) and a CLIP-style ViT token encoder on 32x32 inputs."""
import copy
from typing import Callable, Optional

import torch
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS

TINY_RICE = dict(
    type='RICE',
    encoder=dict(
        type='TokenEncoder',
        in_channels=16,
        embed_dims=8,
        backbone=dict(
            type='VisionTransformer',
            arch=dict(embed_dims=16, num_layers=1, num_heads=2,
                      feedforward_channels=32),
            img_size=16,
            patch_size=8,
            pre_norm=True,
            out_type='raw',
            drop_rate=0.0)),
    icl_head=dict(type='ICLHead', logit_scale=10.0),
    pmd_head=dict(type='PMDHead', embed_dims=8, num_heads=2,
                  num_query_tokens=5, num_negatives=2, attn_drop=0.0),
    pfr_head=dict(type='PFRHead', num_heads=2, tokens_per_frame=5))


def tiny_vit_encoder(width: int = 32,
                     num_layers: int = 2,
                     num_heads: int = 2,
                     feedforward_channels: int = 64,
                     embed_dims: int = 16) -> dict:
    """Config of a ``TokenEncoder`` on a CLIP-style ViT (32x32 inputs, patch
    16: CLS + 4 tokens; pre-norm, QuickGELU), ``width`` wide, projecting to
    ``embed_dims``. With ``num_heads=1`` and ``feedforward_channels=4 *
    width`` it has the layout of an OpenAI CLIP visual tower of that width
    (CLIP uses ``width // 64`` heads)."""
    return dict(
        type='TokenEncoder',
        in_channels=width,
        embed_dims=embed_dims,
        backbone=dict(
            type='VisionTransformer',
            arch=dict(embed_dims=width, num_layers=num_layers,
                      num_heads=num_heads,
                      feedforward_channels=feedforward_channels),
            img_size=32,
            patch_size=16,
            pre_norm=True,
            out_type='raw',
            layer_cfgs=dict(act_cfg=dict(type='QuickGELU'))))


def build_tiny_rice(rerank: Optional[dict] = None, seed: int = 0, **kwargs):
    import lpr  # noqa: F401
    torch.manual_seed(seed)
    cfg = copy.deepcopy(TINY_RICE)
    cfg.update(rerank=rerank, **kwargs)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(cfg).eval()


class _StubPMD(torch.nn.Module):
    """Scores pairs with ``fn(image_tokens, clip_tokens, clip_valid)``."""

    def __init__(self, fn: Callable) -> None:
        super().__init__()
        self.fn = fn
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, image_tokens, clip_tokens, clip_valid=None):
        return self.fn(image_tokens, clip_tokens, clip_valid), None


def small_pmd(cls: type, query_tokens: int = 3, **kwargs) -> torch.nn.Module:
    """A width-8, 2-head PMD head of class ``cls`` (``PMDHead`` gets
    ``query_tokens`` query tokens), every parameter drawn from N(0, 0.3²)
    with seed 0, so no bias is zero and no LayerNorm is the identity."""
    from lpr.models import PMDHead
    torch.manual_seed(0)
    kw = dict(embed_dims=8, num_heads=2, attn_drop=0.0)
    if cls is PMDHead:
        kw['num_query_tokens'] = query_tokens
    kw.update(kwargs)
    head = cls(**kw)
    for p in head.parameters():
        torch.nn.init.normal_(p, std=0.3)
    return head


def stub_pmd(fn: Callable) -> torch.nn.Module:
    return _StubPMD(fn)


def tiny_batch(n: int = 3, frames: int = 2, seed: int = 1) -> dict:
    """Inputs for :data:`TINY_RICE`: images (n,3,16,16), frames
    (n,frames,3,16,16) and a frame mask whose last clip has no frame."""
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(n, frames, dtype=torch.bool)
    mask[-1] = False
    mask[0, 1:] = False
    return dict(
        image=torch.randn(n, 3, 16, 16, generator=g),
        frames=torch.randn(n, frames, 3, 16, 16, generator=g),
        frame_mask=mask)
