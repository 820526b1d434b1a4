"""RICE: a clip-to-shop-image retriever trained with ICL + PMD + PFR."""
import contextlib
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModel
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from ..utils import gather_with_grad


@MODELS.register_module()
class RICE(BaseModel):
    """Cross-view semantic alignment for livestreaming product recognition.

    One shared encoder embeds shop images and clip frames. Training sums
    ICL (symmetric InfoNCE over the global batch), PMD (a matching decoder
    on the 3 hardest negatives from the ICL similarities) and PFR (image
    patch features rebuilt from video patch features with
    attention-derived coefficients). Retrieval ranks shop images by the
    cosine of the clip and image embeddings; the decoder can re-rank the
    top-K (``rerank``).

    Data flow (B clips, T frames, L tokens per image, E dims)::

        image (B,3,H,W) ──encoder──► g_img (B,E), tok_img (B,L,D)
        frames (B,T,3,H,W) ─encoder─► g_frm (B,T,E), tok_vid (B,T·L,D)
        clip vector = icl_head.pool_clip(g_frm)  (V0: normalise(masked
            mean(normalise(g_frm))); MMF: normalise(masked mean(g_frm)))
        ICL(clip, g_img) ──► sim (B,G) ──hard negatives──► PMD(tok_img,
        tok_vid[pos, negs]) ──attention of the positives──► PFR

    The decoder tokens are the encoder's projected tokens (D = E, the
    paper-era code) or, with ``pmd_tokens='hidden'``, its tokens before the
    final norm and projection (D = 768 for ViT-B, the released code).

    Args:
        encoder: the shared :class:`~lpr.models.TokenEncoder` config.
        icl_head: :class:`~lpr.models.ICLHead` (paper-era clip vector) or
            :class:`~lpr.models.MMFICLHead` (released) config.
        pmd_head: :class:`~lpr.models.PMDHead` (paper-era) or
            :class:`~lpr.models.MMFPMDHead` (released) config (``None``: no
            PMD).
        pfr_head: :class:`~lpr.models.PFRHead` (paper-era) or
            :class:`~lpr.models.MMFPFRHead` (released) config (needs PMD).
        text_encoder: a text encoder config (e.g.
            :class:`~lpr.text.LPRTextEncoder`): ASR → its own linear layer →
            one extra key/value token, title → its own linear layer → one
            extra query token of PMD (``None``: no text). ICL is unchanged.
        use_boxes: pass the samples' ``patch_masks`` to the encoder for
            frames (box input).
        rerank: ``dict(top_k=10, weight=0.5)`` to re-score the embedding
            ranking's top-K with PMD at test time (``None`` or
            ``top_k <= 1``: off); see :meth:`rank`. ``batch_pairs``
            (default 128) bounds the (image, clip) pairs per decoder call.
        pmd_tokens: the tokens PMD/PFR read (and ``predict`` returns):
            ``'projected'`` (after the final norm and projection, E wide)
            or ``'hidden'`` (before them, the backbone width).
        frozen_modules: names of submodules (e.g. ``('encoder',
            'icl_head')``) that do not train: no gradient, and eval mode
            (batch-norm statistics fixed) even in training. For a second
            stage that trains PMD on the tokens of a trained encoder
            (load the first stage with ``load_from``).
        data_preprocessor: defaults to ``LPRDataPreprocessor``.
    """

    def __init__(self,
                 encoder: dict,
                 icl_head: dict = dict(type='ICLHead'),
                 pmd_head: Optional[dict] = None,
                 pfr_head: Optional[dict] = None,
                 text_encoder: Optional[dict] = None,
                 use_boxes: bool = False,
                 rerank: Optional[dict] = None,
                 pmd_tokens: str = 'projected',
                 frozen_modules: Sequence[str] = (),
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='LPRDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.encoder = MODELS.build(encoder)
        self.icl_head = MODELS.build(icl_head)
        self.pmd_head = MODELS.build(pmd_head) if pmd_head else None
        if pfr_head and not pmd_head:
            raise ValueError('PFR uses the PMD cross-attention: set pmd_head')
        self.pfr_head = MODELS.build(pfr_head) if pfr_head else None
        self.text_encoder = MODELS.build(text_encoder) \
            if text_encoder else None
        if self.text_encoder is not None:
            if self.pmd_head is None:
                raise ValueError('text enters PMD: set pmd_head')
            text_dims = self.text_encoder.embed_dims
            self.text_proj = torch.nn.ModuleDict({
                key: torch.nn.Linear(text_dims, self.pmd_head.embed_dims)
                for key in ('title', 'asr')
            })
        self.use_boxes = use_boxes
        self.rerank = rerank
        if pmd_tokens not in ('projected', 'hidden'):
            raise ValueError(f'pmd_tokens must be "projected" or "hidden", '
                             f'got {pmd_tokens!r}')
        self.pmd_tokens = pmd_tokens
        self.frozen_modules = tuple(frozen_modules)
        for name in self.frozen_modules:
            module = getattr(self, name, None)
            if not isinstance(module, torch.nn.Module):
                raise ValueError(f'frozen_modules: {name!r} is not a '
                                 f'submodule of RICE')
            module.requires_grad_(False)
            module.eval()

    def train(self, mode: bool = True) -> 'RICE':
        """Set the training mode; ``frozen_modules`` stay in eval mode."""
        super().train(mode)
        for name in self.frozen_modules:
            getattr(self, name).eval()
        return self

    # ------------------------------------------------------------ encoding
    def _encode(
        self,
        images: torch.Tensor,
        patch_mask: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """(N, 3, H, W) → global embeddings (N, E) and the decoder's tokens
        (N, L, D) (see ``pmd_tokens``)."""
        if self.pmd_tokens == 'hidden':
            g, _, tokens = self.encoder(images, patch_mask,
                                        return_hidden=True)
            return g, tokens
        return self.encoder(images, patch_mask)

    def extract_image(self,
                      image: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) → unit global embeddings (B, E), tokens (B, L, D)."""
        g, tokens = self._encode(image)
        return torch.nn.functional.normalize(g, dim=-1), tokens

    def extract_clip(
        self,
        frames: torch.Tensor,
        frame_mask: torch.Tensor,
        patch_masks: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode a batch of clips.

        Args:
            frames: (B, T, 3, H, W).
            frame_mask: (B, T) bool.
            patch_masks: (B, T, L) bool box masks (box mode) or ``None``.

        Returns:
            tuple: clip embeddings (B, E), frame tokens (B, T·L, D) and
            their validity (B, T·L) (padded frames and, in box mode,
            tokens outside the box are invalid).
        """
        flat_mask = None
        if patch_masks is not None:
            flat_mask = patch_masks.flatten(0, 1)
        g, tokens = self.encode_frames(frames.flatten(0, 1), flat_mask)
        return self.pool_frames(g, tokens, frame_mask, patch_masks)

    def encode_frames(
        self,
        frames: torch.Tensor,
        patch_masks: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Encode frames one by one (each frame's outputs depend on that
        frame only, so a stream can encode each new frame once and
        :meth:`pool_frames` any window of them).

        Args:
            frames: (N, 3, H, W) normalised frames.
            patch_masks: (N, L) bool box masks (box mode) or ``None``.

        Returns:
            tuple: per-frame global embeddings (N, E), not normalised, and
            tokens (N, L, D).
        """
        return self._encode(frames, patch_masks)

    def pool_frames(
        self, frame_emb: torch.Tensor, frame_tokens: torch.Tensor,
        frame_mask: torch.Tensor, patch_masks: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Clip outputs from per-frame outputs of :meth:`encode_frames`.

        Args:
            frame_emb: (B·T, E) per-frame embeddings.
            frame_tokens: (B·T, L, D) per-frame tokens.
            frame_mask: (B, T) bool, True for real frames.
            patch_masks: (B, T, L) bool box masks or ``None``.

        Returns:
            tuple: clip embeddings (B, E) (``icl_head.pool_clip``), frame
            tokens (B, T·L, D) and their validity (B, T·L).
        """
        return self._clip_outputs(frame_emb, frame_tokens, frame_mask,
                                  patch_masks)

    def _clip_outputs(
        self, g: torch.Tensor, tokens: torch.Tensor, frame_mask: torch.Tensor,
        patch_masks: Optional[torch.Tensor]
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-frame outputs (B·T, E), (B·T, L, D) → clip embeddings
        (B, E), frame tokens (B, T·L, D) and their validity (B, T·L)."""
        b, t = frame_mask.shape
        clip = self.icl_head.pool_clip(g.view(b, t, -1), frame_mask)
        n_tok = tokens.shape[1]
        valid = frame_mask[:, :, None].expand(b, t, n_tok)
        if patch_masks is not None:
            valid = valid & patch_masks.bool()
        return clip, tokens.reshape(b, t * n_tok, -1), valid.reshape(b, -1)

    def extract_pair(
        self,
        image: torch.Tensor,
        frames: torch.Tensor,
        frame_mask: torch.Tensor,
        patch_masks: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
               torch.Tensor]:
        """Encode training pairs in one pass of the encoder.

        Images and frames share a forward pass, so a backbone with batch
        normalisation normalises both views with the same batch statistics
        (the ones its running averages, used at test time, estimate);
        encoding them apart would normalise shop images and livestream
        frames with statistics of their own domain in training only.

        Args:
            image: (B, 3, H, W) shop images.
            frames: (B, T, 3, H, W).
            frame_mask: (B, T) bool.
            patch_masks: (B, T, L) bool box masks of the frames or ``None``
                (images always attend to every token).

        Returns:
            tuple: unit image embeddings (B, E), image tokens (B, L, D),
            clip embeddings (B, E), frame tokens (B, T·L, D) and their
            validity (B, T·L).
        """
        b = frames.shape[0]
        flat = torch.cat([image, frames.flatten(0, 1)])
        mask = None
        if patch_masks is not None:
            flat_masks = patch_masks.flatten(0, 1).bool()
            mask = torch.cat([
                flat_masks.new_ones((b, flat_masks.shape[1])), flat_masks
            ])
        g, tokens = self._encode(flat, mask)
        img_g = torch.nn.functional.normalize(g[:b], dim=-1)
        return (img_g, tokens[:b]) + self._clip_outputs(
            g[b:], tokens[b:], frame_mask, patch_masks)

    def _patch_masks(self, data_samples) -> Optional[torch.Tensor]:
        if not self.use_boxes:
            return None
        masks = [s.patch_masks for s in data_samples]
        return torch.stack(masks).to(self.data_preprocessor.mean.device)

    def _text(self, data_samples, key: str) -> Optional[torch.Tensor]:
        if self.text_encoder is None:
            return None
        texts = [s.metainfo.get(key, '') or '' for s in data_samples]
        return self.text_proj[key](self.text_encoder(texts))  # (B, E)

    # -------------------------------------------------------------- modes
    def forward(self, inputs: dict, data_samples=None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode in ('predict', 'tensor'):
            return self.predict(inputs, data_samples)
        raise RuntimeError(f'invalid mode "{mode}"')

    def loss(self, inputs: dict, data_samples: List) -> Dict[str, torch.Tensor]:
        img_g, img_tok, clip_g, vid_tok, valid = self.extract_pair(
            inputs['image'], inputs['frames'], inputs['frame_mask'],
            self._patch_masks(data_samples))
        image_ids = [s.image_id for s in data_samples]
        losses, mining = self.icl_head.loss(clip_g, img_g, image_ids)
        if self.pmd_head is None:
            return losses
        query, keys, key_valid = img_tok, vid_tok, valid
        title = self._text(data_samples, 'title')
        asr = self._text(data_samples, 'asr')
        if title is not None:
            query = torch.cat([img_tok, title[:, None]], dim=1)
        if asr is not None:
            keys = torch.cat([vid_tok, asr[:, None]], dim=1)
            key_valid = torch.cat(
                [valid, torch.ones_like(valid[:, :1])], dim=1)
        all_keys = gather_with_grad(keys)
        all_valid = gather_with_grad(key_valid.float()).bool()
        # The clip -> image direction scores local clips against global
        # images: their tokens are gathered with grad like the clips'.
        all_query = gather_with_grad(query) \
            if self.pmd_head.v2i_weight > 0 else None
        exclude = mining['same'] if self.icl_head.mask_same_product else None
        pmd_losses, pos_logits = self.pmd_head.loss_and_predict(
            query, all_keys, all_valid, mining, exclude,
            all_image_tokens=all_query)
        losses.update(pmd_losses)
        if self.pfr_head is not None:
            n_q, n_k = img_tok.shape[1], vid_tok.shape[1]
            probs = pos_logits.softmax(-1).nan_to_num(0.0)
            losses.update(
                self.pfr_head.loss(probs[:, :, :n_q, :n_k], img_tok, vid_tok,
                                   valid))
        return losses

    @torch.no_grad()
    def predict(self, inputs: dict, data_samples=None) -> List[DataSample]:
        """Embed whatever the batch holds (gallery images and/or clips).

        Returns:
            list[DataSample]: per sample, a new
            :class:`~mmpretrain.structures.DataSample` with the input
            sample's metainfo and the data fields ``image_emb`` (E,) and
            ``image_tokens`` (Lq, D) and/or ``clip_emb`` (E,),
            ``clip_tokens`` (Lk, D), ``clip_valid`` (Lk,) bool and
            ``has_frames`` (a bool). The tensors are views of the batch's
            tensors, on the model's device.
        """
        out: List[DataSample] = [
            DataSample(metainfo=dict(s.metainfo) if s is not None else None)
            for s in (data_samples or [None] * self._batch_size(inputs))
        ]
        if 'image' in inputs:
            g, tok = self.extract_image(inputs['image'])
            title = self._text(data_samples, 'title')
            if title is not None:
                tok = torch.cat([tok, title[:, None]], dim=1)
            for o, gi, ti in zip(out, g, tok):
                o.set_data(dict(image_emb=gi, image_tokens=ti))
        if 'frames' in inputs:
            clip, tok, valid = self.extract_clip(
                inputs['frames'], inputs['frame_mask'],
                self._patch_masks(data_samples))
            asr = self._text(data_samples, 'asr')
            if asr is not None:
                tok = torch.cat([tok, asr[:, None]], dim=1)
                valid = torch.cat([valid, torch.ones_like(valid[:, :1])], 1)
            # One host copy for the batch, not one sync per sample.
            has_frames = inputs['frame_mask'].any(1).tolist()
            for o, c, t, v, h in zip(out, clip, tok, valid, has_frames):
                o.set_data(
                    dict(clip_emb=c, clip_tokens=t, clip_valid=v,
                         has_frames=h))
        return out

    @staticmethod
    def _batch_size(inputs: dict) -> int:
        return next(iter(inputs.values())).shape[0]

    # ------------------------------------------------------------ ranking
    @property
    def rerank_top_k(self) -> int:
        """How many top embedding matches :meth:`rank` re-scores with PMD
        (re-ranking is on when this is above 1)."""
        return int((self.rerank or {}).get('top_k', 0) or 0)

    def _model_device(self) -> torch.device:
        return self.data_preprocessor.mean.device

    @torch.no_grad()
    def rank(self,
             clip_emb: torch.Tensor,
             image_emb: torch.Tensor,
             clip_tokens: Optional[torch.Tensor] = None,
             clip_valid: Optional[torch.Tensor] = None,
             image_tokens: Optional[torch.Tensor] = None
             ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Rank one livestream's gallery for a batch of its queries.

        Shop images are sorted by the cosine of the clip and image
        embeddings (stable: ties keep the gallery order). With
        ``rerank['top_k'] > 1`` PMD then scores each query's top-K pairs and
        the top-K are re-sorted by ``(1 - w) * z(cosine) + w * z(PMD)``
        (``w = rerank['weight']``, ``z`` a z-score over the K candidates of
        the query); the rest keep their cosine order and scores.

        Every input is moved to the model's device. The cosine runs in
        float32; PMD runs under whatever autocast the caller has entered
        (the one the tokens were encoded under) and otherwise in the head's
        own dtype, so tokens stored in half precision are fine.

        Args:
            clip_emb: (Q, E) unit clip embeddings.
            image_emb: (N, E) unit image embeddings of the livestream's
                gallery.
            clip_tokens: (Q, Lk, D) clip tokens (re-ranking only).
            clip_valid: (Q, Lk) bool validity of the clip tokens.
            image_tokens: (N, Lq, D) image tokens (re-ranking only).

        Returns:
            tuple: ``scores`` (Q, N) float32 and ``order`` (Q, N) int64, on
            the model's device: ``order[q, j]`` is the gallery row ranked
            ``j``-th for query ``q`` (best first) and ``scores[q, j]`` its
            score (the fused score inside the re-ranked top-K, the cosine
            after it).
        """
        device = self._model_device()
        with _autocast_off(device):
            scores, order = cosine_ranking(
                clip_emb.to(device), image_emb.to(device))
        k = min(self.rerank_top_k, order.shape[1])
        if k < 2:
            return scores, order
        if self.pmd_head is None:
            raise RuntimeError('re-ranking needs a PMD head')
        if clip_tokens is None or clip_valid is None or image_tokens is None:
            raise ValueError('re-ranking needs clip_tokens, clip_valid and '
                             'image_tokens')
        image_tokens = image_tokens.to(device)
        clip_tokens = clip_tokens.to(device)
        clip_valid = clip_valid.to(device)
        top = order[:, :k]  # (Q, K)
        n_query = top.shape[0]
        pmd = scores.new_empty(n_query, k)
        step = max(1, int(self.rerank.get('batch_pairs', 128)) // k)
        for s in range(0, n_query, step):
            idx = top[s:s + step]  # (C, K)
            c = idx.shape[0]
            pmd[s:s + c] = self._score_top_k(
                image_tokens[idx.reshape(-1)], clip_tokens[s:s + c],
                clip_valid[s:s + c]).float().view(c, k)
        weight = float(self.rerank.get('weight', 0.5))
        with _autocast_off(device):
            return fuse_top_k(scores, order, pmd, weight)

    def _decoder_inputs(self, *tokens: torch.Tensor) -> List[torch.Tensor]:
        """Tokens on the model's device; outside autocast, in the PMD
        head's dtype (autocast casts them itself)."""
        device = self._model_device()
        dtype = None
        if not _autocast_on(device):
            dtype = next(self.pmd_head.parameters()).dtype
        return [t.to(device=device, dtype=dtype) for t in tokens]

    def _score_top_k(self, image_tokens: torch.Tensor,
                     clip_tokens: torch.Tensor,
                     clip_valid: torch.Tensor) -> torch.Tensor:
        """PMD scores of C clips against K images each.

        Each clip's keys and values are projected once for its K images
        (the head's ``encode_clips``/``decode``, as in its
        ``score_images``); a head without them scores repeated pairs.

        Args:
            image_tokens: (C·K, Lq, D), rows ``c·K .. c·K + K - 1`` for clip
                ``c``.
            clip_tokens: (C, Lk, D).
            clip_valid: (C, Lk) bool.

        Returns:
            torch.Tensor: (C·K,) scores.
        """
        head = self.pmd_head
        image_tokens, clip_tokens = self._decoder_inputs(
            image_tokens, clip_tokens)
        clip_valid = clip_valid.to(image_tokens.device)
        if hasattr(head, 'encode_clips') and hasattr(head, 'decode'):
            keys, values = head.encode_clips(clip_tokens)
            return head.decode(image_tokens, keys, values, clip_valid)[0]
        k = image_tokens.shape[0] // clip_tokens.shape[0]
        return head(image_tokens, clip_tokens.repeat_interleave(k, 0),
                    clip_valid.repeat_interleave(k, 0))[0]

    @torch.no_grad()
    def pair_scores(self, image_tokens: torch.Tensor,
                    clip_tokens: torch.Tensor,
                    clip_valid: torch.Tensor) -> torch.Tensor:
        """PMD scores of (image, clip) pairs.

        The tokens are moved to the model's device; outside autocast they
        are cast to the head's dtype.

        Args:
            image_tokens: (P, Lq, D).
            clip_tokens: (P, Lk, D).
            clip_valid: (P, Lk) bool.

        Returns:
            torch.Tensor: (P,) scores.
        """
        if self.pmd_head is None:
            raise RuntimeError('re-ranking needs a PMD head')
        image_tokens, clip_tokens = self._decoder_inputs(
            image_tokens, clip_tokens)
        return self.pmd_head(image_tokens, clip_tokens,
                             clip_valid.to(image_tokens.device))[0]


def _autocast_on(device: torch.device) -> bool:
    return _has_autocast(device) and torch.is_autocast_enabled(device.type)


def _has_autocast(device: torch.device) -> bool:
    available = getattr(torch.amp, 'is_autocast_available', None)
    if available is None:  # torch < 2.4
        return device.type in ('cpu', 'cuda')
    return available(device.type)


def _autocast_off(device: torch.device):
    """Leave autocast on ``device`` (float32 ranking arithmetic)."""
    if not _has_autocast(device):  # e.g. 'meta'
        return contextlib.nullcontext()
    return torch.autocast(device.type, enabled=False)


def _zscore(x: torch.Tensor) -> torch.Tensor:
    """Z-score each row of (Q, K); rows of fewer than 2 values give 0."""
    if x.shape[-1] < 2:
        return torch.zeros_like(x)
    return (x - x.mean(-1, keepdim=True)) / x.std(
        -1, keepdim=True).clamp(min=1e-6)


def fuse_top_k(scores: torch.Tensor, order: torch.Tensor, pmd: torch.Tensor,
               weight: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """Re-sort each query's top-K by ``(1 - weight) * z(cosine) +
    weight * z(PMD)`` (z-scores over the K candidates, stable sort); the
    rest keep their cosine order and scores. The fusion of
    :meth:`RICE.rank`, also used to choose ``weight`` and K offline from
    saved scores (``tools/analysis_tools/rice_benchmark.py``).

    Args:
        scores: (Q, N) cosine scores, sorted best first.
        order: (Q, N) gallery rows in that order.
        pmd: (Q, K) PMD scores of ``order[:, :K]``, K ≤ N.
        weight: PMD's share of the fused score.

    Returns:
        tuple: fused ``scores`` and ``order``, (Q, N) each.
    """
    k = pmd.shape[1]
    fused = (1 - weight) * _zscore(scores[:, :k].float()) + \
        weight * _zscore(pmd.float())
    fused, resort = fused.sort(dim=1, descending=True, stable=True)
    scores = torch.cat([fused, scores[:, k:].float()], dim=1)
    order = torch.cat([order[:, :k].gather(1, resort), order[:, k:]], dim=1)
    return scores, order


def cosine_ranking(clip_emb: torch.Tensor, image_emb: torch.Tensor
                   ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Sort a gallery by the dot product of unit embeddings (stable, so
    ties keep the gallery order).

    Args:
        clip_emb: (Q, E) query embeddings.
        image_emb: (N, E) gallery embeddings.

    Returns:
        tuple: ``scores`` (Q, N) float32 and ``order`` (Q, N) int64, best
        first (see :meth:`RICE.rank`).
    """
    sims = clip_emb.float() @ image_emb.float().T
    return sims.sort(dim=1, descending=True, stable=True)
