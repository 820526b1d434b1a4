"""Apply image transforms to every frame of a clip."""
from typing import Dict, List, Optional

from mmcv.transforms import TransformBroadcaster
from mmpretrain.registry import TRANSFORMS


@TRANSFORMS.register_module()
class ApplyToFrames(TransformBroadcaster):
    """mmcv's ``TransformBroadcaster`` over the ``frames`` list, also for
    clips with no frame (which the broadcaster rejects).

    Each frame draws its own random parameters (crop, flip), like the
    official training code; ``share_random_params=True`` applies the same
    ones to every frame of the clip.

    Required Keys:

    - frames (list[np.ndarray])

    Modified Keys:

    - frames

    Args:
        transforms: image transforms (mmpretrain/mmcv configs).
        share_random_params: same random parameters for all frames.
    """

    def __init__(self,
                 transforms: List[dict],
                 share_random_params: bool = False,
                 mapping: Optional[Dict] = None) -> None:
        super().__init__(
            transforms=transforms,
            mapping=mapping or {'img': 'frames'},
            auto_remap=True,
            share_random_params=share_random_params)

    def transform(self, results: Dict) -> Dict:
        if not results.get('frames'):
            return results
        return super().transform(results)
