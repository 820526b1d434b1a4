"""Progress bars for long jobs that also read well in log files.

:class:`ProgressBar` is mmengine's :class:`~mmengine.utils.ProgressBar` with
two changes for jobs that run under schedulers and in CI:

* when its stream is not a terminal (``python tool.py > job.log``), it writes
  whole lines, one per step of about 10 % and at most one per
  ``min_interval`` seconds, plus the final one, instead of carriage-return
  redraws that pile up into a single huge line;
* only the main process writes: rank 0 of a distributed job, never a
  dataloader worker.

A job that ends within ``min_interval`` seconds writes a single line, its
total; a job of unknown size writes a line every ``10 * min_interval``
seconds in a log. Counts can be scaled for display (e.g. bytes shown as MB).
"""
import os
import sys
from typing import IO, Iterable, Iterator, Optional, TypeVar

from mmengine.utils import ProgressBar as _MMProgressBar

T = TypeVar('T')


def is_main_process() -> bool:
    """Whether this process reports progress: rank 0 (of an initialised
    process group, else of ``RANK``) and not a dataloader worker."""
    dist = sys.modules.get('torch.distributed')
    if dist is not None and dist.is_available() and dist.is_initialized():
        if dist.get_rank() != 0:
            return False
    elif os.environ.get('RANK', '0') != '0':
        return False
    data = sys.modules.get('torch.utils.data')
    if data is not None and data.get_worker_info() is not None:
        return False
    return True


def _is_tty(file: IO) -> bool:
    isatty = getattr(file, 'isatty', None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class ProgressBar(_MMProgressBar):
    """mmengine's progress bar with a label, units, line-per-step output in
    logs and output from the main process only.

    Args:
        task_num: total amount of work (e.g. items or bytes); 0 when
            unknown.
        desc: label printed before the counts.
        unit: unit of the counts (``'files'``, ``'MB'``, ...).
        scale: factor from counts to displayed numbers (``1e-6`` shows
            bytes as MB).
        bar_width: width of the bar on a terminal.
        file: output stream (stdout by default).
        interactive: redraw one line (``True``) or write whole lines
            (``False``); by default, whether ``file`` is a terminal.
        step: fraction of ``task_num`` between two lines in a log.
        min_interval: minimum seconds between two outputs (terminal: 0.1 s
            by default).
        enabled: write anything at all; by default only the main process
            (:func:`is_main_process`) does.
    """

    def __init__(self,
                 task_num: int = 0,
                 desc: str = '',
                 unit: str = '',
                 scale: float = 1.0,
                 bar_width: int = 50,
                 file: Optional[IO] = None,
                 interactive: Optional[bool] = None,
                 step: float = 0.1,
                 min_interval: Optional[float] = None,
                 enabled: Optional[bool] = None) -> None:
        if task_num < 0:
            raise ValueError(f'task_num must be >= 0, got {task_num}')
        if not 0 < step <= 1:
            raise ValueError(f'step must be in (0, 1], got {step}')
        file = sys.stdout if file is None else file
        self.desc = desc
        self.unit = unit
        self.scale = scale
        self.interactive = _is_tty(file) if interactive is None \
            else interactive
        self.step = step
        self.min_interval = min_interval if min_interval is not None else (
            0.1 if self.interactive else 1.0)
        self.enabled = is_main_process() if enabled is None else enabled
        self.finished = False
        super().__init__(task_num, bar_width, start=True, file=file)

    # --------------------------------------------------------------- text
    def _num(self, count: float) -> str:
        value = count * self.scale
        return f'{value:.1f}' if self.scale != 1 else str(int(value))

    def _counts(self) -> str:
        unit = f' {self.unit}' if self.unit else ''
        if self.task_num > 0:
            pct = 100.0 * self.completed / self.task_num
            return (f'{self._num(self.completed)}/{self._num(self.task_num)}'
                    f'{unit} ({pct:.0f}%)')
        return f'{self._num(self.completed)}{unit}'

    def _line(self, elapsed: float) -> str:
        rate = self.completed * self.scale / elapsed if elapsed > 0 else 0.0
        unit = self.unit or 'tasks'
        text = (f'{self.desc + ": " if self.desc else ""}{self._counts()}, '
                f'{rate:.1f} {unit}/s, elapsed: {elapsed:.0f}s')
        if 0 < self.completed < self.task_num:
            eta = elapsed * (self.task_num - self.completed) / self.completed
            text += f', ETA: {eta:.0f}s'
        return text

    def _write(self, text: str) -> None:
        self.file.write(text)
        self.file.flush()

    # ------------------------------------------------------------ updates
    def start(self) -> None:
        """Start the clock; on a terminal, draw the empty bar."""
        from mmengine.utils import Timer
        self.timer = Timer()
        self._last_time = 0.0
        self._last_mark = 0
        if self.enabled and self.interactive:
            self._redraw(0.0)

    def _redraw(self, elapsed: float) -> None:
        text = self._line(elapsed)
        if self.task_num > 0:
            width = max(
                2, min(self.bar_width, self.terminal_width - len(text) - 4))
            done = int(width * min(1.0, self.completed / self.task_num))
            text = f'[{">" * done}{" " * (width - done)}] {text}'
        self._write(f'\r{text}')

    def update(self, num_tasks: int = 1) -> None:
        """Add ``num_tasks`` to the count and report if it is time to.

        Args:
            num_tasks: work done since the last update (>= 0).
        """
        if num_tasks < 0:
            raise ValueError(f'num_tasks must be >= 0, got {num_tasks}')
        self.completed += num_tasks
        if not self.enabled or self.finished:
            return
        if self.task_num > 0 and self.completed >= self.task_num:
            self.finish()
            return
        elapsed = self.timer.since_start()
        interval = self.min_interval
        if not self.interactive and self.task_num == 0:
            interval *= 10  # no percent steps: a line every 10 intervals
        if elapsed - self._last_time < interval:
            return
        if self.interactive:
            self._redraw(elapsed)
            self._last_time = elapsed
            return
        mark = int(self.completed / (self.task_num * self.step)) \
            if self.task_num > 0 else self._last_mark + 1
        if mark > self._last_mark:
            self._write(self._line(elapsed) + '\n')
            self._last_time, self._last_mark = elapsed, mark

    def finish(self) -> None:
        """Report the final count once (called by :meth:`update` when the
        total is reached; call it for jobs of unknown size)."""
        if self.finished:
            return
        self.finished = True
        if not self.enabled:
            return
        elapsed = self.timer.since_start()
        if self.interactive:
            self._redraw(elapsed)
            self._write('\n')
        else:
            self._write(self._line(elapsed) + '\n')

    def __enter__(self) -> 'ProgressBar':
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.finish()
        elif self.enabled and self.interactive and not self.finished:
            self._write('\n')  # keep the error off the bar's line


def track_iter_progress(iterable: Iterable[T],
                        task_num: Optional[int] = None,
                        desc: str = '',
                        unit: str = '',
                        **kwargs) -> Iterator[T]:
    """Yield the items of ``iterable``, one progress step per item (as
    mmengine's ``track_iter_progress``, with :class:`ProgressBar`'s
    output).

    Args:
        iterable: the items.
        task_num: their number; ``len(iterable)`` when omitted and
            available, else unknown.
        desc: label of the bar.
        unit: unit of the items.
        **kwargs: other :class:`ProgressBar` arguments.
    """
    if task_num is None:
        task_num = len(iterable) if hasattr(iterable, '__len__') else 0
    bar = ProgressBar(task_num, desc=desc, unit=unit, **kwargs)
    for item in iterable:
        yield item
        bar.update()
    bar.finish()
