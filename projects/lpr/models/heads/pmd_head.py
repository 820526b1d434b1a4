"""PMD: the pairwise matching decoder (image tokens attend to clip tokens)
trained on hard negatives mined from the ICL similarities.

:class:`BasePMDHead` holds the decoder and the listwise loss; the two code
versions of the official implementation are its subclasses:
:class:`PMDHead` (paper-era, "V0") and :class:`MMFPMDHead` (released, "MMF").
"""
import math
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS


class QuickGELU(nn.Module):
    """CLIP's GELU approximation ``x * sigmoid(1.702 x)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class _MLP(nn.Sequential):
    """CLIP's residual-block MLP: Linear, QuickGELU, Linear (``c_fc`` is
    index 0, ``c_proj`` index 2)."""

    def __init__(self, dims: int, ratio: int = 4):
        super().__init__(
            nn.Linear(dims, dims * ratio), QuickGELU(),
            nn.Linear(dims * ratio, dims))


class CrossAttention(nn.Module):
    """Multi-head attention that also returns its scaled logits, with the
    key/value projections separable from the attention so that one key set
    can serve many queries.

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

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """(M, L, D) → (M, H, L, D / H)."""
        m, length, _ = x.shape
        return x.view(m, length, self.num_heads,
                      self.head_dims).transpose(1, 2)

    def project_kv(self,
                   key: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Key and value projections, split into heads.

        Args:
            key: (M, Lk, D) key/value tokens.

        Returns:
            tuple: keys and values, each (M, H, Lk, D / H).
        """
        return self._split(self.k(key)), self._split(self.v(key))

    def attend(
        self,
        query: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        key_valid: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Attention of ``N = M·R`` query sets over ``M`` key sets: query
        rows ``m·R .. m·R + R - 1`` attend to key set ``m`` (``R = N / M``),
        so one projected key set serves ``R`` queries without a copy.

        Args:
            query: (N, Lq, D) query tokens (before the query projection).
            keys: (M, H, Lk, D / H) from :meth:`project_kv`.
            values: (M, H, Lk, D / H) from :meth:`project_kv`.
            key_valid: (M, Lk) bool, False for padded or masked keys.

        Returns:
            tuple: output (N, Lq, D) and scaled logits before softmax
            (N, H, Lq, Lk) (masked keys at ``-inf``).
        """
        n, lq, d = query.shape
        m, h, lk, hd = keys.shape
        if n % m:
            raise ValueError(f'{n} query sets do not split over {m} key sets')
        r = n // m
        q = self.q(query).view(m, r, lq, h, hd).permute(0, 1, 3, 2, 4)
        logits = q @ keys[:, None].transpose(-2, -1) / math.sqrt(hd)
        if key_valid is not None:
            logits = logits.masked_fill(~key_valid[:, None, None, None, :],
                                        float('-inf'))
        probs = logits.softmax(-1)
        out = self.drop(probs) @ values[:, None]  # (M, R, H, Lq, hd)
        out = out.permute(0, 1, 3, 2, 4).reshape(n, lq, d)
        return self.out(out), logits.reshape(n, h, lq, lk)

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
        return self.attend(query, *self.project_kv(key), key_valid)


class BasePMDHead(BaseModule):
    """Pairwise matching decoder, the parts both code versions share.

    Image tokens are the queries, the clip's frame tokens (T·L) the keys and
    values: one pre-LN self-attention block on the image tokens, one pre-LN
    cross-attention block, a LayerNorm and a pooler on token 0, and a score.
    For every image the ``num_negatives`` most similar wrong clips of the
    global batch (from the no-grad ICL similarities; never the positive,
    never a same-product clip when masking is on) are scored with the
    positive, and a listwise (1 + N)-way cross-entropy puts the positive
    first (``loss_pmd``, image → clip, the official loss).

    With ``v2i_weight > 0`` the loss is also taken the other way round
    (``loss_pmd_v2i``): for every clip, its positive image and the
    ``num_negatives`` hardest wrong images of the global batch (from the
    same no-grad ICL similarities, clip rows) are scored against it.

    Subclasses set the variant: :attr:`cross_out_proj` and the hooks
    :meth:`embed_queries`, :meth:`norm_keys`, :meth:`_build_score` and
    :meth:`score_pooled`.

    Module names (for checkpoint conversion): ``ln_self``, ``self_attn``
    (``nn.MultiheadAttention``), ``ln_self_mlp``, ``self_mlp`` (the
    self-attention block); ``ln_cross``, ``cross_attn`` (``q``, ``k``,
    ``v``, ``out``), ``ln_cross_mlp``, ``cross_mlp`` (the cross-attention
    block); ``ln_pool``, ``pool``.

    Args:
        embed_dims: token width D.
        num_heads: attention heads H.
        num_negatives: hard negatives per image (3 in the paper).
        negative_pool: draw the ``num_negatives`` negatives at random from
            the ``negative_pool`` most similar wrong columns instead of
            taking the most similar ones (0: the hardest, as in the paper).
            When the ICL ranking is weak, the hardest negatives are usually
            *more* similar to the query than its positive, and a decoder
            trained on them learns to prefer less similar candidates.
        attn_drop: dropout on the cross-attention probabilities.
        score_scale: multiplier of the matching score (how it applies is
            the variant's, see :meth:`score_pooled`).
        loss_weight: weight of ``loss_pmd``.
        v2i_weight: weight of ``loss_pmd_v2i`` (0: not computed).
        encoder_grad: whether PMD's losses reach the tokens it reads (and so
            the shared encoder). False trains the decoder on detached tokens:
            the encoder then learns from ICL only (PFR's gradient flows
            through PMD's attention, so it stops there too), and PMD learns
            to match the tokens ICL shapes.
        init_cfg: initialisation config.
    """

    #: whether the cross-attention has an output projection.
    cross_out_proj: bool = True

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 *,
                 num_negatives: int = 3,
                 negative_pool: int = 0,
                 attn_drop: float = 0.1,
                 score_scale: float = 1.0,
                 loss_weight: float = 1.0,
                 v2i_weight: float = 0.0,
                 encoder_grad: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        assert v2i_weight >= 0, v2i_weight
        self.encoder_grad = encoder_grad
        self.num_negatives = num_negatives
        self.negative_pool = negative_pool
        self.score_scale = score_scale
        self.loss_weight = loss_weight
        self.v2i_weight = v2i_weight
        self.num_heads = num_heads
        self.embed_dims = d = embed_dims
        self.ln_self = nn.LayerNorm(d)
        self.self_attn = nn.MultiheadAttention(d, num_heads, batch_first=True)
        self.ln_self_mlp = nn.LayerNorm(d)
        self.self_mlp = _MLP(d)
        self.ln_cross = nn.LayerNorm(d)
        self.cross_attn = CrossAttention(
            d, num_heads, attn_drop, out_proj=self.cross_out_proj)
        self.ln_cross_mlp = nn.LayerNorm(d)
        self.cross_mlp = _MLP(d)
        self.ln_pool = nn.LayerNorm(d)
        self._build_score(d)

    # ------------------------------------------------------ variant hooks
    def _build_score(self, dims: int) -> None:
        """Create ``self.pool`` (pooled token → D) and the score's
        parameters."""
        raise NotImplementedError

    def score_pooled(self, pooled: torch.Tensor) -> torch.Tensor:
        """(N, D) pooled tokens → (N,) matching scores."""
        raise NotImplementedError

    def embed_queries(self, image_tokens: torch.Tensor) -> torch.Tensor:
        """(N, Lq, D) image tokens → decoder input (N, Lq, D)."""
        return image_tokens

    def norm_keys(self, clip_tokens: torch.Tensor) -> torch.Tensor:
        """(M, Lk, D) clip tokens → the tokens the keys/values project."""
        return clip_tokens

    # ------------------------------------------------------------ decoder
    def self_block(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-LN self-attention block on (N, Lq, D) queries."""
        y = self.ln_self(x)
        x = x + self.self_attn(y, y, y, need_weights=False)[0]
        return x + self.self_mlp(self.ln_self_mlp(x))

    def cross_block(
        self,
        x: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        key_valid: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Pre-LN cross-attention block: (N, Lq, D) queries over M encoded
        clips (see :meth:`decode`) → (N, Lq, D) and the logits
        (N, H, Lq, Lk)."""
        out, logits = self.cross_attn.attend(
            self.ln_cross(x), keys, values, key_valid)
        x = x + out
        return x + self.cross_mlp(self.ln_cross_mlp(x)), logits

    def encode_clips(
            self,
            clip_tokens: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The cross-attention keys and values of (M, Lk, D) clip tokens,
        each (M, H, Lk, D / H); they depend on the clip only."""
        return self.cross_attn.project_kv(self.norm_keys(clip_tokens))

    def decode(
        self,
        image_tokens: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        key_valid: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Score ``N = M·R`` images against ``M`` encoded clips (rows
        ``m·R .. m·R + R - 1`` against clip ``m``).

        Args:
            image_tokens: (N, Lq, D).
            keys: (M, H, Lk, D / H) from :meth:`encode_clips`.
            values: (M, H, Lk, D / H) from :meth:`encode_clips`.
            key_valid: (M, Lk) bool.

        Returns:
            tuple: scores (N,) and the cross-attention logits
            (N, H, Lq, Lk).
        """
        x = self.self_block(self.embed_queries(image_tokens))
        x, logits = self.cross_block(x, keys, values, key_valid)
        pooled = self.pool(self.ln_pool(x)[:, 0])
        return self.score_pooled(pooled), logits

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
        return self.decode(image_tokens, *self.encode_clips(clip_tokens),
                           key_valid)

    def predict(self,
                image_tokens: torch.Tensor,
                clip_tokens: torch.Tensor,
                key_valid: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Matching scores (N,) of (N, Lq, D) images and (N, Lk, D) clips."""
        return self(image_tokens, clip_tokens, key_valid)[0]

    def score_images(self,
                     image_tokens: torch.Tensor,
                     clip_tokens: torch.Tensor,
                     clip_valid: Optional[torch.Tensor] = None
                     ) -> torch.Tensor:
        """Score K images against one clip (re-ranking a query's top-K).

        Equal to ``forward`` with the clip repeated K times, but the clip's
        key/value projections (and any key normalisation) are computed once.

        Args:
            image_tokens: (K, Lq, D).
            clip_tokens: (Lk, D).
            clip_valid: (Lk,) bool.

        Returns:
            torch.Tensor: (K,) scores.
        """
        keys, values = self.encode_clips(clip_tokens[None])
        valid = None if clip_valid is None else clip_valid[None]
        return self.decode(image_tokens, keys, values, valid)[0]

    # --------------------------------------------------------------- loss
    def mine_negatives(self, sim: torch.Tensor, targets: torch.Tensor,
                       exclude: torch.Tensor
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
        """The ``num_negatives`` most similar wrong columns of each row, or
        ``num_negatives`` random ones of its ``negative_pool`` most similar.

        Args:
            sim: (B, G) no-grad similarities (images × clips, or clips ×
                images).
            targets: (B,) column of each row's positive.
            exclude: (B, G) bool, columns that may not be negatives (e.g.
                same-product ones).

        Returns:
            tuple: (B, N) column indices, most similar first, and (B, N)
            bool, False where a row has fewer allowed columns than N (the
            index is then a filler).
        """
        n = min(self.num_negatives, sim.shape[1] - 1)
        masked = sim.detach().clone()
        masked[exclude] = float('-inf')
        masked[torch.arange(len(targets), device=sim.device),
               targets] = float('-inf')
        pool = max(n, min(self.negative_pool, sim.shape[1] - 1))
        top = masked.topk(pool, dim=1)
        if pool == n:
            return top.indices, torch.isfinite(top.values)
        # n allowed columns of the pool at random (disallowed ones last),
        # then most similar first.
        draw = torch.rand(top.values.shape, device=sim.device)
        draw = draw.masked_fill(~torch.isfinite(top.values), -1.0)
        pick = draw.topk(n, dim=1).indices
        values = top.values.gather(1, pick)
        order = values.argsort(dim=1, descending=True)
        return top.indices.gather(1, pick).gather(1, order), torch.isfinite(
            values.gather(1, order))

    @staticmethod
    def _listwise(scores: torch.Tensor, neg_valid: torch.Tensor
                  ) -> torch.Tensor:
        """Cross-entropy with the positive (column 0) as the target; filler
        negatives are left out. (B, 1 + N), (B, N) → scalar (float32)."""
        valid = torch.cat([torch.ones_like(neg_valid[:, :1]), neg_valid], 1)
        scores = scores.float().masked_fill(~valid, float('-inf'))
        return F.cross_entropy(
            scores,
            torch.zeros(len(scores), dtype=torch.long, device=scores.device))

    def loss_and_predict(
        self,
        image_tokens: torch.Tensor,
        all_clip_tokens: torch.Tensor,
        all_clip_valid: torch.Tensor,
        mining: dict,
        exclude: Optional[torch.Tensor] = None,
        all_image_tokens: Optional[torch.Tensor] = None
    ) -> Tuple[Dict[str, torch.Tensor], torch.Tensor]:
        """Listwise losses over [positive, hard negatives] and the positive
        pairs' cross-attention (for PFR).

        Layout: B local rows, G global columns (the batch all-gathered over
        the ranks in rank order); local sample ``i`` is global column
        ``mining['targets'][i]``.

        Args:
            image_tokens: (B, Lq, D) local images.
            all_clip_tokens: (G, Lk, D) global clips (gathered with grad).
            all_clip_valid: (G, Lk) bool.
            mining: from :meth:`ICLHead.loss`: ``sim`` (B, G) local images ×
                global clips, ``sim_v2i`` (B, G) local clips × global
                images (both no grad), ``targets`` (B,), ``same`` (B, G).
            exclude: (B, G) columns never used as negatives; the
                same-product mask when masking is on (it holds for both
                directions: row ``i``'s image id against column ``j``'s).
            all_image_tokens: (G, Lq, D) global images (gathered with grad);
                needed when ``v2i_weight > 0``.

        Returns:
            tuple: ``dict(loss_pmd=...)`` (plus ``loss_pmd_v2i``) and the
            positive pairs' cross-attention logits (B, H, Lq, Lk).
        """
        if not self.encoder_grad:
            image_tokens = image_tokens.detach()
            all_clip_tokens = all_clip_tokens.detach()
            if all_image_tokens is not None:
                all_image_tokens = all_image_tokens.detach()
        targets = mining['targets']
        if exclude is None:
            exclude = torch.zeros_like(mining['same'])
        negs, neg_valid = self.mine_negatives(mining['sim'], targets, exclude)
        cols = torch.cat([targets[:, None], negs], dim=1)  # (B, 1 + N)
        b, k = cols.shape
        q = image_tokens.unsqueeze(1).expand(-1, k, -1, -1).reshape(
            b * k, *image_tokens.shape[1:])
        scores, logits = self(q, all_clip_tokens[cols.reshape(-1)],
                              all_clip_valid[cols.reshape(-1)])
        losses = dict(loss_pmd=self.loss_weight *
                      self._listwise(scores.view(b, k), neg_valid))
        pos_logits = logits.view(b, k, *logits.shape[1:])[:, 0]
        if self.v2i_weight > 0:
            losses['loss_pmd_v2i'] = self.v2i_weight * self._loss_v2i(
                all_clip_tokens[targets], all_clip_valid[targets],
                all_image_tokens, mining, exclude)
        return losses, pos_logits

    def _loss_v2i(self, clip_tokens: torch.Tensor, clip_valid: torch.Tensor,
                  all_image_tokens: Optional[torch.Tensor], mining: dict,
                  exclude: torch.Tensor) -> torch.Tensor:
        """Clip → image listwise loss: (B, Lk, D) local clips, (B, Lk)
        validity, (G, Lq, D) global images → scalar."""
        if all_image_tokens is None:
            raise ValueError('v2i_weight > 0 needs all_image_tokens (the '
                             'global images, gathered with grad)')
        targets = mining['targets']
        negs, neg_valid = self.mine_negatives(mining['sim_v2i'], targets,
                                              exclude)
        rows = torch.cat([targets[:, None], negs], dim=1)  # (B, 1 + N)
        b, k = rows.shape
        keys, values = self.encode_clips(clip_tokens)  # once per clip
        scores, _ = self.decode(all_image_tokens[rows.reshape(-1)], keys,
                                values, clip_valid)
        return self._listwise(scores.view(b, k), neg_valid)

    def loss(self,
             image_tokens: torch.Tensor,
             all_clip_tokens: torch.Tensor,
             all_clip_valid: torch.Tensor,
             mining: dict,
             exclude: Optional[torch.Tensor] = None,
             all_image_tokens: Optional[torch.Tensor] = None
             ) -> Dict[str, torch.Tensor]:
        """The losses of :meth:`loss_and_predict` alone."""
        return self.loss_and_predict(image_tokens, all_clip_tokens,
                                     all_clip_valid, mining, exclude,
                                     all_image_tokens)[0]


@MODELS.register_module()
class PMDHead(BasePMDHead):
    """Paper-era ("V0", CLIP4Clip-based) pairwise matching decoder.

    Learned position embeddings are added to the first ``num_query_tokens``
    image tokens (then dropout); the self-attention block is CLIP-style
    (initialised from CLIP's text tower, see
    :func:`lpr.models.clip_converter.convert_pmd_v0`); the cross-attention
    has fresh Q/K/V projections, **no output projection**, and the same
    LayerNorm on queries and keys/values; pooler LN → token 0 → Linear →
    QuickGELU; score = Linear(pooled → 1) × ``score_scale`` in training.

    Args:
        embed_dims: token width (512: CLIP's projected tokens).
        num_heads: attention heads.
        num_query_tokens: image tokens with a position embedding.
        query_pos_drop: dropout after adding the position embeddings (0.1 in
            the paper-era code).
        score_scale: training-time multiplier of the linear score (100 in
            the paper-era code).
        **kwargs: the other arguments of :class:`BasePMDHead`.
    """

    cross_out_proj = False

    def __init__(self,
                 embed_dims: int = 512,
                 num_heads: int = 8,
                 num_query_tokens: int = 50,
                 *,
                 query_pos_drop: float = 0.0,
                 score_scale: float = 100.0,
                 **kwargs) -> None:
        super().__init__(
            embed_dims, num_heads, score_scale=score_scale, **kwargs)
        self.query_pos = nn.Parameter(torch.zeros(num_query_tokens,
                                                  embed_dims))
        nn.init.normal_(self.query_pos, std=0.01)
        self.query_pos_drop = nn.Dropout(query_pos_drop)

    def _build_score(self, dims: int) -> None:
        self.pool = nn.Sequential(nn.Linear(dims, dims), QuickGELU())
        self.score = nn.Linear(dims, 1)

    def embed_queries(self, image_tokens: torch.Tensor) -> torch.Tensor:
        n_pos = min(image_tokens.shape[1], self.query_pos.shape[0])
        pos = self.query_pos[:n_pos].to(image_tokens.dtype)
        x = torch.cat([image_tokens[:, :n_pos] + pos, image_tokens[:, n_pos:]],
                      dim=1)
        return self.query_pos_drop(x)

    def norm_keys(self, clip_tokens: torch.Tensor) -> torch.Tensor:
        return self.ln_cross(clip_tokens)

    def score_pooled(self, pooled: torch.Tensor) -> torch.Tensor:
        scores = self.score(pooled).squeeze(-1)
        return scores * self.score_scale if self.training else scores


@MODELS.register_module()
class MMFPMDHead(BasePMDHead):
    """Released ("MMF") pairwise matching decoder.

    No query position embeddings; the cross-attention block normalises the
    queries only and has an output projection (both blocks are CLIP visual
    residual blocks, initialised from CLIP's last two, see
    :func:`lpr.models.clip_converter.convert_pmd_mmf`); pooler LN → token 0
    → Linear without bias → ReLU; score = ``score_scale`` · cos(pooled, w).
    The released recipe reads the 768-d ViT tokens before ``ln_post`` with
    8 heads (``RICE(pmd_tokens='hidden')``).

    Args:
        embed_dims: token width (768: the ViT hidden width).
        num_heads: attention heads (8 in the released code).
        score_scale: multiplier of the cosine score (10).
        **kwargs: the other arguments of :class:`BasePMDHead`.
    """

    cross_out_proj = True

    def __init__(self,
                 embed_dims: int = 768,
                 num_heads: int = 8,
                 *,
                 score_scale: float = 10.0,
                 **kwargs) -> None:
        super().__init__(
            embed_dims, num_heads, score_scale=score_scale, **kwargs)

    def _build_score(self, dims: int) -> None:
        self.pool = nn.Sequential(nn.Linear(dims, dims, bias=False),
                                  nn.ReLU())
        self.score_w = nn.Parameter(torch.randn(dims) * dims**-0.5)

    def score_pooled(self, pooled: torch.Tensor) -> torch.Tensor:
        # In float32: the weight is a parameter, pooled may be half.
        return self.score_scale * F.cosine_similarity(
            pooled.float(), self.score_w.float()[None], dim=-1)
