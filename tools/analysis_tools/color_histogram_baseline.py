"""Training-free baselines: rank each query's livestream gallery by colour
histograms (default) or SIFT matches, scored with the same R@k metric.

    python tools/analysis_tools/color_histogram_baseline.py --data-root data/toy_lpr4m
    python tools/analysis_tools/color_histogram_baseline.py --method sift

Colour: a clip's histogram is the mean of its frames' HSV histograms (frames
picked with the test sampling rule); the score is the Bhattacharyya
coefficient. SIFT: the best frame's count of matches that pass Lowe's ratio
test. The last output line is the R@k JSON.
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))), 'projects'))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default='data/toy_lpr4m')
    parser.add_argument('--num-frames', type=int, default=8)
    parser.add_argument('--method', choices=['colour', 'sift'],
                        default='colour')
    parser.add_argument('--out', help='dump the per-query predictions (JSON)')
    args = parser.parse_args()

    import lpr  # noqa: F401
    from lpr.datasets import LPR4MGalleryDataset, LPR4MQueryDataset
    from lpr.evaluation import LPRRetrievalMetric
    from lpr.evaluation.baselines import (colour_histogram_predictions,
                                          sift_predictions)

    queries = LPR4MQueryDataset(data_root=args.data_root, pipeline=[])
    gallery = LPR4MGalleryDataset(data_root=args.data_root, pipeline=[])
    fn = dict(colour=colour_histogram_predictions, sift=sift_predictions)
    preds = fn[args.method](queries, gallery, args.num_frames,
                            show_progress=sys.stderr.isatty())
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(preds, f)
    metric = LPRRetrievalMetric(topk=(1, 3, 5, 10))
    metric.process({}, preds)
    result = metric.compute_metrics(metric.results)
    print(json.dumps({k: round(v, 2) for k, v in result.items()
                      if k.startswith('R@') or k == 'num_queries'}))


if __name__ == '__main__':
    main()
