"""Frames per second through the LPR4M training pipeline (one process = one
dataloader worker) against plain ``cv2.imdecode`` + ``cv2.resize`` of the
same files, measured in the same run, interleaved, medians of repeats.

    python tools/analysis_tools/benchmark_pipeline.py --data-root data/toy_lpr4m

The training pipeline is the official recipe's: 10 uniformly sampled
frames, cut-tail, per-frame resize to 256×256, random 224 crop and flip
(``ResizeCropFlipFrames``; ``--broadcast`` uses mmcv's transforms through
``ApplyToFrames`` instead), the shop image the same way, packing into
tensors. The raw baseline decodes
each of those files and resizes it to 224×224.
"""
import argparse
import json
import os.path as osp
import sys
import time

import cv2
import numpy as np

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))), 'projects'))

SIZE = 224


def train_pipeline(size: int = SIZE, fused: bool = True):
    if fused:
        return [
            dict(type='SampleClipFrames', num_frames=10),
            dict(type='CutTail'),
            dict(type='LoadClipFrames'),
            dict(type='LoadShopImage'),
            dict(type='ResizeCropFlipFrames', size=size,
                 resize=size * 8 // 7),
            dict(type='PackLPRInputs', empty_frame_size=(size, size)),
        ]
    aug = [
        dict(type='Resize', scale=(size * 8 // 7, size * 8 // 7),
             keep_ratio=False),
        dict(type='RandomCrop', crop_size=size),
        dict(type='RandomFlip', prob=0.5),
    ]
    return [
        dict(type='SampleClipFrames', num_frames=10),
        dict(type='CutTail'),
        dict(type='LoadClipFrames'),
        dict(type='LoadShopImage'),
        dict(type='ApplyToFrames', transforms=aug),
        *aug,
        dict(type='PackLPRInputs', empty_frame_size=(size, size)),
    ]


def run_pipeline(ds, indices):
    frames = 0
    for i in indices:
        out = ds[int(i)]
        frames += int(out['inputs']['frame_mask'].sum()) + 1
    return frames


def run_raw(ds, indices, size: int = SIZE):
    """Decode + resize exactly the files the pipeline read."""
    from lpr.datasets.transforms import uniform_indices
    keep = ds.pipeline.transforms[0]  # SampleClipFrames
    frames = 0
    for i in indices:
        info = ds.get_data_info(int(i))
        ids = info['frame_ids']
        ids = [ids[k] for k in uniform_indices(len(ids), keep.num_frames,
                                               keep.rule)]
        blobs = [info['frame_store'].get(f) for f in ids]
        blobs.append(info['image_store'].get(info['image_id']))
        for data in blobs:
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)
            frames += 1
    return frames


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default='data/toy_lpr4m')
    parser.add_argument('--samples', type=int, default=150)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--size', type=int, default=SIZE)
    parser.add_argument(
        '--broadcast', action='store_true',
        help='per-frame mmcv Resize/RandomCrop/RandomFlip through '
        'ApplyToFrames instead of ResizeCropFlipFrames')
    args = parser.parse_args()
    cv2.setNumThreads(1)  # one dataloader worker = one core

    import lpr  # noqa: F401
    from lpr.datasets import LPR4MPairDataset
    if not osp.isdir(osp.join(args.data_root, 'annotations')):
        from lpr.toy import generate, make_config
        generate(args.data_root, make_config('demo', workers=2))
    ds = LPR4MPairDataset(
        data_root=args.data_root,
        pipeline=train_pipeline(args.size, fused=not args.broadcast))
    rng = np.random.default_rng(0)
    indices = rng.integers(0, len(ds), args.samples)
    run_pipeline(ds, indices[:10])  # warm caches
    run_raw(ds, indices[:10], args.size)
    pipe_fps, raw_fps, ratios = [], [], []
    for _ in range(args.repeats):
        np.random.seed(0)
        t = time.perf_counter()
        n = run_pipeline(ds, indices)
        p = n / (time.perf_counter() - t)
        t = time.perf_counter()
        m = run_raw(ds, indices, args.size)
        r = m / (time.perf_counter() - t)
        pipe_fps.append(p)
        raw_fps.append(r)
        ratios.append(p / r)
    frame = cv2.imdecode(
        np.frombuffer(
            ds.get_data_info(0)['frame_store'].get(
                ds.get_data_info(0)['frame_ids'][0]), np.uint8), 1)
    print(
        json.dumps(
            dict(
                frame_size=list(frame.shape[:2]),
                input_size=args.size,
                spatial='ApplyToFrames(Resize, RandomCrop, RandomFlip)'
                if args.broadcast else 'ResizeCropFlipFrames',
                samples=args.samples,
                repeats=args.repeats,
                pipeline_fps_median=round(float(np.median(pipe_fps)), 1),
                raw_fps_median=round(float(np.median(raw_fps)), 1),
                ratio_median=round(float(np.median(ratios)), 3),
                ratios=[round(x, 3) for x in ratios]),
            indent=1))


if __name__ == '__main__':
    main()
