"""Streams of frames read every few seconds of video time, and a sliding
window recognised with per-frame outputs encoded once."""
import os
import os.path as osp
import shutil
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

from lpr.apis import (FrameStream, StreamRecognizer, load_test_live,
                      load_test_query)
from lpr.datasets.transforms import uniform_indices
from apis_fixtures import (inferencer, rerank_inferencer,  # noqa: F401
                           rice_ckpt, toy_live)


def write_frames(folder, n, size=(24, 40)):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        img = rng.integers(0, 255, size + (3, ), dtype=np.uint8)
        cv2.imwrite(osp.join(folder, f'{i:04d}.png'), img)
    return str(folder)


def write_video(path, frames_bgr, fps):
    h, w = frames_bgr[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'),
                             fps, (w, h))
    for f in frames_bgr:
        writer.write(f)
    writer.release()
    return str(path)


def test_frame_stream_reads_one_frame_every_few_seconds(tmp_path):
    folder = write_frames(tmp_path / 'f', 10)
    # A folder at 1 fps, one frame every 3 s: t = 0, 3, 6, 9.
    stream = FrameStream(folder, every=3)
    frames = list(stream)
    assert [f.time for f in frames] == [0, 3, 6, 9]
    assert [f.frame_id for f in frames] == ['0000', '0003', '0006', '0009']
    assert frames[1].image.shape == (24, 40, 3)
    assert stream.duration == 10 and len(stream) == 4
    # Frames 3 s apart read every 3 s: each once; every 1 s: no repeat.
    assert FrameStream(folder, every=3, fps=1 / 3).indices() == list(
        range(10))
    assert FrameStream(folder, every=1, fps=1 / 3).indices() == list(
        range(10))
    assert FrameStream(folder, every=2.5, fps=2).indices() == [0, 5]
    assert FrameStream(folder, every=0.5, fps=2, max_steps=3).indices() == \
        [0, 1, 2]
    # A list of files; a video at its own rate.
    files = sorted(osp.join(folder, n) for n in os.listdir(folder))
    assert FrameStream(files[:4], every=2).indices() == [0, 2]
    video = write_video(tmp_path / 'v.mp4',
                        [cv2.imread(f) for f in files], fps=5)
    vstream = FrameStream(video, every=1)
    assert vstream.fps == 5 and vstream.num_frames == 10
    got = list(vstream)
    assert [f.index for f in got] == [0, 5]
    assert [f.time for f in got] == [0.0, 1.0]
    assert got[1].frame_id == 'v_000005' and got[1].image.shape == (24, 40,
                                                                     3)


def test_frame_stream_errors(tmp_path):
    empty = tmp_path / 'empty'
    empty.mkdir()
    bad = tmp_path / 'bad.mp4'
    bad.write_bytes(b'not a video')
    for source, kwargs, match in [
        (str(tmp_path / 'nope'), {}, 'does not exist'),
        (str(empty), {}, 'no image file'),
        (str(bad), {}, 'not a readable video'),
        ([], {}, 'no frame'),
        (str(empty), dict(every=0), 'every must be positive'),
        (str(empty), dict(max_steps=0), 'max_steps'),
    ]:
        with pytest.raises(ValueError, match=match):
            FrameStream(source, **kwargs)
    with pytest.raises(ValueError, match='fps must be positive'):
        FrameStream(write_frames(tmp_path / 'f', 2), fps=0)


def _toy_frames(toy_live, n):
    names = sorted(os.listdir(toy_live['clip_dir']))
    frames = [
        cv2.imread(osp.join(toy_live['clip_dir'], f))[..., ::-1].copy()
        for f in names
    ]
    return (frames * n)[:n]


def test_cached_window_ranks_as_the_re_encoded_window(inferencer, toy_live):
    gallery = inferencer.build_gallery(toy_live['images'])
    # Longer than the window, itself longer than the T=8 frames sampled.
    frames = _toy_frames(toy_live, 11)
    cached = StreamRecognizer(inferencer, gallery, window=9, topk=3)
    fresh = StreamRecognizer(inferencer, gallery, window=9, topk=3,
                             cache_frames=False)
    assert cached.caching and not fresh.caching
    for i, frame in enumerate(frames):
        a = cached.step(frame, f'f{i}')
        b = fresh.step(frame, f'f{i}')
        assert a['image_ids'] == b['image_ids']
        # Frames encoded one at a time or eight at a time differ by float
        # rounding.
        assert a['scores'] == pytest.approx(b['scores'], abs=1e-5)
        assert a['frame_ids'] == b['frame_ids']
        assert a['window'] == min(i + 1, 9) and a['latency'] > 0
    # The window's last 9 frames, sampled by the config's rule (8 of 9).
    window_ids = [f'f{j}' for j in range(2, 11)]
    assert a['frame_ids'] == [
        window_ids[j] for j in uniform_indices(9, 8, 'floor')
    ]
    cached.reset()
    assert len(cached) == 0
    assert cached.step(frames[0])['frame_ids'] == ['frame_0']


