"""Online recognition of a livestream: read one frame every few seconds of
video time, keep a sliding window of the last frames and print, at each
step, the shop image that best matches the window.

    python demo/stream_demo.py VIDEO GALLERY CONFIG CHECKPOINT [options]
    python demo/stream_demo.py CONFIG CHECKPOINT --data-root R [--live-id ID]

VIDEO is a video file (read with OpenCV at its own frame rate) or a folder
of frames (sorted by name, ``--fps`` frames a second, 1 by default);
GALLERY a folder of shop images or a saved gallery index. With
``--data-root`` (an LPR4M-layout root such as the toy set) the stream is
the test clips of one livestream (``--live-id``, default that of the first
query) played back to back, frames as far apart as in their clips (3 s in
LPR4M's test set), the gallery that livestream's shop images, and each
step is checked against the GT of the clip its newest frame belongs to.

Each step prints the video time, the top-1 image id and score and the
latency (reading the frame, encoding, ranking); the end reports the
real-time factor: processing time / video time covered. When the model
allows it, each frame is encoded once and its outputs are reused while it
stays in the window; otherwise the whole window is encoded at every step
(the summary says which).
"""
import argparse
import contextlib
import os.path as osp
import statistics
import sys
import time
from typing import Dict, List, Optional

USAGE = ('%(prog)s [VIDEO GALLERY] CONFIG CHECKPOINT [--data-root R '
         '[--live-id ID]] [--every 3] [--window 10] [--topk 1] [--fps 1] '
         '[--max-steps N] [--device cpu] [--threads N] '
         '[--det-config C --det-checkpoint K] [--no-cache]')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Recognise the product of a livestream online',
        usage=USAGE)
    parser.add_argument(
        'paths', nargs='+', metavar='PATH',
        help='VIDEO GALLERY CONFIG CHECKPOINT, or CONFIG CHECKPOINT with '
        '--data-root')
    parser.add_argument(
        '--data-root',
        help='an LPR4M-layout root (e.g. data/toy_lpr4m): stream the test '
        'clips of one livestream against its gallery')
    parser.add_argument('--live-id', help='the livestream of --data-root '
                        '(default: that of the first test query)')
    parser.add_argument('--every', type=float, default=3.0,
                        help='seconds of video time between two frames')
    parser.add_argument('--window', type=int, default=10,
                        help='frames in the sliding window')
    parser.add_argument('--topk', type=int, default=1,
                        help='shop images ranked per step (the top-1 is '
                        'printed; --topk > 1 also prints the others)')
    parser.add_argument('--fps', type=float, default=1.0,
                        help='frame rate of a folder of frames')
    parser.add_argument('--max-steps', type=int,
                        help='stop after this many steps')
    parser.add_argument('--device', help='e.g. cpu or cuda:0 (default: '
                        'cuda when available)')
    parser.add_argument('--threads', type=int,
                        help='CPU threads of torch (default: torch\'s; one '
                        'frame a step gains little from more, and a busy '
                        'machine loses from them)')
    parser.add_argument('--det-config', help='an intended-product detector '
                        'config (configs/ipd/*.py)')
    parser.add_argument('--det-checkpoint', help='its checkpoint')
    parser.add_argument('--no-cache', action='store_true',
                        help='encode the whole window at every step')
    args = parser.parse_args(argv)
    if args.data_root:
        if len(args.paths) != 2:
            parser.error('with --data-root give CONFIG CHECKPOINT only')
        args.video, args.gallery = None, None
        args.config, args.checkpoint = args.paths
    else:
        if len(args.paths) != 4:
            parser.error('give VIDEO GALLERY CONFIG CHECKPOINT (or CONFIG '
                         'CHECKPOINT --data-root R)')
        if args.live_id:
            parser.error('--live-id needs --data-root')
        args.video, args.gallery, args.config, args.checkpoint = args.paths
    for name in ('every', 'fps'):
        if not getattr(args, name) > 0:
            parser.error(f'--{name} must be positive')
    for name in ('window', 'topk', 'max_steps', 'threads'):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1')
    if bool(args.det_config) != bool(args.det_checkpoint):
        parser.error('--det-config and --det-checkpoint go together')
    return args


