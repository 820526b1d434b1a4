"""OpenAI CLIP → TokenEncoder: keys map, shapes fit, and the converted
encoder computes what the OpenAI-layout model computes."""
import subprocess
import sys

import torch
from mmengine.registry import DefaultScope
from mmpretrain.models.utils.clip_generator_helper import CLIP
from mmpretrain.registry import MODELS

import lpr  # noqa: F401
from conftest import ROOT, run_env
from lpr.models.clip_converter import convert_openai_clip, load_openai_clip
from tiny_rice import tiny_vit_encoder


def tiny_openai_clip():
    torch.manual_seed(0)
    model = CLIP(embed_dim=16, image_resolution=32, vision_layers=2,
                 vision_width=64, vision_patch_size=16, context_length=8,
                 vocab_size=50, transformer_width=32, transformer_heads=2,
                 transformer_layers=1)
    for p in model.parameters():  # avoid zero-initialised shortcuts
        torch.nn.init.normal_(p, std=0.05)
    return model.eval()


def encoder():
    """The TokenEncoder of :func:`tiny_openai_clip`'s visual tower."""
    cfg = tiny_vit_encoder(width=64, num_heads=1, feedforward_channels=256)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(cfg).eval()


def test_converted_encoder_matches_openai_layout(tmp_path):
    ref = tiny_openai_clip()
    weights = convert_openai_clip(ref.state_dict(), prefix='')
    assert not any(k.startswith(('transformer.', 'token_embedding'))
                   for k in weights), 'text tower dropped'
    enc = encoder()
    missing, unexpected = enc.load_state_dict(weights, strict=False)
    assert not unexpected
    assert not [k for k in missing if not k.startswith('backbone.ln')]
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = ref.visual(x)[0]  # (N, 1 + P, E): ln_post, then proj
        g, tokens = enc(x)
    assert torch.allclose(tokens, expected, atol=1e-4)
    assert torch.allclose(g, expected[:, 0], atol=1e-4)


def test_converter_tool_reads_torchscript(tmp_path):
    ref = tiny_openai_clip()
    # OpenAI releases TorchScript archives; the loader reads those too.
    src = tmp_path / 'visual.pt'
    torch.jit.save(
        torch.jit.trace(ref.visual, torch.randn(1, 3, 32, 32),
                        strict=False), src)
    state = load_openai_clip(str(src))
    assert torch.equal(state['conv1.weight'], ref.visual.conv1.weight)
    plain = tmp_path / 'clip_state.pt'
    torch.save(ref.state_dict(), plain)
    dst = tmp_path / 'enc.pth'
    subprocess.run([
        sys.executable, f'{ROOT}/tools/model_converters/openai_clip_to_lpr.py',
        str(plain), str(dst), '--pmd', 'mmf'], check=True, env=run_env())
    ckpt = torch.load(dst, weights_only=False)
    assert 'encoder.proj.weight' in ckpt['state_dict']
    assert ckpt['state_dict']['encoder.proj.weight'].shape == (16, 64)
    # --pmd mmf: the decoder from the last two visual blocks (here 0, 1).
    assert ckpt['meta']['pmd'] == 'mmf'
    assert torch.equal(
        ckpt['state_dict']['pmd_head.cross_attn.v.weight'],
        ref.visual.transformer.resblocks[1].attn.in_proj_weight[128:])
    assert torch.equal(
        ckpt['state_dict']['pmd_head.self_attn.in_proj_weight'],
        ref.visual.transformer.resblocks[0].attn.in_proj_weight)