def test_cached_window_with_pmd_re_ranking(rerank_inferencer, toy_live):
    inf = rerank_inferencer
    gallery = inf.build_gallery(toy_live['images'])
    assert gallery.tokens is not None
    frames = _toy_frames(toy_live, 11)
    cached = StreamRecognizer(inf, gallery, window=9, topk=4)
    for i, frame in enumerate(frames):
        result = cached.step(frame)
    expected = inf.rank(inf.encode_clip(frames[-9:]), gallery, 4)
    assert result['image_ids'] == expected['image_ids']
    # Float rounding of the per-frame encodings, z-scored by re-ranking.
    assert result['scores'] == pytest.approx(expected['scores'], abs=1e-3)


def test_window_is_re_encoded_when_frames_cannot_be_pooled(
        inferencer, toy_live, monkeypatch):
    gallery = inferencer.build_gallery(toy_live['images'][:3])
    frame = cv2.imread(toy_live['images'][0])[..., ::-1].copy()
    assert inferencer.caches_frames
    # A text model (ASR enters the clip tokens) or a multi-frame detector
    # (a frame's box depends on the window).
    for owner, attr, value in [
        (inferencer.model, 'text_encoder', torch.nn.Identity()),
        (inferencer, 'detector', SimpleNamespace(video=True)),
    ]:
        with monkeypatch.context() as m:
            m.setattr(owner, attr, value)
            assert not inferencer.caches_frames
            assert not StreamRecognizer(inferencer, gallery).caching
            with pytest.raises(TypeError, match='encode_clip'):
                inferencer.encode_frames([frame])
    assert inferencer.caches_frames
    with pytest.raises(ValueError, match='window must be'):
        StreamRecognizer(inferencer, gallery, window=0)
    with pytest.raises(ValueError, match='topk'):
        StreamRecognizer(inferencer, gallery, topk=0)
    rec = StreamRecognizer(inferencer, gallery)
    with pytest.raises(ValueError, match='dtype'):
        rec.step(frame.astype(np.float32))
    with pytest.raises(ValueError, match='no frame to pool'):
        inferencer.pool_frames([])


def test_test_queries_and_lives_of_a_data_root(toy_root, toy_live, tmp_path):
    query = load_test_query(toy_root)
    assert query.clip_id == toy_live['clip_id']
    assert query.clip_dir == toy_live['clip_dir']
    assert query.gallery == toy_live['images'] and query.gt_image_ids
    live = load_test_live(toy_root, query.live_id)
    assert query.clip_id in live.clip_ids
    assert live.spacing == 3.0  # test frames every 3 s
    assert len(live.frames) == len(live.frame_clips)
    starts = [int(c.split('-')[-2]) for c in live.clip_ids]
    assert starts == sorted(starts)
    assert set(live.gt_image_ids) == set(live.clip_ids)
    for what, call, match in [
        ('root', lambda: load_test_query(str(tmp_path / 'x')),
         'does not exist'),
        ('annotations', lambda: load_test_query(str(tmp_path)),
         'not an LPR4M data root'),
        ('clip', lambda: load_test_query(toy_root, 'nope'),
         'not a test query'),
        ('live', lambda: load_test_live(toy_root, 'nope'),
         'not a livestream'),
    ]:
        with pytest.raises(ValueError, match=match):
            call()
    # Missing frames or gallery images are named.
    root = tmp_path / 'copy'
    shutil.copytree(toy_root, root, ignore=shutil.ignore_patterns('shards'))
    shutil.rmtree(root / 'test_frames' / query.clip_id)
    with pytest.raises(ValueError, match='no frame folder'):
        load_test_query(str(root))
    shutil.copytree(query.clip_dir, root / 'test_frames' / query.clip_id)
    os.remove(query.gallery[0].replace(toy_root, str(root)))
    with pytest.raises(ValueError, match='gallery images of livestream'):
        load_test_live(str(root), query.live_id)
