"""A small transformer text encoder for ASR and titles."""
from typing import Optional, Sequence

import torch
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import nn

from .tokenizer import LPRTokenizer


@MODELS.register_module()
class LPRTextEncoder(BaseModule):
    """Token embeddings + learned positions → pre-norm transformer layers
    → the ``[CLS]`` output → one ``embed_dims`` vector per text.

    An empty text gives the embedding of ``[CLS]`` alone, a learned "no
    text" vector.

    Args:
        embed_dims: output (and model) width.
        num_layers: transformer layers.
        num_heads: attention heads.
        vocab_file: vocabulary for :class:`LPRTokenizer` (``None``: hash
            buckets).
        num_buckets: hash buckets when there is no vocabulary.
        max_length: tokens per text.
        dropout: dropout in the layers.
    """

    def __init__(self,
                 embed_dims: int = 512,
                 num_layers: int = 2,
                 num_heads: int = 8,
                 vocab_file: Optional[str] = None,
                 num_buckets: int = 8192,
                 max_length: int = 32,
                 dropout: float = 0.1,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.embed_dims = embed_dims
        self.tokenizer = LPRTokenizer(vocab_file, num_buckets, max_length)
        self.token_embed = nn.Embedding(self.tokenizer.vocab_size, embed_dims)
        self.pos_embed = nn.Parameter(torch.zeros(1, max_length, embed_dims))
        nn.init.normal_(self.token_embed.weight, std=0.02)
        nn.init.normal_(self.pos_embed, std=0.01)
        layer = nn.TransformerEncoderLayer(
            embed_dims, num_heads, 4 * embed_dims, dropout,
            activation='gelu', batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(
            layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(embed_dims)

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        """B texts → (B, embed_dims)."""
        ids, mask = self.tokenizer(texts)
        device = self.token_embed.weight.device
        ids, mask = ids.to(device), mask.to(device)
        x = self.token_embed(ids) + self.pos_embed[:, :ids.shape[1]]
        x = self.layers(x, src_key_padding_mask=~mask)
        return self.norm(x[:, 0])
