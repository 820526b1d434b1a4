"""Intended-product boxes → ViT patch masks (the paper-era box input)."""
from typing import Dict, List, Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS


def box_patch_mask(boxes: Sequence[Sequence[float]], grid: int,
                   iou_thr: float = 0.02) -> np.ndarray:
    """Which patches of a ``grid`` × ``grid`` ViT input a frame keeps.

    A cell is kept if its IoU with any box is at least ``iou_thr``; the CLS
    token is always kept; a frame without a box, or whose boxes keep no
    cell, keeps every patch.

    Args:
        boxes: normalised ``[x1, y1, x2, y2]`` boxes of one frame.
        grid: patches per side (224 / 32 = 7 for ViT-B/32).
        iou_thr: the IoU threshold. Defaults to 0.02 (the official value).

    Returns:
        np.ndarray: (1 + grid * grid,) bool, CLS first, then patches in
        row-major order.
    """
    keep = np.zeros(grid * grid, bool)
    edges = np.arange(grid + 1) / grid
    x1 = np.tile(edges[:-1], grid)
    x2 = np.tile(edges[1:], grid)
    y1 = np.repeat(edges[:-1], grid)
    y2 = np.repeat(edges[1:], grid)
    cell_area = 1.0 / (grid * grid)
    for box in boxes:
        bx1, by1, bx2, by2 = [float(v) for v in box]
        iw = np.clip(np.minimum(x2, bx2) - np.maximum(x1, bx1), 0, None)
        ih = np.clip(np.minimum(y2, by2) - np.maximum(y1, by1), 0, None)
        inter = iw * ih
        union = cell_area + max(0.0, bx2 - bx1) * max(0.0, by2 - by1) - inter
        keep |= inter / np.maximum(union, 1e-12) >= iou_thr
    if not keep.any():
        keep[:] = True
    return np.concatenate([[True], keep])


@TRANSFORMS.register_module()
class BoxToPatchMask(BaseTransform):
    """Turn each frame's intended-product boxes into a ViT patch mask.

    The boxes are normalised to the frame, and the mask is laid on the whole
    frame, which is exact for pipelines that resize frames to the input size
    (the official recipe) and an approximation after random crops.

    Required Keys:

    - frame_boxes (list[list[box]]): per frame, normalised boxes ([] = none)

    Added Keys:

    - patch_masks (np.ndarray): (T, 1 + G*G) bool

    Args:
        input_size: the encoder's input side. Defaults to 224.
        patch_size: the ViT patch side. Defaults to 32.
        iou_thr: cell/box IoU to keep a cell. Defaults to 0.02.
    """

    def __init__(self,
                 input_size: int = 224,
                 patch_size: int = 32,
                 iou_thr: float = 0.02) -> None:
        assert input_size % patch_size == 0
        self.grid = input_size // patch_size
        self.input_size = input_size
        self.patch_size = patch_size
        self.iou_thr = iou_thr

    def transform(self, results: Dict) -> Dict:
        boxes: List = results.get('frame_boxes') or [
            [] for _ in results['frame_ids']
        ]
        masks = [box_patch_mask(b, self.grid, self.iou_thr) for b in boxes]
        results['patch_masks'] = np.stack(masks) if masks else np.zeros(
            (0, 1 + self.grid * self.grid), bool)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(input_size={self.input_size}, '
                f'patch_size={self.patch_size}, iou_thr={self.iou_thr})')
