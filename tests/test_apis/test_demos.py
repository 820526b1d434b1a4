"""demo/retrieve_demo.py and demo/stream_demo.py on the toy ``tests``
preset with an untrained tiny checkpoint: once each as a subprocess, the
other modes and the error paths in-process."""
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys

import cv2
import pytest

from conftest import ROOT, load_script, run_env
from lpr.apis import GalleryIndex, load_test_live
from apis_fixtures import (TOY_CFG, inferencer,  # noqa: F401
                           rice_ckpt, toy_live)

RETRIEVE = osp.join(ROOT, 'demo/retrieve_demo.py')
STREAM = osp.join(ROOT, 'demo/stream_demo.py')
STEP_RE = re.compile(r'^t=\s*([0-9.]+)s  top1 (\S+)  score (-?[0-9.]+)  '
                     r'latency\s+([0-9.]+) ms  window (\d+)')
RTF_RE = re.compile(r'^real-time factor ([0-9.]+): ([0-9.]+) s of '
                    r'processing for ([0-9.]+) s of video \((\d+) steps')


def run_demo(script, *args):
    proc = subprocess.run([sys.executable, script, *args], env=run_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return proc.stdout, proc.stderr


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line]


@pytest.fixture
def shop(toy_live, tmp_path):
    """A folder with the query's livestream's shop images."""
    folder = tmp_path / 'shop'
    folder.mkdir()
    for p in toy_live['images']:
        shutil.copy(p, folder)
    return str(folder)


def test_retrieve_demo_prints_json_lines_and_draws(inferencer, rice_ckpt,
                                                   toy_live, shop, tmp_path):
    expected = inferencer(toy_live['clip_dir'], gallery=shop,
                          topk=3)['predictions'][0]
    gt = expected['image_ids'][1]
    out_dir, index = tmp_path / 'out', tmp_path / 'shop.pth'
    stdout, stderr = run_demo(RETRIEVE, toy_live['clip_dir'], shop, TOY_CFG,
                              rice_ckpt, '--topk', '3', '--gt', gt,
                              '--out-dir', str(out_dir), '--device', 'cpu',
                              '--save-index', str(index))
    lines = json_lines(stdout)  # stdout holds the JSON lines only
    assert [ln['rank'] for ln in lines] == [1, 2, 3]
    assert [ln['image_id'] for ln in lines] == expected['image_ids']
    assert [ln['score'] for ln in lines] == pytest.approx(
        expected['scores'], abs=1e-5)
    assert {ln['clip_id'] for ln in lines} == {toy_live['clip_id']}
    assert [ln['gt'] for ln in lines] == [False, True, False]
    picture = out_dir / f'{toy_live["clip_id"]}.png'
    assert picture.is_file() and f'picture: {picture}' in stderr
    assert cv2.imread(str(picture)).shape[1] > 3 * 128
    assert GalleryIndex.load(str(index)).image_ids == sorted(
        osp.splitext(n)[0] for n in os.listdir(shop))


def test_stream_demo_on_an_mp4(inferencer, rice_ckpt, toy_live, tmp_path):
    index = str(tmp_path / 'shop.pth')
    inferencer.build_gallery(toy_live['images'], out_file=index)
    names = sorted(os.listdir(toy_live['clip_dir']))
    frames = [cv2.imread(osp.join(toy_live['clip_dir'], n)) for n in names]
    frames = (frames * 12)[:12]
    video = str(tmp_path / 'live.mp4')
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*'mp4v'), 1.0,
                             (w, h))
    for f in frames:
        writer.write(f)
    writer.release()
    stdout, _ = run_demo(STREAM, video, index, TOY_CFG, rice_ckpt,
                         '--every', '2', '--window', '4', '--topk', '2',
                         '--device', 'cpu', '--threads', '1')
    lines = stdout.splitlines()
    steps = [STEP_RE.match(ln) for ln in lines if ln.startswith('t=')]
    # 12 s at 1 fps, one frame every 2 s: t = 0, 2, ..., 10.
    assert [float(m.group(1)) for m in steps] == [0, 2, 4, 6, 8, 10]
    assert [int(m.group(5)) for m in steps] == [1, 2, 3, 4, 4, 4]
    ids = set(GalleryIndex.load(index).image_ids)
    assert all(m.group(2) in ids and -1 <= float(m.group(3)) <= 1
               for m in steps)
    assert all(' top2: ' in ln for ln in lines if ln.startswith('t='))
    rtf = [RTF_RE.match(ln) for ln in lines if ln.startswith('real-time')]
    assert len(rtf) == 1 and rtf[0]
    factor, processing, covered, n = rtf[0].groups()
    assert float(covered) == 12 and int(n) == 6
    assert float(factor) == pytest.approx(
        float(processing) / 12, abs=1e-3)
    assert 'per-frame outputs reused' in lines[-1]


