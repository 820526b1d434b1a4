"""Mixed-precision training on the CPU.

mmengine's ``AmpOptimWrapper`` refuses to run without an accelerator, and
its autocast only offers bfloat16 on the CPU. :class:`CPUAmpOptimWrapper`
is the same wrapper for that case: bfloat16 autocast around the forward
pass and no loss scaling (bfloat16 has float32's exponent range, so
gradients do not underflow). ``tools/train.py --amp`` picks it when no GPU
(or other accelerator) is available.
"""
from typing import Union

import torch
from mmengine.device import get_device
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmpretrain.registry import OPTIM_WRAPPERS


def accelerator_available() -> bool:
    """Whether mmengine's ``AmpOptimWrapper`` can run here."""
    return get_device() != 'cpu'


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(AmpOptimWrapper):
    """``AmpOptimWrapper`` on the CPU: bfloat16 autocast, no loss scaling.

    Args:
        dtype: the autocast dtype; the CPU only supports ``'bfloat16'``.
        **kwargs: :class:`mmengine.optim.OptimWrapper` arguments
            (``optimizer``, ``clip_grad``, ``accumulative_counts``...).
            ``loss_scale`` is accepted and ignored.
    """

    def __init__(self,
                 dtype: Union[str, torch.dtype] = 'bfloat16',
                 loss_scale: object = None,
                 **kwargs) -> None:
        OptimWrapper.__init__(self, **kwargs)
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype)
        if dtype != torch.bfloat16:
            raise ValueError(f'CPU autocast supports bfloat16 only, got '
                             f'{dtype}')
        self.cast_dtype = dtype
        self._scale_update_param = None
        # Disabled: scale() and unscale_() are identities, step() steps.
        self.loss_scaler = torch.amp.GradScaler('cpu', enabled=False)
