"""Progress output: whole lines at ~10 % steps in logs, a redrawn bar on a
terminal, only from the main process; the long jobs report counts."""
import io
import os
import os.path as osp

import pytest


class _TTY(io.StringIO):

    def isatty(self):
        return True


def _lines(text):
    return [line for line in text.split('\n') if line]


def test_log_output_is_one_line_per_ten_percent():
    from lpr.utils import ProgressBar
    out = io.StringIO()
    bar = ProgressBar(200, desc='job', unit='items', file=out, min_interval=0)
    for _ in range(200):
        bar.update()
    bar.finish()  # already finished: no second final line
    lines = _lines(out.getvalue())
    assert '\r' not in out.getvalue()
    assert len(lines) == 10
    assert lines[0].startswith('job: 20/200 items (10%), ')
    assert 'ETA' in lines[0]
    assert lines[-1].startswith('job: 200/200 items (100%), ')
    assert 'ETA' not in lines[-1]


def test_a_short_job_writes_only_its_total():
    from lpr.utils import ProgressBar
    out = io.StringIO()
    bar = ProgressBar(3 << 20, desc='read', unit='MB', scale=1e-6, file=out)
    for _ in range(3):
        bar.update(1 << 20)
    lines = _lines(out.getvalue())
    assert len(lines) == 1 and lines[0].startswith('read: 3.1/3.1 MB (100%)')


def test_terminal_output_redraws_one_line():
    from lpr.utils import ProgressBar
    out = _TTY()
    with ProgressBar(5, desc='tty', file=out, min_interval=0) as bar:
        for _ in range(5):
            bar.update()
    text = out.getvalue()
    assert text.count('\r') == 6  # the empty bar + 5 redraws
    assert text.endswith('\n') and text.count('\n') == 1
    assert '5/5 (100%)' in text


def test_only_the_main_process_writes(monkeypatch):
    from lpr.utils import ProgressBar
    monkeypatch.setenv('RANK', '1')
    out = io.StringIO()
    bar = ProgressBar(2, file=out, min_interval=0)
    bar.update(2)
    out2 = io.StringIO()
    ProgressBar(1, file=out2, enabled=True).update()
    assert out.getvalue() == '' and out2.getvalue() != ''


def test_track_iter_progress_of_unknown_length():
    from lpr.utils import track_iter_progress
    out = io.StringIO()
    items = list(track_iter_progress((i for i in range(7)), desc='gen',
                                     unit='things', file=out))
    assert items == list(range(7))
    assert _lines(out.getvalue())[-1].startswith('gen: 7 things, ')


def test_bad_arguments_are_errors():
    from lpr.utils import ProgressBar
    with pytest.raises(ValueError, match='task_num'):
        ProgressBar(-1, file=io.StringIO())
    with pytest.raises(ValueError, match='step'):
        ProgressBar(1, step=0, file=io.StringIO())
    with pytest.raises(ValueError, match='num_tasks'):
        ProgressBar(1, file=io.StringIO()).update(-1)


def test_index_build_and_toy_generation_report_counts(toy_root, tmp_path,
                                                      capsys):
    """Non-terminal stdout (captured): the clip index build prints its
    bytes, the toy generator its livestreams and shard files (nothing with
    ``progress=False``, i.e. ``make_toy_lpr4m.py --quiet``), the shard scan
    its items."""
    from lpr.datasets.clip_index import ClipIndex
    index = ClipIndex.from_files(
        osp.join(toy_root, 'annotations', 'training_videoinfo_full_part_*'))
    lines = _lines(capsys.readouterr().out)
    assert len(lines) == 1 and lines[0].startswith('indexing ')
    assert ' MB (100%)' in lines[0] and len(index) > 0
    from lpr.toy import generate, make_config
    out = str(tmp_path / 'toy')
    generate(out, make_config(
        'tests', train_lives=2, test_lives=1, products_per_live=2,
        train_clips_per_product=1, test_clips_per_product=1, resolution=48,
        image_size=32, shards=True, workers=1))
    text = capsys.readouterr().out
    assert 'rendering toy livestreams: 3/3 lives (100%)' in text
    assert 'writing img2dataset shards: ' in text and '\r' not in text
    generate(str(tmp_path / 'quiet'), make_config(
        'tests', train_lives=1, test_lives=1, products_per_live=2,
        resolution=48, image_size=32, workers=1), progress=False)
    assert capsys.readouterr().out == ''
    from lpr.datasets.frame_store import build_shard_index
    shards = osp.join(out, 'shards')
    name = sorted(n for n in os.listdir(shards)
                  if n.startswith('test_image_url'))[0]
    capsys.readouterr()
    index = build_shard_index(osp.join(shards, name))
    line = capsys.readouterr().out.strip()
    n = len(index['hash'])
    assert line.startswith(f'scanning 1 shard(s) of {osp.join(shards, name)}'
                           f': {n}/{n} items (100%)')