def open_stream(args):
    """The frame stream, the gallery and, with --data-root, the GT image
    ids of each frame, plus a line describing the stream."""
    from lpr.apis import FrameStream, load_test_live
    from lpr.apis.inputs import list_images
    if args.data_root:
        live = load_test_live(args.data_root, args.live_id)
        stream = FrameStream(live.frames, every=args.every,
                             fps=1.0 / live.spacing,
                             max_steps=args.max_steps)
        gt: Optional[List[List[str]]] = [
            live.gt_image_ids[c] for c in live.frame_clips
        ]
        about = (f'{len(live.clip_ids)} test clips of livestream '
                 f'{live.live_id} back to back: {stream.num_frames} frames '
                 f'{live.spacing:g} s apart ({stream.duration:g} s), '
                 f'gallery of {len(live.gallery)} images')
        return stream, live.gallery, gt, about
    if osp.isdir(args.gallery):
        list_images(args.gallery)
    elif not osp.isfile(args.gallery):
        raise ValueError(f'gallery {args.gallery} does not exist')
    stream = FrameStream(args.video, every=args.every, fps=args.fps,
                         max_steps=args.max_steps)
    about = (f'{stream.name}: {stream.num_frames} frames at '
             f'{stream.fps:g} fps ({stream.duration:g} s)')
    return stream, args.gallery, None, about


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    out = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        try:
            import torch

            from lpr.apis import LPRInferencer, StreamRecognizer
            if args.threads:
                torch.set_num_threads(args.threads)
            stream, gallery, gt, about = open_stream(args)
            inf = LPRInferencer(args.config, weights=args.checkpoint,
                                device=args.device,
                                det_model=args.det_config,
                                det_weights=args.det_checkpoint)
            start = time.perf_counter()
            recognizer = StreamRecognizer(
                inf, gallery, window=args.window, topk=args.topk,
                cache_frames=not args.no_cache)
            gallery_s = time.perf_counter() - start
        except (ValueError, TypeError) as e:
            print(f'error: {e}')
            return 1
    print(f'stream: {about}', file=out)
    print(f'gallery: {len(recognizer.gallery)} images ({gallery_s:.2f} s '
          f'to load or encode); one frame every {args.every:g} s, window '
          f'of {args.window} frames', file=out)
    latencies: List[float] = []
    hits: Dict[str, int] = dict(steps=0, correct=0)
    last_time = 0.0
    with contextlib.redirect_stdout(sys.stderr):
        frames = iter(stream)
        while True:
            start = time.perf_counter()
            frame = next(frames, None)  # reading is part of the latency
            if frame is None:
                break
            if frame.image is None:
                print(f'skipped unreadable frame {frame.frame_id}')
                continue
            result = recognizer.step(frame.image, frame.frame_id,
                                     name=stream.name)
            latency = time.perf_counter() - start
            latencies.append(latency)
            last_time = frame.time
            line = (f't={frame.time:8.1f}s  top1 {result["image_ids"][0]}  '
                    f'score {result["scores"][0]:.4f}  latency '
                    f'{latency * 1000:7.1f} ms  window {result["window"]}')
            if gt is not None:
                ok = result['image_ids'][0] in gt[frame.index]
                hits['steps'] += 1
                hits['correct'] += ok
                line += '  GT' if ok else '  --'
            if args.topk > 1:
                line += '  top{}: {}'.format(args.topk,
                                             ' '.join(result['image_ids']))
            print(line, file=out, flush=True)
    if not latencies:
        print('error: no frame could be read', file=sys.stderr)
        return 1
    # Each step stands for the video time until the next read.
    covered = last_time + max(args.every, 1.0 / stream.fps)
    processing = sum(latencies)
    mode = ('each frame encoded once, per-frame outputs reused'
            if recognizer.caching else 'the window re-encoded at every step')
    print(f'real-time factor {processing / covered:.4f}: {processing:.2f} s '
          f'of processing for {covered:g} s of video ({len(latencies)} '
          f'steps; latency median {statistics.median(latencies) * 1000:.1f} '
          f'ms, max {max(latencies) * 1000:.1f} ms; {mode})', file=out)
    if hits['steps']:
        print(f'top-1 correct at {hits["correct"]} of {hits["steps"]} steps '
              f'({100 * hits["correct"] / hits["steps"]:.1f} %)', file=out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
