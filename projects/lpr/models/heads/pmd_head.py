"""PMD: the pairwise matching decoder (image tokens attend to clip tokens)
trained on hard negatives mined from the ICL similarities."""
import math
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS


class QuickGELU(nn.Module):

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class _MLP(nn.Sequential):

    def __init__(self, dims: int, ratio: int = 4):
        super().__init__(
            nn.Linear(dims, dims * ratio), QuickGELU(),
            nn.Linear(dims * ratio, dims))


class CrossAttention(nn.Module):
    """Multi-head attention that also returns its per-head probabilities.

    Args:
        dims: token width.
        num_heads: heads.
        attn_drop: dropout on the attention probabilities.
        out_proj: add an output projection (the released variant); the
            paper-era decoder has none.
    """

    def __init__(self,
                 dims: int,
                 num_heads: int,
                 attn_drop: float = 0.0,
                 out_proj: bool = True) -> None:
        super().__init__()
        assert dims % num_heads == 0
        self.num_heads = num_heads
        self.head_dims = dims // num_heads
        self.q = nn.Linear(dims, dims)
        self.k = nn.Linear(dims, dims)
        self.v = nn.Linear(dims, dims)
        self.out = nn.Linear(dims, dims) if out_proj else nn.Identity()
        self.drop = nn.Dropout(attn_drop)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        key_valid: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            query: (N, Lq, D).
            key: (N, Lk, D), also the values.
            key_valid: (N, Lk) bool, False for padded or masked keys.

        Returns:
            tuple: output (N, Lq, D) and scaled logits before softmax
            (N, H, Lq, Lk) (masked keys at ``-inf``).
        """
        n, lq, d = query.shape
        lk = key.shape[1]
        h, hd = self.num_heads, self.head_dims
        q = self.q(query).view(n, lq, h, hd).transpose(1, 2)
        k = self.k(key).view(n, lk, h, hd).transpose(1, 2)
        v = self.v(key).view(n, lk, h, hd).transpose(1, 2)
        logits = q @ k.transpose(-2, -1) / math.sqrt(hd)
        if key_valid is not None:
            logits = logits.masked_fill(~key_valid[:, None, None, :],
                                        float('-inf'))
        probs = logits.softmax(-1)
        out = (self.drop(probs) @ v).transpose(1, 2).reshape(n, lq, d)
        return self.out(out), logits


@MODELS.register_module()
class PMDHead(BaseModule):
    """Pairwise matching decoder.

    Image tokens are the queries, the clip's frame tokens (T·L) the keys and
    values: one self-attention block on the image tokens, one
    cross-attention block, a pooler on token 0 and a score head. For every
    image the ``num_negatives`` most similar wrong clips of the global batch
    (from the no-grad ICL similarities; never the positive, never a
    same-product clip when masking is on) are scored with the positive, and
    a listwise (1 + N)-way cross-entropy puts the positive first.

    Variants: ``'v0'`` (paper-era: learned query position embeddings, the
    same LayerNorm on queries and keys, no attention output projection,
    pooler Linear + QuickGELU, score = ``score_scale`` · Linear(pooled));
    ``'mmf'`` (released: LayerNorm on queries only, output projection,
    pooler Linear without bias + ReLU, score = 10 · cos(pooled, w)).

    Args:
        embed_dims: token width.
        num_heads: attention heads.
        num_query_tokens: image tokens (for the v0 position embeddings).
        num_negatives: hard negatives per image (3 in the paper).
        variant: ``'v0'`` or ``'mmf'``.
        attn_drop: dropout on the cross-attention probabilities.
        score_scale: multiplier of the v0 linear score (100 in the
            paper-era code).
        loss_weight: weight of ``loss_pmd``.
    """

    def __init__(self,
                 embed_dims: int = 512,
                 num_heads: int = 8,
                 num_query_tokens: int = 50,
                 num_negatives: int = 3,
                 variant: str = 'v0',
                 attn_drop: float = 0.1,
                 score_scale: float = 100.0,
                 loss_weight: float = 1.0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        assert variant in ('v0', 'mmf'), variant
        self.variant = variant
        self.num_negatives = num_negatives
        self.loss_weight = loss_weight
        self.score_scale = score_scale
        self.num_heads = num_heads
        self.embed_dims = d = embed_dims
        if variant == 'v0':
            self.query_pos = nn.Parameter(torch.zeros(num_query_tokens, d))
            nn.init.normal_(self.query_pos, std=0.01)
        self.ln_self = nn.LayerNorm(d)
        self.self_attn = nn.MultiheadAttention(d, num_heads, batch_first=True)
        self.ln_self_mlp = nn.LayerNorm(d)
        self.self_mlp = _MLP(d)
        self.ln_cross = nn.LayerNorm(d)
        self.cross_attn = CrossAttention(
            d, num_heads, attn_drop, out_proj=(variant == 'mmf'))
        self.ln_cross_mlp = nn.LayerNorm(d)
        self.cross_mlp = _MLP(d)
        self.ln_pool = nn.LayerNorm(d)
        if variant == 'v0':
            self.pool = nn.Sequential(nn.Linear(d, d), QuickGELU())
            self.score = nn.Linear(d, 1)
        else:
            self.pool = nn.Sequential(nn.Linear(d, d, bias=False), nn.ReLU())
            self.score_w = nn.Parameter(torch.randn(d) * d**-0.5)

    def forward(
        self,
        image_tokens: torch.Tensor,
        clip_tokens: torch.Tensor,
        key_valid: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Score image/clip pairs.

        Args:
            image_tokens: (N, Lq, D) queries (optionally with a title token
                appended).
            clip_tokens: (N, Lk, D) keys/values: T·L frame tokens
                (optionally with an ASR token appended).
            key_valid: (N, Lk) bool, False for padded frames' tokens and,
                in box mode, tokens outside the box.

        Returns:
            tuple: scores (N,) and the cross-attention logits
            (N, H, Lq, Lk).
        """
        x = image_tokens
        if self.variant == 'v0':
            n_pos = min(x.shape[1], self.query_pos.shape[0])
            x = torch.cat([x[:, :n_pos] + self.query_pos[:n_pos], x[:, n_pos:]],
                          dim=1)
        y = self.ln_self(x)
        x = x + self.self_attn(y, y, y, need_weights=False)[0]
        x = x + self.self_mlp(self.ln_self_mlp(x))
        q = self.ln_cross(x)
        kv = self.ln_cross(clip_tokens) if self.variant == 'v0' else \
            clip_tokens
        out, logits = self.cross_attn(q, kv, key_valid)
        x = x + out
        x = x + self.cross_mlp(self.ln_cross_mlp(x))
        pooled = self.pool(self.ln_pool(x)[:, 0])
        if self.variant == 'v0':
            scores = self.score(pooled).squeeze(-1)
            if self.training:
                scores = scores * self.score_scale
        else:
            scores = 10.0 * F.cosine_similarity(
                pooled, self.score_w[None], dim=-1)
        return scores, logits

    def mine_negatives(self, sim: torch.Tensor, targets: torch.Tensor,
                       exclude: torch.Tensor) -> torch.Tensor:
        """The ``num_negatives`` most similar wrong clips of each image.

        Args:
            sim: (B, G) image-to-clip similarities (no grad).
            targets: (B,) column of each image's positive clip.
            exclude: (B, G) bool, columns that may not be negatives (e.g.
                same-product clips).

        Returns:
            torch.Tensor: (B, N) column indices, most similar first.
        """
        n = min(self.num_negatives, sim.shape[1] - 1)
        masked = sim.detach().clone()
        masked[exclude] = float('-inf')
        masked[torch.arange(len(targets), device=sim.device),
               targets] = float('-inf')
        top = masked.topk(n, dim=1)
        self._neg_valid = torch.isfinite(top.values)
        return top.indices

    def loss(self, image_tokens: torch.Tensor, all_clip_tokens: torch.Tensor,
             all_key_valid: torch.Tensor, mining: dict,
             exclude: Optional[torch.Tensor] = None
             ) -> Tuple[Dict[str, torch.Tensor], torch.Tensor]:
        """Listwise loss over [positive, hard negatives].

        Args:
            image_tokens: (B, Lq, D) local images.
            all_clip_tokens: (G, Lk, D) global clips (gathered with grad).
            all_key_valid: (G, Lk) bool.
            mining: from :meth:`ICLHead.loss` (``sim``, ``targets``,
                ``same``).
            exclude: (B, G) columns never used as negatives; the
                same-product mask when masking is on.

        Returns:
            tuple: ``dict(loss_pmd=...)`` and the positive pairs'
            cross-attention logits (B, H, Lq, Lk) for PFR.
        """
        targets = mining['targets']
        if exclude is None:
            exclude = torch.zeros_like(mining['same'])
        negs = self.mine_negatives(mining['sim'], targets, exclude)
        cols = torch.cat([targets[:, None], negs], dim=1)  # (B, 1 + N)
        b, k = cols.shape
        q = image_tokens.unsqueeze(1).expand(-1, k, -1, -1).reshape(
            b * k, *image_tokens.shape[1:])
        kv = all_clip_tokens[cols.reshape(-1)]
        valid = all_key_valid[cols.reshape(-1)]
        scores, logits = self(q, kv, valid)
        scores = scores.view(b, k)
        # Rows with fewer valid negatives than asked: drop the filler ones.
        valid = torch.cat([
            torch.ones(b, 1, dtype=torch.bool, device=scores.device),
            self._neg_valid
        ], dim=1)
        scores = scores.masked_fill(~valid, float('-inf'))
        loss = F.cross_entropy(scores, torch.zeros(b, dtype=torch.long,
                                                   device=scores.device))
        pos_logits = logits.view(b, k, *logits.shape[1:])[:, 0]
        return dict(loss_pmd=self.loss_weight * loss), pos_logits
