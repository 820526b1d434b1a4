"""How well does each detector's top box fit the intended product, per
product-scale split?  For every test frame with a GT box: the IoU of the
detector's highest-scoring box with its best-matching GT box, and the area
of that box over the GT box's area (1: the right size; above 1 too large,
below 1 too small). Medians per split tell a detector that finds the
product but sizes it badly (IoU falls, area ratio far from 1) from one that
misses it.

    python tools/analysis_tools/det_box_report.py GT.json SD=sd.pkl MD=md.pkl \\
        [--split product_scale] [--out report.json]

``GT.json``: the COCO test file (``lpr4m_to_coco.py``); each ``*.pkl``: a
detector's ``tools/test.py --out`` predictions, single-frame or multi-frame.
"""
import argparse
import json
import os.path as osp
import sys
from collections import OrderedDict, defaultdict
from typing import Dict, List, Sequence

import numpy as np
from pycocotools import mask as coco_mask

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))), 'projects'))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('gt', help='COCO ground truth of the test frames')
    parser.add_argument('preds', nargs='+', metavar='NAME=PKL',
                        help="a detector's predictions (tools/test.py --out)")
    parser.add_argument('--split', default='product_scale',
                        help='image field of the GT file to group frames by')
    parser.add_argument('--out', help='write the table as JSON')
    return parser.parse_args(argv)


def top_box_fit(detections: List[dict], gt_boxes: Dict[int, np.ndarray]
                ) -> Dict[int, tuple]:
    """(IoU, area ratio) of each frame's highest-scoring box against the
    GT box it overlaps most; frames without a detection get (0, nan).

    Args:
        detections: COCO result dicts (``image_id``, ``bbox`` xywh,
            ``score``).
        gt_boxes: image id → (G, 4) xywh GT boxes, G ≥ 1.
    """
    best: Dict[int, dict] = {}
    for det in detections:
        cur = best.get(det['image_id'])
        if cur is None or det['score'] > cur['score']:
            best[det['image_id']] = det
    fit = {}
    for img_id, gts in gt_boxes.items():
        det = best.get(img_id)
        if det is None:
            fit[img_id] = (0.0, float('nan'))
            continue
        box = np.asarray(det['bbox'], dtype=np.float64)
        ious = coco_mask.iou(box[None], gts, [0] * len(gts))[0]
        j = int(ious.argmax())
        fit[img_id] = (float(ious[j]),
                       float(box[2] * box[3] / max(gts[j, 2] * gts[j, 3],
                                                   1e-9)))
    return fit


def report(gt_file: str, named: Dict[str, str], split: str) -> OrderedDict:
    """Per detector and split value: frames, median IoU, share with IoU ≥
    0.5 and median area ratio of the top box."""
    from lpr.evaluation.det_bootstrap import load_detections, load_gt
    from lpr.evaluation.metrics.ipd_metric import SPLITS

    coco_gt = load_gt(gt_file)
    cat_ids = coco_gt.get_cat_ids()
    gt_boxes = defaultdict(list)
    for ann in coco_gt.dataset['annotations']:
        gt_boxes[ann['image_id']].append(ann['bbox'])
    gt_boxes = {k: np.asarray(v, dtype=np.float64)
                for k, v in gt_boxes.items()}
    group = {i: str(coco_gt.imgs[i].get(split, 'all')) for i in gt_boxes}
    # The metric's order of the split's types first, any others after.
    order = list(SPLITS.get(split, ()))
    values = sorted(set(group.values()),
                    key=lambda v: (order.index(v) if v in order else
                                   len(order), v))
    out = OrderedDict()
    for name, path in named.items():
        detections, _ = load_detections(path, coco_gt, cat_ids,
                                        class_agnostic=True)
        fit = top_box_fit(detections, gt_boxes)
        rows = OrderedDict()
        for value in values + ['all']:
            ids = [i for i in gt_boxes if value in ('all', group[i])]
            ious = np.array([fit[i][0] for i in ids])
            ratio = np.array([fit[i][1] for i in ids])
            rows[value] = dict(
                frames=len(ids),
                median_iou=float(np.median(ious)),
                iou_at_least_0_5=float((ious >= 0.5).mean()),
                median_area_ratio=float(np.nanmedian(ratio))
                if np.isfinite(ratio).any() else float('nan'))
        out[name] = rows
    return out


def markdown(result: OrderedDict, split: str) -> str:
    lines = [f'| detector | {split} | frames | median IoU | IoU ≥ 0.5 | '
             'median area / GT area |', '| --- | --- | --- | --- | --- | --- |']
    for name, rows in result.items():
        for value, r in rows.items():
            lines.append(
                f'| {name} | {value} | {r["frames"]} | '
                f'{r["median_iou"]:.2f} | {100 * r["iou_at_least_0_5"]:.0f} % '
                f'| {r["median_area_ratio"]:.2f} |')
    return '\n'.join(lines)


def main(argv: Sequence[str] = None) -> OrderedDict:
    args = parse_args(argv)
    from lpr.evaluation.det_bootstrap import parse_named
    result = report(args.gt, parse_named(args.preds), args.split)
    print(markdown(result, args.split))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == '__main__':
    main()
