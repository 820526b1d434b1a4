"""MovingFashion: train/test JSONs, mp4 videos decoded through mmaction2
(OpenCV backend) and pre-extracted frame folders, one shared gallery."""
import json
import os

import cv2
import numpy as np
import pytest
from mmpretrain.registry import DATASETS

import lpr  # noqa: F401  (registers the datasets)

PIPE = [
    dict(type='LoadVideoFrames', backend='opencv', num_frames=10, fps=1.0,
         on_empty='keep'),
    dict(
        type='ApplyToFrames',
        transforms=[dict(type='Resize', scale=(16, 16), keep_ratio=False)]),
    dict(type='PackLPRInputs', empty_frame_size=(16, 16)),
]


def write_video(path, seconds, fps=4, size=(24, 16)):
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps, size)
    for i in range(seconds * fps):
        frame = np.full((size[1], size[0], 3), (i * 7) % 255, np.uint8)
        writer.write(frame)
    writer.release()


@pytest.fixture
def mf_root(tmp_path):
    (tmp_path / 'videos').mkdir()
    (tmp_path / 'imgs').mkdir()
    (tmp_path / 'frames').mkdir()
    train, test = {}, {}
    for k in range(3):
        write_video(tmp_path / 'videos' / f'v{k}.mp4', seconds=12 + k)
        write_video(tmp_path / 'videos' / f'w{k}.mp4', seconds=5)
        cv2.imwrite(str(tmp_path / 'imgs' / f'p{k}.jpg'),
                    np.full((20, 20, 3), 50 * k, np.uint8))
        train[f'prod{k}'] = dict(
            img_path=f'imgs/p{k}.jpg',
            source=k % 2,
            video_paths=[f'videos/v{k}.mp4', f'videos/w{k}.mp4'])
        test[f'prod{k}'] = dict(
            img_path=f'imgs/p{k}.jpg',
            source=k % 2,
            video_paths=[f'videos/v{k}.mp4'])
        frames = tmp_path / 'frames' / f'v{k}'
        frames.mkdir()
        for i in range(1, 13 + k):
            cv2.imwrite(str(frames / f'v{k}_{i:04d}.png'),
                        np.full((16, 24, 3), i, np.uint8))
    (tmp_path / 'train.json').write_text(json.dumps(train))
    (tmp_path / 'test.json').write_text(json.dumps(test))
    return str(tmp_path)


def test_videos_decode_to_ten_frames(mf_root):
    ds = DATASETS.build(
        dict(type='MovingFashionDataset', data_root=mf_root, pipeline=PIPE))
    assert len(ds) == 6  # one sample per (product, video)
    out = ds[0]
    assert out['inputs']['frames'].shape == (10, 3, 16, 16)
    assert out['inputs']['frame_mask'].all()  # 12 s of 1-fps frames ≥ 10
    short = ds[1]  # a 5 s video → 5 frames
    assert int(short['inputs']['frame_mask'].sum()) == 5
    assert out['data_samples'].gt_image_ids == ['p0']
    assert out['data_samples'].live_id == 'movingfashion'


def test_frame_folders_and_gallery(mf_root):
    ds = DATASETS.build(
        dict(
            type='MovingFashionDataset',
            ann_file='test.json',
            data_root=mf_root,
            frame_root='frames',
            pipeline=[
                dict(type='SampleClipFrames', num_frames=10, rule='floor'),
                dict(type='LoadClipFrames', on_empty='keep'),
                dict(type='PackLPRInputs')
            ]))
    assert len(ds) == 3
    info = ds.get_data_info(2)
    assert len(info['frame_ids']) == 14
    out = ds[2]
    kept = out['inputs']['frames'][:, 0, 0, 0].tolist()
    n = 14
    assert kept == [int(np.floor(i * n / 10)) + 1 for i in range(10)]
    gallery = DATASETS.build(
        dict(
            type='MovingFashionGalleryDataset',
            data_root=mf_root,
            pipeline=[dict(type='LoadShopImage'),
                      dict(type='PackLPRInputs')]))
    assert len(gallery) == 3
    assert gallery[1]['inputs']['image'].shape == (3, 20, 20)


def test_unreadable_video_and_missing_gallery_image(mf_root):
    os.remove(os.path.join(mf_root, 'videos', 'w0.mp4'))
    ds = DATASETS.build(
        dict(type='MovingFashionDataset', data_root=mf_root, pipeline=PIPE))
    out = ds[1]
    assert not out['inputs']['frame_mask'].any()
    os.remove(os.path.join(mf_root, 'imgs', 'p1.jpg'))
    with pytest.raises(FileNotFoundError, match='1 MovingFashion gallery'):
        DATASETS.build(
            dict(type='MovingFashionGalleryDataset', data_root=mf_root))


def test_missing_video_backend_fails_at_build(mf_root, monkeypatch):
    """A backend that is not installed stops the dataset from being built
    (instead of every video being skipped as unreadable), naming the backend
    and the install command."""
    import sys
    monkeypatch.setitem(sys.modules, 'decord', None)  # import fails
    pipe = [dict(PIPE[0], backend='decord')] + PIPE[1:]
    with pytest.raises(ImportError) as info:
        DATASETS.build(dict(type='MovingFashionDataset', data_root=mf_root,
                            pipeline=pipe))
    assert "'decord' video backend" in str(info.value)
    assert 'pip install decord' in str(info.value)


def test_unknown_video_backend_and_on_empty():
    from lpr.datasets.transforms.loading import LoadVideoFrames
    with pytest.raises(ValueError, match="unknown video backend 'ffmpeg'"):
        LoadVideoFrames(backend='ffmpeg')
    with pytest.raises(ValueError, match="on_empty must be"):
        LoadVideoFrames(on_empty='drop')


def test_malformed_product_strict_and_lenient(mf_root):
    from lpr.datasets import AnnotationError
    path = os.path.join(mf_root, 'test.json')
    with open(path) as f:
        data = json.load(f)
    data['broken'] = dict(img_path='imgs/p0.jpg', video_paths='videos/v0.mp4')
    with open(path, 'w') as f:
        json.dump(data, f)
    for kind in ('MovingFashionDataset', 'MovingFashionGalleryDataset'):
        cfg = dict(type=kind, ann_file='test.json', data_root=mf_root,
                   pipeline=[])
        with pytest.raises(AnnotationError, match="product 'broken'") as err:
            DATASETS.build(cfg)
        assert err.value.path == path
        ds = DATASETS.build(dict(cfg, strict=False))
        assert len(ds) == 3 and ds.parse_report.skipped == 1
