"""PMD initialisation from an OpenAI CLIP state dict: the paper-era decoder
from the text tower (resblock 0, positional embedding), the released one
from the last two visual blocks; the converted weights land in the right
parameters and the decoder blocks compute what a CLIP residual block
computes."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope
from mmpretrain.models.utils.clip_generator_helper import CLIP
from mmpretrain.registry import MODELS

import lpr  # noqa: F401
from lpr.models import MMFPMDHead, PMDHead
from lpr.models.clip_converter import (convert_openai_clip, convert_pmd_mmf,
                                       convert_pmd_v0)
from tiny_rice import tiny_vit_encoder

VISION_WIDTH, TEXT_WIDTH, LAYERS = 64, 32, 12


@pytest.fixture(scope='module')
def clip_state():
    """A small random OpenAI-layout CLIP (real key names, reduced widths,
    12 visual blocks so that 10 and 11 exist)."""
    torch.manual_seed(0)
    model = CLIP(embed_dim=16, image_resolution=32, vision_layers=LAYERS,
                 vision_width=VISION_WIDTH, vision_patch_size=16,
                 context_length=52, vocab_size=50,
                 transformer_width=TEXT_WIDTH, transformer_heads=2,
                 transformer_layers=2)
    for p in model.parameters():  # no unit norms / zero biases
        torch.nn.init.normal_(p, std=0.1)
    return model.eval(), model.state_dict()


def clip_block(sd, prefix, x, heads, kv=None):
    """A CLIP ``ResidualAttentionBlock`` written out: x + attn(ln_1(x)),
    then x + c_proj(QuickGELU(c_fc(ln_2(x)))). With ``kv`` the attention
    takes its keys/values from ``kv`` as they are (the released decoder's
    cross-attention block). ``heads`` splits the same matrices."""

    def ln(t, name):
        return F.layer_norm(t, t.shape[-1:], sd[f'{prefix}{name}.weight'],
                            sd[f'{prefix}{name}.bias'], eps=1e-5)

    def split(t):
        n, length, d = t.shape
        return t.view(n, length, heads, d // heads).transpose(1, 2)

    wq, wk, wv = sd[prefix + 'attn.in_proj_weight'].chunk(3)
    bq, bk, bv = sd[prefix + 'attn.in_proj_bias'].chunk(3)
    y = ln(x, 'ln_1')
    src = y if kv is None else kv
    q, k, v = split(y @ wq.t() + bq), split(src @ wk.t() + bk), \
        split(src @ wv.t() + bv)
    a = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), -1)
    a = (a @ v).transpose(1, 2).reshape(x.shape)
    x = x + a @ sd[prefix + 'attn.out_proj.weight'].t() + \
        sd[prefix + 'attn.out_proj.bias']
    h = ln(x, 'ln_2') @ sd[prefix + 'mlp.c_fc.weight'].t() + \
        sd[prefix + 'mlp.c_fc.bias']
    h = h * torch.sigmoid(1.702 * h)
    return x + h @ sd[prefix + 'mlp.c_proj.weight'].t() + \
        sd[prefix + 'mlp.c_proj.bias']


def test_hand_written_block_is_clips(clip_state):
    model, sd = clip_state
    x = torch.randn(2, 5, VISION_WIDTH)
    block = model.visual.transformer.resblocks[10]
    with torch.no_grad():
        expected = block(x.transpose(0, 1)).transpose(0, 1)  # seq-first
    heads = VISION_WIDTH // 64  # OpenAI's visual head count
    got = clip_block(sd, 'visual.transformer.resblocks.10.', x, heads)
    assert torch.allclose(got, expected, atol=1e-5)


def _load(head, weights):
    missing, unexpected = head.load_state_dict(weights, strict=False)
    assert not unexpected
    for key, value in weights.items():
        assert torch.equal(head.state_dict()[key], value), key
    return set(missing)


def test_v0_decoder_from_the_text_tower(clip_state):
    _, sd = clip_state
    weights = convert_pmd_v0(sd, prefix='', num_query_tokens=5)
    head = PMDHead(embed_dims=TEXT_WIDTH, num_heads=2, num_query_tokens=5,
                   query_pos_drop=0.1).eval()
    missing = _load(head, weights)
    assert all(k.startswith(('ln_cross', 'cross_attn', 'cross_mlp',
                             'ln_pool', 'pool', 'score')) for k in missing)
    assert 'self_attn.in_proj_weight' not in missing
    assert torch.equal(head.query_pos, sd['positional_embedding'][:5])
    x = torch.randn(3, 5, TEXT_WIDTH)
    with torch.no_grad():
        got = head.self_block(head.embed_queries(x))
    expected = clip_block(sd, 'transformer.resblocks.0.',
                          x + sd['positional_embedding'][:5], heads=2)
    assert torch.allclose(got, expected, atol=1e-5)
    with pytest.raises(ValueError, match='rows'):
        convert_pmd_v0(sd, num_query_tokens=60)


def test_mmf_decoder_from_the_last_two_visual_blocks(clip_state):
    _, sd = clip_state
    weights = convert_pmd_mmf(sd, prefix='')
    assert torch.equal(weights['self_attn.in_proj_weight'],
                       sd['visual.transformer.resblocks.10.attn.'
                          'in_proj_weight'])
    # Two heads where the CLIP block has one: the matrices copy as they are.
    head = MMFPMDHead(embed_dims=VISION_WIDTH, num_heads=2).eval()
    missing = _load(head, weights)
    assert missing == {'ln_pool.weight', 'ln_pool.bias', 'pool.0.weight',
                       'score_w'}
    wq, wk, wv = sd['visual.transformer.resblocks.11.attn.in_proj_weight'
                    ].chunk(3)
    assert torch.equal(head.cross_attn.k.weight, wk)
    x = torch.randn(3, 5, VISION_WIDTH)
    clip = torch.randn(3, 10, VISION_WIDTH)
    with torch.no_grad():
        got_self = head.self_block(x)
        got_cross, _ = head.cross_block(x, *head.encode_clips(clip))
    assert torch.allclose(
        got_self,
        clip_block(sd, 'visual.transformer.resblocks.10.', x, heads=2),
        atol=1e-5)
    expected = clip_block(sd, 'visual.transformer.resblocks.11.', x, heads=2,
                          kv=clip)
    assert torch.allclose(got_cross, expected, atol=1e-5)
    # The head count matters: CLIP's own single head gives another output.
    other = clip_block(sd, 'visual.transformer.resblocks.11.', x, heads=1,
                       kv=clip)
    assert not torch.allclose(got_cross, other, atol=1e-3)
    explicit = convert_pmd_mmf(sd, prefix='', blocks=(10, 11))
    assert explicit.keys() == weights.keys()


def test_converter_option_loads_into_the_retriever(clip_state):
    """``convert_openai_clip(pmd='mmf')`` → a RICE model with the released
    heads: encoder and decoder weights land under their prefixes."""
    model, sd = clip_state
    cfg = dict(
        type='RICE',
        pmd_tokens='hidden',
        encoder=tiny_vit_encoder(
            width=VISION_WIDTH, num_layers=LAYERS, num_heads=1,
            feedforward_channels=4 * VISION_WIDTH),
        icl_head=dict(type='MMFICLHead'),
        pmd_head=dict(type='MMFPMDHead', embed_dims=VISION_WIDTH,
                      num_heads=2),
        pfr_head=dict(type='MMFPFRHead', num_heads=2,
                      head_dims=VISION_WIDTH // 2))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        rice = MODELS.build(cfg).eval()
    weights = convert_openai_clip(sd, pmd='mmf')
    missing, unexpected = rice.load_state_dict(weights, strict=False)
    assert not unexpected
    assert not [k for k in missing
                if k.startswith('encoder.') and 'backbone.ln' not in k]
    own = rice.state_dict()
    assert torch.equal(own['pmd_head.cross_attn.q.weight'],
                       sd['visual.transformer.resblocks.11.attn.'
                          'in_proj_weight'][:VISION_WIDTH])
    assert torch.equal(own['pmd_head.self_mlp.2.bias'],
                       sd['visual.transformer.resblocks.10.mlp.c_proj.bias'])
    # The decoder reads the ViT's hidden state, which the converted encoder
    # computes like CLIP's visual transformer (before ln_post).
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        _, _, hidden = rice.encoder(x, return_hidden=True)
        v = model.visual
        t = v.conv1(x).flatten(2).transpose(1, 2)
        t = torch.cat([v.class_embedding.expand(2, 1, -1), t], 1)
        t = v.ln_pre(t + v.positional_embedding)
        t = v.transformer(t.transpose(0, 1))[0].transpose(0, 1)
    assert (hidden - t).abs().max() < 1e-3  # 12 blocks of float32 rounding
    assert 'pmd_head.query_pos' in convert_openai_clip(sd, pmd='v0',
                                                       pmd_prefix='pmd_head.')
    with pytest.raises(ValueError, match='pmd'):
        convert_openai_clip(sd, pmd='v1')
