"""LPR4M id conventions.

* ``live_id``: a UUID, five dash-separated hex fields (8-4-4-4-12).
* ``clip_id`` (= ``video_id``): ``live_id-start_ms-end_ms``.
* ``frame_id``: ``clip_id-NNNN`` with a 4-digit frame index (seconds into the
  clip at 1 fps).
* ``image_id``: a UUID.
"""
import re
from typing import NamedTuple

_HEX = '[0-9a-fA-F]'
UUID_RE = re.compile(f'^{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-'
                     f'{_HEX}{{12}}$')
CLIP_RE = re.compile(f'^({UUID_RE.pattern[1:-1]})-([0-9]+)-([0-9]+)$')
FRAME_RE = re.compile(f'^({CLIP_RE.pattern[1:-1]})-([0-9]{{4}})$')


class ClipId(NamedTuple):
    live_id: str
    start_ms: int
    end_ms: int


def is_uuid(value: str) -> bool:
    return bool(UUID_RE.match(value))


def parse_clip_id(clip_id: str) -> ClipId:
    """Split a clip id into its live id and time span.

    Raises:
        ValueError: if ``clip_id`` does not follow ``live_id-start-end``.
    """
    m = CLIP_RE.match(clip_id)
    if not m:
        raise ValueError(f'{clip_id!r} is not an LPR4M clip id '
                         '(expected <live uuid>-<start ms>-<end ms>)')
    return ClipId(m.group(1), int(m.group(2)), int(m.group(3)))


def live_id_of(clip_id: str) -> str:
    """The live id of a clip id (its first five dash fields)."""
    return parse_clip_id(clip_id).live_id


def parse_frame_id(frame_id: str):
    """Split a frame id into ``(clip_id, frame_index)``.

    Raises:
        ValueError: if ``frame_id`` does not follow ``clip_id-NNNN``.
    """
    m = FRAME_RE.match(frame_id)
    if not m:
        raise ValueError(f'{frame_id!r} is not an LPR4M frame id '
                         '(expected <clip id>-<4-digit index>)')
    return m.group(1), int(m.group(5))


def check_image_id(image_id: str) -> str:
    if not is_uuid(image_id):
        raise ValueError(f'{image_id!r} is not an LPR4M image id (a UUID)')
    return image_id
