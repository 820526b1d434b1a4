"""OpenAI CLIP checkpoints → the plugin's ``TokenEncoder`` (ViT backbone +
projection), reusing mmpretrain's OpenAI-CLIP key mapping."""
import importlib.util
import os.path as osp
from collections import OrderedDict
from typing import Dict

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


def convert_openai_clip(state_dict: Dict[str, torch.Tensor],
                        prefix: str = 'encoder.') -> 'OrderedDict':
    """Map the visual tower of an OpenAI CLIP state dict to the plugin.

    ``visual.*`` → ``{prefix}backbone.*`` (mmpretrain ``VisionTransformer``
    with ``pre_norm=True``, ``final_norm=True``); ``visual.proj`` (D, E) →
    ``{prefix}proj.weight`` (E, D). Text-tower keys are dropped.

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
    return out
