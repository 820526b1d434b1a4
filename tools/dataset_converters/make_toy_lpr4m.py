"""Generate a toy LPR4M dataset in the official LPR4M formats.

Examples::

    python tools/dataset_converters/make_toy_lpr4m.py --out data/toy_lpr4m
    python tools/dataset_converters/make_toy_lpr4m.py --out /tmp/t \\
        --preset tests --seed 1
    python tools/dataset_converters/make_toy_lpr4m.py --out data/big \\
        --train-lives 200 --products-per-live 12 --resolution 256 --shards
    python tools/dataset_converters/make_toy_lpr4m.py --out /tmp/px \\
        --preset tests --box-format pixel   # boxes in original-frame pixels
"""
import argparse
import os.path as osp
import sys
import time

# Run from a checkout without installing: the package lives in projects/.
_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if osp.join(_ROOT, 'projects') not in sys.path:
    sys.path.insert(0, osp.join(_ROOT, 'projects'))

from lpr.toy import PRESETS, format_stats, generate, make_config  # noqa: E402,E501


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument(
        '--preset', default='demo', choices=sorted(PRESETS),
        help='size preset: "tests" (seconds) or "demo" (under a minute)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--train-lives', type=int, help='training livestreams')
    parser.add_argument('--test-lives', type=int, help='test livestreams')
    parser.add_argument('--products-per-live', type=int)
    parser.add_argument(
        '--clips-per-product', type=int,
        help='training clips per product (test: half, at least 1)')
    parser.add_argument(
        '--frames', type=int, nargs=2, metavar=('MIN', 'MAX'),
        help='frames per training clip')
    parser.add_argument(
        '--resolution', type=int,
        help='short side of the 9:16 portrait frames in pixels')
    parser.add_argument('--image-size', type=int, help='shop image side')
    parser.add_argument('--num-parts', type=int,
                        help='training videoinfo part files')
    shards = parser.add_mutually_exclusive_group()
    shards.add_argument('--shards', dest='shards', action='store_true',
                        default=None,
                        help='also write img2dataset-style shards')
    shards.add_argument('--no-shards', dest='shards', action='store_false')
    parser.add_argument(
        '--box-format', choices=['normalised', 'pixel'],
        help='normalised boxes (default), or boxes in pixels of an original '
        'frame --original-scale times the rendered one, like the LPR4M '
        'release (frame folders at that size, shards resized back)')
    parser.add_argument('--original-scale', type=float,
                        help="original / rendered frame size with "
                        "--box-format pixel (default 2.5)")
    parser.add_argument('--workers', type=int, default=2,
                        help='processes (the output does not depend on it)')
    parser.add_argument('--quiet', action='store_true',
                        help='print nothing (no progress, no statistics)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    overrides = dict(
        seed=args.seed,
        train_lives=args.train_lives,
        test_lives=args.test_lives,
        products_per_live=args.products_per_live,
        resolution=args.resolution,
        image_size=args.image_size,
        num_parts=args.num_parts,
        shards=args.shards,
        box_format=args.box_format,
        original_scale=args.original_scale,
        workers=args.workers)
    if args.clips_per_product is not None:
        overrides['train_clips_per_product'] = args.clips_per_product
        overrides['test_clips_per_product'] = max(
            1, args.clips_per_product // 2)
    if args.frames is not None:
        lo, hi = sorted(args.frames)
        overrides['train_frames'] = (lo, hi)
    cfg = make_config(args.preset, **overrides)
    start = time.perf_counter()
    stats = generate(args.out, cfg, progress=not args.quiet)
    if not args.quiet:
        print(f'toy LPR4M ({args.preset}, seed {cfg.seed}) written to '
              f'{args.out} in {time.perf_counter() - start:.1f} s')
        print(format_stats(stats))


if __name__ == '__main__':
    main()
