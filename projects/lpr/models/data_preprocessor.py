"""Batching and normalisation of LPR samples."""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.model import BaseDataPreprocessor
from mmpretrain.registry import MODELS

# OpenAI CLIP's normalisation, on the 0-255 scale.
CLIP_MEAN = (122.770938, 116.7460125, 104.09373615)
CLIP_STD = (68.5005327, 66.6321579, 70.32316305)


@MODELS.register_module()
class LPRDataPreprocessor(BaseDataPreprocessor):
    """Stack, move and normalise the clips and shop images of a batch.

    Takes what :class:`~lpr.datasets.transforms.PackLPRInputs` packs, after
    either ``pseudo_collate`` (lists) or ``default_collate`` (stacked), and
    returns ``inputs`` with:

    - ``frames``: (B, T, 3, H, W) float, normalised (when present);
    - ``frame_mask``: (B, T) bool;
    - ``image``: (B, 3, H, W) float, normalised (when present);

    and the data samples unchanged (moved to the device).

    Args:
        mean, std: per-channel normalisation in the 0-255 scale (CLIP's by
            default), in the order of the channels after ``to_rgb``.
        to_rgb: flip BGR (OpenMMLab's decoding order) to RGB.
    """

    def __init__(self,
                 mean: Sequence[float] = CLIP_MEAN,
                 std: Sequence[float] = CLIP_STD,
                 to_rgb: bool = True,
                 non_blocking: bool = False) -> None:
        super().__init__(non_blocking)
        self.register_buffer('mean',
                             torch.tensor(mean).view(-1, 1, 1), False)
        self.register_buffer('std', torch.tensor(std).view(-1, 1, 1), False)
        self.to_rgb = to_rgb

    @staticmethod
    def _stack(value: Union[torch.Tensor, List[torch.Tensor]]) -> torch.Tensor:
        return value if isinstance(value, torch.Tensor) else torch.stack(
            list(value))

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        if self.to_rgb:
            x = x.flip(-3)
        return (x.float() - self.mean) / self.std

    def forward(self, data: dict, training: bool = False) -> dict:
        inputs: Dict[str, torch.Tensor] = data['inputs']
        if isinstance(inputs, (list, tuple)):  # pseudo_collate of dicts
            inputs = {k: [d[k] for d in inputs] for k in inputs[0]}
        out: Dict[str, torch.Tensor] = {}
        for key, value in inputs.items():
            out[key] = self.cast_data(self._stack(value))
        if 'frames' in out:
            out['frames'] = self._normalise(out['frames'])
        if 'image' in out:
            out['image'] = self._normalise(out['image'])
        samples: Optional[list] = data.get('data_samples')
        if samples is not None:
            samples = self.cast_data(samples)
        return dict(inputs=out, data_samples=samples)
