"""Which shop image shows the product of a livestream clip: rank a shop's
images with a trained retriever, print the top-k as JSON lines and draw
the ranking.

    python demo/retrieve_demo.py CLIP GALLERY CONFIG CHECKPOINT [options]
    python demo/retrieve_demo.py CONFIG CHECKPOINT --data-root R [--clip-id ID]

CLIP is a video file or a folder of frames; GALLERY a folder of shop images
or a gallery index saved by ``--save-index`` (or
``LPRInferencer.build_gallery``). With ``--data-root`` (an LPR4M-layout root
such as the toy set) the clip is a test query of that root (``--clip-id``,
default the first), the gallery its livestream's shop images and the
ground truth its GT images.

stdout: one JSON object per ranked image, best first: ``clip_id``,
``rank``, ``image_id``, ``score`` (and ``gt`` when the ground truth is
known). The picture (the clip's frames, with the detected boxes when a
detector is given, above the top-k shop images with their scores; a green
frame marks the ground truth) is written to ``<out-dir>/<clip_id>.png``.
"""
import argparse
import contextlib
import json
import os.path as osp
import sys
from typing import List, Optional

USAGE = ('%(prog)s [CLIP GALLERY] CONFIG CHECKPOINT [--data-root R '
         '[--clip-id ID]] [--det-config C --det-checkpoint K] [--topk 5] '
         '[--out-dir DIR] [--device cpu] [--gt IMAGE_ID ...] '
         '[--save-index FILE]')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Rank a shop\'s images for a livestream clip',
        usage=USAGE)
    parser.add_argument(
        'paths', nargs='+', metavar='PATH',
        help='CLIP GALLERY CONFIG CHECKPOINT, or CONFIG CHECKPOINT with '
        '--data-root')
    parser.add_argument(
        '--data-root',
        help='an LPR4M-layout root (e.g. data/toy_lpr4m): take the clip, '
        'its livestream\'s gallery and its GT from its test annotations')
    parser.add_argument(
        '--clip-id', help='the test query of --data-root (default: the '
        'first)')
    parser.add_argument('--det-config', help='an intended-product detector '
                        'config (configs/ipd/*.py)')
    parser.add_argument('--det-checkpoint', help='its checkpoint')
    parser.add_argument('--det-score-thr', type=float, default=0.0,
                        help='frames whose best box scores lower keep the '
                        'whole frame')
    parser.add_argument('--topk', type=int, default=5,
                        help='shop images to return')
    parser.add_argument('--out-dir', default='work_dirs/demo',
                        help='folder of the picture')
    parser.add_argument('--no-picture', action='store_true',
                        help='print the ranking only')
    parser.add_argument('--device', help='e.g. cpu or cuda:0 (default: '
                        'cuda when available)')
    parser.add_argument('--gt', nargs='+', metavar='IMAGE_ID',
                        help='ground-truth image ids (framed in green)')
    parser.add_argument('--save-index', metavar='FILE',
                        help='save the encoded gallery there, to pass as '
                        'GALLERY next time')
    args = parser.parse_args(argv)
    if args.data_root:
        if len(args.paths) != 2:
            parser.error('with --data-root give CONFIG CHECKPOINT only')
        args.clip, args.gallery = None, None
        args.config, args.checkpoint = args.paths
    else:
        if len(args.paths) != 4:
            parser.error('give CLIP GALLERY CONFIG CHECKPOINT (or CONFIG '
                         'CHECKPOINT --data-root R)')
        if args.clip_id:
            parser.error('--clip-id needs --data-root')
        args.clip, args.gallery, args.config, args.checkpoint = args.paths
    if args.topk < 1:
        parser.error(f'--topk must be >= 1, got {args.topk}')
    if bool(args.det_config) != bool(args.det_checkpoint):
        parser.error('--det-config and --det-checkpoint go together')
    return args


def check_inputs(clip: str, gallery: str) -> None:
    """Fail before loading any model when the inputs are missing.

    Raises:
        ValueError: the clip or the gallery does not exist, or the gallery
            folder holds no image.
    """
    from lpr.apis.inputs import list_images
    if not osp.exists(clip):
        raise ValueError(f'clip {clip} does not exist')
    if osp.isdir(clip):
        list_images(clip)
    if osp.isdir(gallery):
        list_images(gallery)
    elif not osp.isfile(gallery):
        raise ValueError(f'gallery {gallery} does not exist')


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    out = sys.stdout
    # Logs and progress go to stderr; stdout holds the JSON lines only.
    with contextlib.redirect_stdout(sys.stderr):
        try:
            from lpr.apis import LPRInferencer, load_test_query
            gt = args.gt
            if args.data_root:
                query = load_test_query(args.data_root, args.clip_id)
                clip, gallery = query.clip_dir, query.gallery
                gt = gt or query.gt_image_ids
            else:
                check_inputs(args.clip, args.gallery)
                clip, gallery = args.clip, args.gallery
            inf = LPRInferencer(
                args.config, weights=args.checkpoint, device=args.device,
                det_model=args.det_config, det_weights=args.det_checkpoint,
                det_score_thr=args.det_score_thr)
            if args.save_index:
                index = inf.build_gallery(gallery, out_file=args.save_index)
                print(f'gallery index: {args.save_index}')
            else:
                index = inf.load_gallery(gallery)
            result = inf(
                clip, gallery=index, topk=args.topk, gt_image_ids=gt,
                show_dir='' if args.no_picture else args.out_dir)
        except (ValueError, TypeError) as e:
            print(f'error: {e}')
            return 1
    pred = result['predictions'][0]
    for rank, (image_id, score) in enumerate(
            zip(pred['image_ids'], pred['scores']), 1):
        line = dict(clip_id=pred['clip_id'], rank=rank, image_id=image_id,
                    score=score)
        if gt:
            line['gt'] = image_id in gt
        print(json.dumps(line), file=out)
    if not args.no_picture:
        print(f'picture: {osp.join(args.out_dir, pred["clip_id"] + ".png")}',
              file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
