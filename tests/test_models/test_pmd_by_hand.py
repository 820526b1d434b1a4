"""PMD scores written out by hand from the decoder's definition (spec
§3.3), for both code versions, with padded keys that hold garbage: the
key-padding mask must hide them."""
import math

import pytest
import torch
import torch.nn.functional as F

import lpr  # noqa: F401
from lpr.models import MMFPMDHead, PMDHead
from tiny_rice import small_pmd


def _head(cls, **kwargs):
    return small_pmd(cls, query_tokens=2, **kwargs).eval()


def _ln(x, norm):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu)**2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias


def _linear(x, layer):
    y = x @ layer.weight.T
    return y if layer.bias is None else y + layer.bias


def _quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def _mlp(x, mlp):
    return _linear(_quick_gelu(_linear(x, mlp[0])), mlp[2])


def _attention(q, k, v, heads, valid=None):
    """(Lq, D), (Lk, D), (Lk, D) → (Lq, D), heads split along D."""
    d = q.shape[-1] // heads
    out = []
    for h in range(heads):
        qh, kh, vh = (t[:, h * d:(h + 1) * d] for t in (q, k, v))
        logits = qh @ kh.T / math.sqrt(d)
        if valid is not None:
            logits = logits.masked_fill(~valid[None], float('-inf'))
        out.append(torch.softmax(logits, -1) @ vh)
    return torch.cat(out, -1)


def _self_block(x, head):
    y = _ln(x, head.ln_self)
    w, b = head.self_attn.in_proj_weight, head.self_attn.in_proj_bias
    d = x.shape[-1]
    q, k, v = (y @ w[i * d:(i + 1) * d].T + b[i * d:(i + 1) * d]
               for i in range(3))
    x = x + _linear(_attention(q, k, v, head.num_heads),
                    head.self_attn.out_proj)
    return x + _mlp(_ln(x, head.ln_self_mlp), head.self_mlp)


def score_v0(head, image, clip, valid):
    """Paper-era: positions on the first query tokens; one LayerNorm for
    queries and keys; no attention output projection; LN → token 0 →
    Linear → QuickGELU → Linear."""
    x = image.clone()
    n = min(len(x), len(head.query_pos))
    x[:n] = x[:n] + head.query_pos[:n]
    x = _self_block(x, head)
    att = head.cross_attn
    q = _linear(_ln(x, head.ln_cross), att.q)
    keys = _ln(clip, head.ln_cross)
    x = x + _attention(q, _linear(keys, att.k), _linear(keys, att.v),
                       head.num_heads, valid)
    x = x + _mlp(_ln(x, head.ln_cross_mlp), head.cross_mlp)
    pooled = _quick_gelu(_linear(_ln(x, head.ln_pool)[0], head.pool[0]))
    return _linear(pooled, head.score)[0]


def score_mmf(head, image, clip, valid):
    """Released: no positions; LayerNorm on the queries only; attention
    output projection; LN → token 0 → Linear (no bias) → ReLU; 10 · cosine
    with the score vector."""
    x = _self_block(image, head)
    att = head.cross_attn
    q = _linear(_ln(x, head.ln_cross), att.q)
    x = x + _linear(
        _attention(q, _linear(clip, att.k), _linear(clip, att.v),
                   head.num_heads, valid), att.out)
    x = x + _mlp(_ln(x, head.ln_cross_mlp), head.cross_mlp)
    pooled = torch.relu(_linear(_ln(x, head.ln_pool)[0], head.pool[0]))
    return 10.0 * F.cosine_similarity(pooled, head.score_w, dim=0)


def _pairs(n=3, lq=3, lk=6, d=8):
    g = torch.Generator().manual_seed(5)
    image = torch.randn(n, lq, d, generator=g)
    clip = torch.randn(n, lk, d, generator=g)
    valid = torch.ones(n, lk, dtype=torch.bool)
    valid[0, 3:] = False  # a padded frame of 3 tokens
    valid[1, [1, 4]] = False  # tokens outside a box
    # What padded keys hold must not matter: make it loud.
    clip[~valid] = 1e3 * torch.randn(int((~valid).sum()), d, generator=g)
    return image, clip, valid


@pytest.mark.parametrize('cls, by_hand', [(PMDHead, score_v0),
                                          (MMFPMDHead, score_mmf)])
def test_pmd_scores_by_hand(cls, by_hand):
    head = _head(cls)
    image, clip, valid = _pairs()
    with torch.no_grad():
        got = head(image, clip, valid)[0]
        expected = torch.stack([by_hand(head, i, c, v)
                                for i, c, v in zip(image, clip, valid)])
        # The same pairs with the padded keys left out altogether.
        cut = torch.stack([
            head(i[None], c[v][None], v[v][None])[0][0]
            for i, c, v in zip(image, clip, valid)])
    assert torch.allclose(got, expected, atol=1e-4), (got, expected)
    assert torch.allclose(got, cut, atol=1e-4)
    # One clip against many images, and the training path's listwise loss.
    with torch.no_grad():
        many = head.score_images(image, clip[0], valid[0])
        single = torch.stack([by_hand(head, i, clip[0], valid[0])
                              for i in image])
    assert torch.allclose(many, single, atol=1e-4)


def test_v0_training_score_is_scaled_and_a_single_key_takes_all_attention():
    """With one valid key the cross-attention output is that key's value
    whatever the logits; the paper-era score is multiplied by
    ``score_scale`` in training only."""
    head = _head(PMDHead, score_scale=100.0)
    image, clip, _ = _pairs()
    valid = torch.zeros_like(clip[..., 0], dtype=torch.bool)
    valid[:, 2] = True
    with torch.no_grad():
        out, logits = head.cross_attn(image, head.ln_cross(clip), valid)
        value = head.cross_attn.v(head.ln_cross(clip))[:, 2]  # (N, D)
        assert torch.allclose(out, value[:, None].expand_as(out), atol=1e-5)
        assert torch.isinf(logits[..., [0, 1, 3, 4, 5]]).all()
        eval_score = head(image, clip, valid)[0]
        head.train()
        assert torch.allclose(head(image, clip, valid)[0], 100 * eval_score,
                              atol=1e-3)
