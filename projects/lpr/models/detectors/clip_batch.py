"""The clip structure of a multi-frame detector's batch: which frames belong
to which clip, checked from the data samples, never guessed; and the
fixed-size frame groups of a clip at test."""
from itertools import groupby
from typing import List, NamedTuple, Optional, Sequence, Tuple

from mmdet.structures import DetDataSample, TrackDataSample
from torch import Tensor

_HOW = ('give (B, T, 3, H, W) clips with one TrackDataSample per clip '
        '(PackTrackInputs + TrackDataPreprocessor), or (N, 3, H, W) frames '
        "with 'video_id' (the clip) in every DetDataSample's metainfo")


class ClipBatch(NamedTuple):
    """B clips of T frames each, flattened clip by clip.

    Attributes:
        frames: (B·T, 3, H, W), the T frames of a clip consecutive.
        samples: the B·T frame samples in the same order.
        num_clips: B.
    """
    frames: Tensor
    samples: List[DetDataSample]
    num_clips: int

    @property
    def clip_length(self) -> int:
        """T, the frames per clip."""
        return len(self.samples) // self.num_clips


def _video_ids(frames: Sequence[DetDataSample]) -> List:
    return [f.metainfo.get('video_id') for f in frames]


def split_clips(batch_inputs: Tensor,
                batch_data_samples: Optional[Sequence]) -> ClipBatch:
    """Flatten a batch into clips of equal length, from its explicit
    structure.

    - (B, T, 3, H, W) with B :class:`TrackDataSample`\\ s of T frames each:
      one clip per sample. Frames that carry ``video_id`` must share it.
    - (N, 3, H, W) with N :class:`DetDataSample`\\ s: every sample must
      carry ``video_id`` in its metainfo; the frames of a clip must be
      consecutive and all clips equally long (the temporal stages attend
      over B clips of one length).

    Args:
        batch_inputs: (B, T, 3, H, W) clips or (N, 3, H, W) frames.
        batch_data_samples: their samples (needed: they give the clips and
            the image shapes).

    Returns:
        ClipBatch: (B·T, 3, H, W) frames, their B·T samples, B.

    Raises:
        ValueError: no samples, samples that do not match the input,
            frames without a clip id, clips whose frames are not
            consecutive or clips of unequal length.
    """
    if batch_data_samples is None:
        raise ValueError('the multi-frame detector needs the data samples '
                         f'to know which frames form a clip: {_HOW}')
    samples = list(batch_data_samples)
    if batch_inputs.dim() == 5:
        b, t = batch_inputs.shape[:2]
        if len(samples) != b or not all(
                isinstance(s, TrackDataSample) for s in samples):
            raise ValueError(
                f'(B, T, 3, H, W) input with B={b} takes {b} '
                f'TrackDataSamples, got {len(samples)} '
                f'{sorted({type(s).__name__ for s in samples})}')
        frames = []
        for i, clip in enumerate(samples):
            clip_frames = list(clip.video_data_samples)
            if len(clip_frames) != t:
                raise ValueError(f'clip {i} has {len(clip_frames)} frame '
                                 f'samples for T={t} frames')
            ids = set(_video_ids(clip_frames))
            if len(ids) > 1:
                raise ValueError(f'clip {i} mixes frames of the clips '
                                 f'{sorted(ids, key=str)} (video_id)')
            frames += clip_frames
        return ClipBatch(batch_inputs.flatten(0, 1), frames, b)
    if batch_inputs.dim() != 4:
        raise ValueError(f'input of shape {tuple(batch_inputs.shape)}: '
                         f'{_HOW}')
    n = batch_inputs.shape[0]
    if len(samples) != n or not all(
            isinstance(s, DetDataSample) for s in samples):
        raise ValueError(
            f'(N, 3, H, W) input with N={n} takes {n} DetDataSamples, got '
            f'{len(samples)} {sorted({type(s).__name__ for s in samples})}')
    ids = _video_ids(samples)
    missing = [i for i, v in enumerate(ids) if v is None]
    if missing:
        raise ValueError(
            f'{n} frames given flat without the clip each belongs to: '
            f'frames {missing[:5]}{"..." if len(missing) > 5 else ""} have '
            f"no 'video_id' in their metainfo; {_HOW}")
    lengths, seen = {}, set()
    for vid, run in groupby(ids):
        if vid in seen:
            raise ValueError(f'the frames of clip {vid!r} are not '
                             'consecutive: keep each clip\'s frames together')
        seen.add(vid)
        lengths[vid] = len(list(run))
    if len(set(lengths.values())) > 1:
        raise ValueError(f'clips of unequal length {lengths} (video_id: '
                         'frames): the temporal stages take clips of one '
                         'length; batch equally long clips or one clip at '
                         'a time')
    return ClipBatch(batch_inputs, samples, len(lengths))



def frame_groups(num_frames: int,
                 group_size: Optional[int]) -> List[Tuple[List[int], int]]:
    """Consecutive fixed-size groups of a clip's frames, for testing the
    multi-frame detector group by group (TransVOD Lite's test protocol).

    A clip of at most ``group_size`` frames (or ``group_size=None``) is one
    group, unpadded, so a group that covers the clip is whole-clip
    processing. A longer clip is cut into groups of ``group_size``
    consecutive frames, the last one filled up to ``group_size`` with
    copies of the clip's last frames, as TransVOD Lite pads a video's frame
    list at test (``ids + ids[-offset:]``); every group then has the
    training clip length, and the copies' predictions are dropped. (Its
    released test script also shuffles a video's frames before cutting,
    ``--is_shuffle``; the groups here are consecutive frames.)

    Args:
        num_frames: T, the frames of the clip.
        group_size: frames per group, or ``None`` for the whole clip.

    Returns:
        list[tuple]: per group, its frame indices in ``[0, T)`` and how many
        of them (the leading ones) are new, not padding; the new frames of
        all groups are ``0 .. T-1`` in order, each once.
    """
    if group_size is None or num_frames <= group_size:
        return [(list(range(num_frames)), num_frames)]
    ids = list(range(num_frames))
    offset = -num_frames % group_size
    ids += ids[num_frames - offset:]
    return [(ids[i:i + group_size], min(group_size, num_frames - i))
            for i in range(0, num_frames, group_size)]
