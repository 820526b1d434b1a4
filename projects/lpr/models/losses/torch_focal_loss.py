"""Sigmoid focal loss in plain PyTorch on every device."""
import torch.nn.functional as F
from mmdet.models.losses import FocalLoss
from mmdet.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class TorchFocalLoss(FocalLoss):
    """mmdet's :class:`~mmdet.models.losses.FocalLoss` without the compiled
    op.

    ``FocalLoss`` calls mmcv's compiled ``sigmoid_focal_loss`` when the
    prediction is on a CUDA device and the targets are class indices (how
    DETR heads call it), which fails with an mmcv built without CUDA
    kernels. This loss turns class indices into one-hot targets (index
    ``num_classes`` = background = all zeros) first, so the PyTorch
    implementation runs on CPU and GPU alike, with the same values.
    """

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight=None,
                avg_factor=None,
                reduction_override=None) -> Tensor:
        if self.use_sigmoid and not self.activated and \
                target.dim() == pred.dim() - 1:
            num_classes = pred.size(-1)
            target = F.one_hot(target, num_classes + 1)[..., :num_classes]
            target = target.to(pred.dtype)
        return super().forward(pred, target, weight, avg_factor,
                               reduction_override)