def test_demos_on_a_data_root(rice_ckpt, toy_root, toy_live, tmp_path,
                              capsys):
    retrieve = load_script(RETRIEVE)
    assert retrieve.main([TOY_CFG, rice_ckpt, '--data-root', toy_root,
                          '--out-dir', str(tmp_path), '--device',
                          'cpu']) == 0
    out = capsys.readouterr()
    lines = json_lines(out.out)
    assert len(lines) == 5 and all('gt' in ln for ln in lines)
    assert lines[0]['clip_id'] == toy_live['clip_id']
    assert (tmp_path / f'{toy_live["clip_id"]}.png').is_file()

    stream = load_script(STREAM)
    assert stream.main([TOY_CFG, rice_ckpt, '--data-root', toy_root,
                        '--window', '3', '--max-steps', '5', '--no-cache',
                        '--device', 'cpu']) == 0
    lines = capsys.readouterr().out.splitlines()
    live = load_test_live(toy_root)
    assert lines[0].startswith(f'stream: {len(live.clip_ids)} test clips '
                               f'of livestream {live.live_id}')
    steps = [ln for ln in lines if ln.startswith('t=')]
    assert [float(STEP_RE.match(ln).group(1)) for ln in steps] == [
        0, 3, 6, 9, 12
    ]  # the test frames, 3 s apart
    assert all(ln.endswith(('  GT', '  --')) for ln in steps)
    assert 'the window re-encoded at every step' in lines[-2]
    assert re.match(r'top-1 correct at \d of 5 steps', lines[-1])

    # A folder of frames at --fps.
    assert stream.main([toy_live['clip_dir'], toy_root + '/test_images',
                        TOY_CFG, rice_ckpt, '--fps', '0.5', '--every',
                        '2', '--device', 'cpu']) == 0
    lines = capsys.readouterr().out.splitlines()
    n = len(os.listdir(toy_live['clip_dir']))
    assert sum(ln.startswith('t=') for ln in lines) == n
    assert RTF_RE.match(lines[-1]).group(3) == str(2 * n)


def test_demo_errors(rice_ckpt, toy_live, shop, tmp_path, capsys):
    retrieve, stream = load_script(RETRIEVE), load_script(STREAM)
    empty = tmp_path / 'empty'
    empty.mkdir()
    missing = str(tmp_path / 'missing')
    clip = toy_live['clip_dir']
    for demo, argv, message in [
        (retrieve, [missing, shop], f'clip {missing} does not exist'),
        (retrieve, [clip, str(empty)], 'holds no image file'),
        (retrieve, [clip, missing], f'gallery {missing} does not exist'),
        (retrieve, [str(empty), shop], 'holds no image file'),
        (stream, [missing, shop], f'stream {missing} does not exist'),
        (stream, [clip, str(empty)], 'holds no image file'),
    ]:
        assert demo.main(argv + [TOY_CFG, rice_ckpt]) == 1
        err = capsys.readouterr().err
        assert err.startswith('error: ') and message in err, err
    assert retrieve.main([TOY_CFG, rice_ckpt, '--data-root', missing]) == 1
    assert 'does not exist' in capsys.readouterr().err
    assert stream.main([TOY_CFG, rice_ckpt, '--data-root', str(empty)]) == 1
    assert 'not an LPR4M data root' in capsys.readouterr().err
    for demo, argv, message in [
        (retrieve, [clip, TOY_CFG, rice_ckpt], 'CLIP GALLERY CONFIG'),
        (retrieve, [clip, shop, TOY_CFG, rice_ckpt, '--clip-id', 'x'],
         '--clip-id needs --data-root'),
        (retrieve, [TOY_CFG, rice_ckpt, '--data-root', missing, '--topk',
                    '0'], '--topk'),
        (retrieve, [clip, shop, TOY_CFG, rice_ckpt, '--det-config', 'c'],
         'go together'),
        (stream, [clip, shop, TOY_CFG, rice_ckpt, '--every', '0'],
         '--every must be positive'),
        (stream, [clip, shop, TOY_CFG, rice_ckpt, '--window', '0'],
         '--window must be >= 1'),
        (stream, [clip, shop, TOY_CFG, rice_ckpt, '--threads', '0'],
         '--threads must be >= 1'),
        (stream, [clip, shop, TOY_CFG, rice_ckpt, '--live-id', 'x'],
         '--live-id needs --data-root'),
    ]:
        with pytest.raises(SystemExit) as e:
            demo.main(argv)
        assert e.value.code == 2
        assert message in capsys.readouterr().err
