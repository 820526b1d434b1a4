"""Write LPR4M intended-product boxes as COCO/CocoVID files for mmdet.

    python tools/dataset_converters/lpr4m_to_coco.py data/toy_lpr4m
    python tools/dataset_converters/lpr4m_to_coco.py data/lpr4m --classes 1

    # img2dataset shards in training_frames/ and test_frames/:
    python tools/dataset_converters/lpr4m_to_coco.py data/lpr4m --classes 1 \\
        --frame-store shards

Writes ``annotations/lpr_det_train_{34|1}cls.json`` (≤10 evenly spaced frames
per training clip, one box per frame) and
``annotations/lpr_det_test_{34|1}cls.json`` (every test frame, all GT boxes).
Frames carry their clip and its diversity types. Boxes may be normalised or
in pixels of the original frame (``--box-format auto`` decides per file);
they are written in pixels of the stored frame. Frames that cannot be opened
are counted (``frames_unreadable``); more than ``--max-drop-ratio`` of them,
or of the rows or boxes of an annotation file, is an error.
"""
import argparse
import os.path as osp
import sys
import time

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))), 'projects'))

from lpr.datasets.det_coco import convert_test, convert_training  # noqa
from lpr.datasets.errors import AnnotationError  # noqa


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('data_root')
    parser.add_argument('--classes', type=int, choices=[1, 34], default=34,
                        help='34 categories or one "intended product" class')
    parser.add_argument('--frames-per-clip', type=int, default=10)
    parser.add_argument('--splits', nargs='+', default=['train', 'test'],
                        choices=['train', 'test'])
    parser.add_argument('--frame-store', choices=['folder', 'shards'],
                        default='folder',
                        help='frames in <clip_id>/<frame_id>.jpg folders or '
                        'img2dataset shards')
    parser.add_argument('--train-frames', default='training_frames',
                        help='training frame folder or shard root, relative '
                        'to DATA_ROOT')
    parser.add_argument('--test-frames', default='test_frames')
    parser.add_argument('--box-format', default='auto',
                        choices=['auto', 'pixel', 'normalised'])
    parser.add_argument('--max-drop-ratio', type=float, default=0.01,
                        help='share of the frames (or rows, boxes) of a file '
                        'that may be dropped')
    args = parser.parse_args()
    for split in args.splits:
        out = osp.join(args.data_root, 'annotations',
                       f'lpr_det_{split}_{args.classes}cls.json')
        root = args.train_frames if split == 'train' else args.test_frames
        store = dict(type=args.frame_store, root=root)
        if args.frame_store == 'folder':
            store['layout'] = 'clip'
        opts = dict(
            frame_store=store,
            box_format=args.box_format,
            max_drop_ratio=args.max_drop_ratio)
        start = time.perf_counter()
        try:
            if split == 'train':
                stats = convert_training(args.data_root, out, args.classes,
                                         args.frames_per_clip, **opts)
            else:
                stats = convert_test(args.data_root, out, args.classes,
                                     **opts)
        except AnnotationError as e:
            sys.exit(f'error: {e}')
        print(f'{out}: {stats} ({time.perf_counter() - start:.1f} s)')


if __name__ == '__main__':
    main()
