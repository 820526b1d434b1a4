"""Frame sampling for the multi-frame detector (mmdet video datasets)."""
from typing import Dict, List, Optional

from mmdet.datasets.transforms.frame_sampling import BaseFrameSample
from mmdet.registry import TRANSFORMS

from .clip_sampling import uniform_indices


@TRANSFORMS.register_module()
class ClipFrameSample(BaseFrameSample):
    """Take at most ``num_frames`` evenly spaced frames of a video (clip),
    deterministically, for clip-level training of the multi-frame detector
    (mmdet's samplers pick a key frame plus random reference frames).

    Required Keys:

    - images (list[dict]), video_length, video_id

    Added Keys:

    - the keys of each frame's info as lists over the sampled frames
    - key_frame_flags (list[bool]): all True (every frame is supervised)

    Args:
        num_frames: the most frames per clip. Defaults to 10.
        rule: uniform rule (``'chunk'``, ``'floor'``, ``'linspace'``).
        collect_video_keys: video-level keys copied to every frame.
    """

    def __init__(self,
                 num_frames: int = 10,
                 rule: str = 'chunk',
                 collect_video_keys: Optional[List[str]] = None) -> None:
        super().__init__(collect_video_keys or ['video_id', 'video_length'])
        self.num_frames = num_frames
        self.rule = rule

    def transform(self, video_infos: dict) -> Dict[str, List]:
        inds = uniform_indices(video_infos['video_length'], self.num_frames,
                               self.rule).tolist()
        results = self.prepare_data(video_infos, inds)
        results['key_frame_flags'] = [True] * len(inds)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_frames={self.num_frames}, '
                f'rule={self.rule!r})')
