from .box_mask import BoxToPatchMask, box_patch_mask
from .clip_frame_sample import ClipFrameSample
from .clip_sampling import CutTail, SampleClipFrames, uniform_indices
from .formatting import PackLPRInputs
from .frame_augment import ResizeCropFlipFrames
from .frame_wrappers import ApplyToFrames
from .loading import SKIPPED, LoadClipFrames, LoadShopImage, LoadVideoFrames

__all__ = [
    'BoxToPatchMask', 'box_patch_mask', 'ClipFrameSample', 'CutTail', 'SampleClipFrames',
    'uniform_indices', 'PackLPRInputs', 'ApplyToFrames',
    'ResizeCropFlipFrames', 'SKIPPED', 'LoadClipFrames',
    'LoadShopImage', 'LoadVideoFrames'
]
