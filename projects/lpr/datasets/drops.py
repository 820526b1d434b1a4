"""What a loader may drop from one annotation file, and when that is an
error.

Loaders count, per file, how many rows, boxes or frames they read and how
many they had to drop (malformed rows, degenerate boxes, frames that cannot
be opened). :func:`check_drops` then applies one rule everywhere: more than
``max_drop_ratio`` of a file dropped is an error (unless ``strict=False``),
naming the file, the count, three example lines and the option that
accepts the loss; fewer is logged once per file.
"""
import logging
import math
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from mmengine.logging import print_log

from .errors import AnnotationError

#: Default share of a file's rows, boxes or frames that may be dropped.
MAX_DROP_RATIO = 0.01
NUM_EXAMPLES = 3


class TooManyDropped(AnnotationError):
    """More than ``max_drop_ratio`` of a file's rows, boxes or frames were
    dropped. ``line`` is the line of the first example (``None`` when the
    examples are not lines, e.g. JSON entries)."""

    def __init__(self, drops: 'FileDrops', message: str):
        self.drops = drops
        super().__init__(drops.path, drops.first_line, message)


@dataclass
class FileDrops:
    """Counts of one kind of item (``'rows'``, ``'boxes'``, ``'frames'``)
    read from one file, and of those dropped, with a few examples.

    Examples are ``(line, reason)``; ``line`` is ``None`` when the item has
    no line (a JSON entry: name it in the reason).
    """
    path: str
    kind: str
    total: int = 0
    dropped: int = 0
    examples: List[Tuple[Optional[int], str]] = field(default_factory=list)

    def drop(self, line: Optional[int], reason: str) -> None:
        self.dropped += 1
        if len(self.examples) < NUM_EXAMPLES:
            self.examples.append((line, reason))

    def merge(self, other: 'FileDrops') -> None:
        self.total += other.total
        self.dropped += other.dropped
        room = NUM_EXAMPLES - len(self.examples)
        self.examples.extend(other.examples[:max(room, 0)])

    @property
    def ratio(self) -> float:
        return self.dropped / max(self.total, 1)

    @property
    def first_line(self) -> Optional[int]:
        return self.examples[0][0] if self.examples else None

    def example_text(self) -> str:
        return '; '.join((f'line {line}: {reason}' if line is not None else
                          reason) for line, reason in self.examples)

    def to_dict(self) -> dict:
        return dict(
            path=self.path,
            kind=self.kind,
            total=self.total,
            dropped=self.dropped,
            examples=[list(e) for e in self.examples])

    @classmethod
    def from_dict(cls, d: dict) -> 'FileDrops':
        return cls(d['path'], d['kind'], d['total'], d['dropped'],
                   [tuple(e) for e in d['examples']])


def check_drops(drops: FileDrops,
                max_drop_ratio: float = MAX_DROP_RATIO,
                strict: bool = True,
                option: str = 'max_drop_ratio={} (or strict=False)') -> None:
    """Raise if too much of a file was dropped, else log the count once.

    Args:
        drops: the file's counts.
        max_drop_ratio: the share that may be dropped (0 = none).
        strict: ``False`` never raises (the drops are still logged).
        option: the option that accepts the loss, as the caller spells it
            (``{}`` is replaced by the ratio that would accept it), e.g.
            ``'--max-drop-ratio {}'`` on a command line.

    Raises:
        TooManyDropped: ``file[:line]: N of M <kind> dropped (...)`` with
            three examples and the option that accepts the loss.
    """
    if not drops.dropped:
        return
    pct = 100.0 * drops.ratio
    summary = (f'{drops.dropped:,} of {drops.total:,} {drops.kind} dropped '
               f'({pct:.2f} %)')
    if strict and drops.ratio > max_drop_ratio:
        # The smallest 4-decimal ratio that accepts this file.
        needed = min(1.0, math.ceil(drops.ratio * 1e4 - 1e-6) / 1e4)
        raise TooManyDropped(
            drops, f'{summary}, more than max_drop_ratio={max_drop_ratio} '
            f'allows; e.g. {drops.example_text()}. Fix the file, or accept '
            f'the loss with {option.format(needed)}.')
    print_log(
        f'{drops.path}: {summary}; e.g. {drops.example_text()}',
        logger='current',
        level=logging.WARNING)
