"""OpenAI CLIP checkpoints → the plugin's ``TokenEncoder`` (ViT backbone +
projection), reusing mmpretrain's OpenAI-CLIP key mapping, and optionally the
PMD decoder's initialisation from CLIP residual blocks (:data:`PMD_INITS`)."""
import importlib.util
import os.path as osp
import re
from collections import OrderedDict
from typing import Callable, Dict, Optional, Sequence

import torch


def _mmpretrain_convert_clip():
    """``convert_clip`` of mmpretrain's
    ``tools/model_converters/openai-clip_to_mmpretrain-clip.py``."""
    import mmpretrain
    path = osp.join(
        osp.dirname(mmpretrain.__file__), '.mim', 'tools',
        'model_converters', 'openai-clip_to_mmpretrain-clip.py')
    spec = importlib.util.spec_from_file_location('_openai_clip_conv', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.convert_clip


def load_openai_clip(path: str) -> Dict[str, torch.Tensor]:
    """State dict of an OpenAI CLIP file: a TorchScript archive (the
    released ``ViT-B-32.pt``) or a plain state dict."""
    try:
        return torch.jit.load(path, map_location='cpu').state_dict()
    except RuntimeError:
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
        return ckpt.get('state_dict', ckpt)


def _block(state_dict: Dict[str, torch.Tensor],
           src: str) -> Dict[str, torch.Tensor]:
    """The tensors of one CLIP ``ResidualAttentionBlock`` under ``src``
    (e.g. ``'transformer.resblocks.0.'``), keyed by the name inside it."""
    block = {k[len(src):]: v for k, v in state_dict.items()
             if k.startswith(src)}
    if not block:
        raise KeyError(f'no CLIP residual block under {src!r}')
    return block


# CLIP residual block → a PMD pre-LN block: (CLIP name, PMD name).
_SELF_BLOCK = (
    ('ln_1.weight', 'ln_self.weight'),
    ('ln_1.bias', 'ln_self.bias'),
    ('attn.in_proj_weight', 'self_attn.in_proj_weight'),
    ('attn.in_proj_bias', 'self_attn.in_proj_bias'),
    ('attn.out_proj.weight', 'self_attn.out_proj.weight'),
    ('attn.out_proj.bias', 'self_attn.out_proj.bias'),
    ('ln_2.weight', 'ln_self_mlp.weight'),
    ('ln_2.bias', 'ln_self_mlp.bias'),
    ('mlp.c_fc.weight', 'self_mlp.0.weight'),
    ('mlp.c_fc.bias', 'self_mlp.0.bias'),
    ('mlp.c_proj.weight', 'self_mlp.2.weight'),
    ('mlp.c_proj.bias', 'self_mlp.2.bias'),
)
_CROSS_BLOCK = (
    ('ln_1.weight', 'ln_cross.weight'),
    ('ln_1.bias', 'ln_cross.bias'),
    ('attn.out_proj.weight', 'cross_attn.out.weight'),
    ('attn.out_proj.bias', 'cross_attn.out.bias'),
    ('ln_2.weight', 'ln_cross_mlp.weight'),
    ('ln_2.bias', 'ln_cross_mlp.bias'),
    ('mlp.c_fc.weight', 'cross_mlp.0.weight'),
    ('mlp.c_fc.bias', 'cross_mlp.0.bias'),
    ('mlp.c_proj.weight', 'cross_mlp.2.weight'),
    ('mlp.c_proj.bias', 'cross_mlp.2.bias'),
)


def _self_block(block: Dict[str, torch.Tensor],
                prefix: str) -> 'OrderedDict':
    return OrderedDict((prefix + dst, block[src].clone())
                       for src, dst in _SELF_BLOCK)


def convert_pmd_v0(state_dict: Dict[str, torch.Tensor],
                   prefix: str = 'pmd_head.',
                   num_query_tokens: int = 50) -> 'OrderedDict':
    """Paper-era PMD (:class:`~lpr.models.PMDHead`) initialisation from
    CLIP's **text** tower: its self-attention block from
    ``transformer.resblocks.0.*`` and its query position embeddings from the
    first ``num_query_tokens`` rows of ``positional_embedding`` (width 512,
    8 heads for ViT-B/32). The cross-attention block, pooler and score stay
    as initialised.

    Args:
        state_dict: a full OpenAI CLIP state dict.
        prefix: the PMD head's key prefix in the model.
        num_query_tokens: rows of ``positional_embedding`` to take.

    Returns:
        OrderedDict: ``{prefix}query_pos``, ``{prefix}ln_self.*``,
        ``{prefix}self_attn.*``, ``{prefix}ln_self_mlp.*``,
        ``{prefix}self_mlp.*``.
    """
    out = _self_block(_block(state_dict, 'transformer.resblocks.0.'), prefix)
    pos = state_dict['positional_embedding']
    if pos.shape[0] < num_query_tokens:
        raise ValueError(f'positional_embedding has {pos.shape[0]} rows, '
                         f'{num_query_tokens} asked')
    out[prefix + 'query_pos'] = pos[:num_query_tokens].clone()
    return out


def convert_pmd_mmf(state_dict: Dict[str, torch.Tensor],
                    prefix: str = 'pmd_head.',
                    blocks: Optional[Sequence[int]] = None) -> 'OrderedDict':
    """Released PMD (:class:`~lpr.models.MMFPMDHead`) initialisation from
    CLIP's **visual** residual blocks: the self-attention block from the
    second-to-last (10 of ViT-B's 12), the cross-attention block from the
    last (11); the fused ``in_proj`` splits into the cross-attention's
    ``q``/``k``/``v``. The weights copy as they are, whatever the head
    count (the released decoder has 8 heads where CLIP has 12: heads only
    split the same matrices). The pooler and score stay as initialised.

    Args:
        state_dict: an OpenAI CLIP state dict (``visual.*`` keys).
        prefix: the PMD head's key prefix in the model.
        blocks: (self block, cross block) indices; the last two by default.

    Returns:
        OrderedDict: ``{prefix}`` + the self-attention block's and the
        cross-attention block's names.
    """
    if blocks is None:
        pattern = re.compile(r'visual\.transformer\.resblocks\.(\d+)\.')
        layers = sorted({
            int(m.group(1))
            for m in map(pattern.match, state_dict) if m is not None
        })
        if len(layers) < 2:
            raise KeyError('the state dict has fewer than two visual blocks')
        blocks = layers[-2:]
    self_idx, cross_idx = blocks
    out = _self_block(
        _block(state_dict, f'visual.transformer.resblocks.{self_idx}.'),
        prefix)
    cross = _block(state_dict, f'visual.transformer.resblocks.{cross_idx}.')
    for src, dst in _CROSS_BLOCK:
        out[prefix + dst] = cross[src].clone()
    for name, weight, bias in zip(
            'qkv', cross['attn.in_proj_weight'].chunk(3),
            cross['attn.in_proj_bias'].chunk(3)):
        out[f'{prefix}cross_attn.{name}.weight'] = weight.clone()
        out[f'{prefix}cross_attn.{name}.bias'] = bias.clone()
    return out


#: PMD initialisations by recipe name (``--pmd`` of the converter tool).
PMD_INITS: Dict[str, Callable] = dict(v0=convert_pmd_v0, mmf=convert_pmd_mmf)


def convert_openai_clip(state_dict: Dict[str, torch.Tensor],
                        prefix: str = 'encoder.',
                        pmd: Optional[str] = None,
                        pmd_prefix: str = 'pmd_head.') -> 'OrderedDict':
    """Map the visual tower of an OpenAI CLIP state dict to the plugin.

    ``visual.*`` → ``{prefix}backbone.*`` (mmpretrain ``VisionTransformer``
    with ``pre_norm=True``, ``final_norm=True``); ``visual.proj`` (D, E) →
    ``{prefix}proj.weight`` (E, D). Text-tower keys are dropped.

    Args:
        state_dict: an OpenAI CLIP state dict.
        prefix: the encoder's key prefix in the model.
        pmd: also initialise the PMD decoder: ``'v0'``
            (:func:`convert_pmd_v0`, from the text tower) or ``'mmf'``
            (:func:`convert_pmd_mmf`, from the last two visual blocks);
            ``None``: encoder only.
        pmd_prefix: the PMD head's key prefix in the model.

    Returns:
        OrderedDict: the converted weights.
    """
    converted = _mmpretrain_convert_clip()(
        {k: v for k, v in state_dict.items() if k.startswith('visual.')})
    out = OrderedDict()
    for key, value in converted.items():
        if key == 'visual_proj.proj':
            out[prefix + 'proj.weight'] = value.t().contiguous()
        elif key.startswith('visual.'):
            out[prefix + 'backbone.' + key[len('visual.'):]] = value
    if pmd is not None:
        if pmd not in PMD_INITS:
            raise ValueError(f'pmd must be one of {sorted(PMD_INITS)}, '
                             f'got {pmd!r}')
        out.update(PMD_INITS[pmd](state_dict, pmd_prefix))
    return out
