"""A single-scale DETR encoder memory in the form deformable attention
reads (mmcv ``MultiScaleDeformableAttention``)."""
from typing import Dict, Optional, Tuple

import torch
from mmdet.models.detectors import DeformableDETR
from torch import Tensor


def single_level_memory(memory: Tensor, memory_mask: Optional[Tensor],
                        spatial_shape: Tuple[int, int]) -> Dict[str, Tensor]:
    """Describe the flattened encoder memory of N images as one feature
    level.

    Args:
        memory: (N, H·W, D) encoder memory.
        memory_mask: (N, H·W) bool, True at padding, or ``None`` (no
            padding).
        spatial_shape: (H, W) of the feature map the memory was flattened
            from.

    Returns:
        dict: the keyword arguments of mmdet's
        ``DeformableDetrTransformerDecoder`` for the memory: ``value``
        (N, H·W, D), ``key_padding_mask`` (N, H·W) bool or ``None``,
        ``spatial_shapes`` (1, 2) long (H, W), ``level_start_index`` (1, )
        long and ``valid_ratios`` (N, 1, 2) (valid width and height
        fractions of the feature map, as ``DeformableDETR.get_valid_ratio``
        computes them).

    Raises:
        ValueError: if ``H·W`` is not the memory length, or the mask shape
        differs from the memory's (N, H·W).
    """
    n, hw, _ = memory.shape
    h, w = (int(s) for s in spatial_shape)
    if h * w != hw:
        raise ValueError(f'a {h}x{w} feature map does not flatten to the '
                         f'{hw} memory entries')
    if memory_mask is None:
        mask = memory.new_zeros((n, h, w), dtype=torch.bool)
    else:
        if tuple(memory_mask.shape) != (n, hw):
            raise ValueError(f'memory_mask of shape '
                             f'{tuple(memory_mask.shape)} for a memory of '
                             f'{n} x {hw} entries')
        memory_mask = memory_mask.bool()
        mask = memory_mask.view(n, h, w)
    spatial_shapes = torch.tensor([[h, w]],
                                  dtype=torch.long,
                                  device=memory.device)
    return dict(
        value=memory,
        key_padding_mask=memory_mask,
        spatial_shapes=spatial_shapes,
        level_start_index=spatial_shapes.new_zeros(1),
        valid_ratios=DeformableDETR.get_valid_ratio(mask)[:, None])
