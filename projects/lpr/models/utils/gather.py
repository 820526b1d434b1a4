"""All-gathers: one that keeps gradients, for losses over the global
batch, and one of picklable values that ships tensors compactly."""
from typing import Any, List

import torch
import torch.distributed as dist


class _GatherWithGrad(torch.autograd.Function):
    """Gather a tensor from every rank; the backward pass returns to each
    rank the gradient of its own slice, summed over ranks (every rank
    computes the loss over the whole global batch)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        world = dist.get_world_size()
        ctx.rank = dist.get_rank()
        sizes = [torch.zeros(1, dtype=torch.long, device=tensor.device)
                 for _ in range(world)]
        dist.all_gather(
            sizes,
            torch.tensor([tensor.shape[0]], device=tensor.device))
        ctx.sizes = [int(s) for s in sizes]
        if len(set(ctx.sizes)) != 1:
            raise ValueError(f'all ranks need the same batch size to gather, '
                             f'got {ctx.sizes}')
        out = [torch.empty_like(tensor) for _ in range(world)]
        dist.all_gather(out, tensor.contiguous())
        return torch.cat(out)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        dist.all_reduce(grad)
        start = sum(ctx.sizes[:ctx.rank])
        return grad[start:start + ctx.sizes[ctx.rank]]


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and \
        dist.get_world_size() > 1


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """(B, ...) on each rank → (world * B, ...) in rank order, gradients
    flowing back to the rank that owns each slice. Identity without a
    process group."""
    if not is_distributed():
        return tensor
    return _GatherWithGrad.apply(tensor)


def compact(value: Any) -> Any:
    """Copy the tensors in ``value`` (nested dicts, lists and tuples) that
    are views of a larger storage (e.g. one sample of a batch) into their
    own storage, on the CPU, so pickling ships only their data; a pickled
    view carries its whole storage.
    """
    if torch.is_tensor(value):
        value = value.detach()
        if value.device.type != 'cpu':
            return value.cpu()  # a copy of exactly the view
        nbytes = value.numel() * value.element_size()
        if value.untyped_storage().nbytes() > nbytes or \
                not value.is_contiguous():
            return value.clone(memory_format=torch.contiguous_format)
        return value
    if isinstance(value, dict):
        return type(value)((k, compact(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)) and not hasattr(value, '_fields'):
        return type(value)(compact(v) for v in value)
    return value


def gather_objects(values: List) -> List:
    """Gather a list of picklable values from every rank, in rank order
    (tensors are shipped compactly, see :func:`compact`)."""
    if not is_distributed():
        return list(values)
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, [compact(v) for v in values])
    return [v for part in out for v in part]


def rank_offset(batch_size: int) -> int:
    """Index of this rank's first sample in the gathered batch."""
    return dist.get_rank() * batch_size if is_distributed() else 0
