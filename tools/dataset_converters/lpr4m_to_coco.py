"""Write LPR4M intended-product boxes as COCO/CocoVID files for mmdet.

    python tools/dataset_converters/lpr4m_to_coco.py data/lpr4m
    python tools/dataset_converters/lpr4m_to_coco.py data/lpr4m --classes 1

    # img2dataset shards in training_frames/ and test_frames/:
    python tools/dataset_converters/lpr4m_to_coco.py data/lpr4m --classes 1 \\
        --frame-store shards

    # the number-of-products split from a detector's boxes (every box
    # scoring >= 0.3 per test frame):
    python tools/test.py configs/ipd/dab-detr_r50_8xb8-20e_lpr4m-1cls.py \\
        SD.pth --out-boxes sd_all.json --boxes-per-frame 0 --box-score-thr 0.3
    python tools/dataset_converters/lpr4m_to_coco.py data/lpr4m \\
        --splits test --product-number-boxes sd_all.json

Writes ``annotations/lpr_det_train_{34|1}cls.json`` (≤10 evenly spaced frames
per training clip, one box per frame; ``--classes``: the categories of the
videoinfo rows or one class) and ``annotations/lpr_det_test_1cls.json``
(every test frame, all GT boxes; one class, because the release's test files
carry no category: detectors trained on categories are evaluated
class-agnostically). Frames carry their clip and its diversity types
(training: the videoinfo columns; test: product scale and visible duration
from the GT boxes, number of products from ``--product-number-boxes``).
Boxes may be normalised or in pixels of the original frame (``--box-format
auto`` decides per file); they are written in pixels of the stored frame.
Frames that cannot be opened are counted (``frames_unreadable``); more than
``--max-drop-ratio`` of them, or of the rows or boxes of an annotation file,
is an error.
"""
import argparse
import os.path as osp
import sys
import time

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))), 'projects'))

from lpr.datasets.det_coco import (convert_test, convert_training,  # noqa
                                   det_file)
from lpr.datasets.errors import AnnotationError  # noqa


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('data_root')
    parser.add_argument('--classes', type=int, default=34,
                        help='training split: the categories of the '
                        'videoinfo rows (at most this many; 34 for LPR4M) '
                        'or 1 "intended product" class')
    parser.add_argument('--test-classes', type=int, default=1,
                        help='test split: 1 (the release has no test '
                        'category); more only for sets that give each test '
                        'clip a category (the toy set)')
    parser.add_argument('--product-number-boxes',
                        help='test split: a detector\'s box file with every '
                        'box above a score per frame, for the '
                        'number-of-products type')
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
        classes = args.classes if split == 'train' else args.test_classes
        out = osp.join(args.data_root, det_file(split, classes))
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
                stats = convert_training(args.data_root, out, classes,
                                         args.frames_per_clip, **opts)
            else:
                stats = convert_test(
                    args.data_root,
                    out,
                    classes,
                    product_number_boxes=args.product_number_boxes,
                    **opts)
        except AnnotationError as e:
            sys.exit(f'error: {e}')
        print(f'{out}: {stats} ({time.perf_counter() - start:.1f} s)')


if __name__ == '__main__':
    main()
