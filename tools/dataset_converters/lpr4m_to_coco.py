"""Write LPR4M intended-product boxes as COCO/CocoVID files for mmdet.

    python tools/dataset_converters/lpr4m_to_coco.py data/toy_lpr4m
    python tools/dataset_converters/lpr4m_to_coco.py data/lpr4m --classes 1

Writes ``annotations/lpr_det_train_{34|1}cls.json`` (≤10 evenly spaced frames
per training clip, one box per frame) and
``annotations/lpr_det_test_{34|1}cls.json`` (every test frame, all GT boxes).
Frames carry their clip and its diversity types.
"""
import argparse
import os.path as osp
import sys
import time

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))), 'projects'))

from lpr.datasets.det_coco import convert_test, convert_training  # noqa


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('data_root')
    parser.add_argument('--classes', type=int, choices=[1, 34], default=34,
                        help='34 categories or one "intended product" class')
    parser.add_argument('--frames-per-clip', type=int, default=10)
    parser.add_argument('--splits', nargs='+', default=['train', 'test'],
                        choices=['train', 'test'])
    args = parser.parse_args()
    for split in args.splits:
        out = osp.join(args.data_root, 'annotations',
                       f'lpr_det_{split}_{args.classes}cls.json')
        start = time.perf_counter()
        if split == 'train':
            stats = convert_training(args.data_root, out, args.classes,
                                     args.frames_per_clip)
        else:
            stats = convert_test(args.data_root, out, args.classes)
        print(f'{out}: {stats} ({time.perf_counter() - start:.1f} s)')


if __name__ == '__main__':
    main()
