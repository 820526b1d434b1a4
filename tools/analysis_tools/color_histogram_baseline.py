"""A training-free baseline: rank each query's livestream gallery by the
similarity of colour histograms, scored with the same R@k metric.

    python tools/analysis_tools/color_histogram_baseline.py --data-root data/toy_lpr4m

A clip's histogram is the mean of its frames' HSV histograms (frames picked
with the test sampling rule); the score is the Bhattacharyya coefficient.
"""
import argparse
import json
import os.path as osp
import sys

import cv2
import numpy as np
import torch

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))), 'projects'))

BINS = (16, 4, 4)


def histogram(img: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    h = cv2.calcHist([hsv], [0, 1, 2], None, BINS,
                     [0, 180, 0, 256, 0, 256]).ravel()
    return h / max(h.sum(), 1e-6)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default='data/toy_lpr4m')
    parser.add_argument('--num-frames', type=int, default=8)
    args = parser.parse_args()

    import lpr  # noqa: F401
    from lpr.datasets import LPR4MGalleryDataset, LPR4MQueryDataset
    from lpr.datasets.transforms import uniform_indices
    from lpr.engine import rank_queries
    from lpr.evaluation import LPRRetrievalMetric

    queries = LPR4MQueryDataset(data_root=args.data_root, pipeline=[])
    gallery = LPR4MGalleryDataset(data_root=args.data_root, pipeline=[])

    def decode(store, key):
        data = store.get(key)
        return None if data is None else cv2.imdecode(
            np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)

    gal = []
    for i in range(len(gallery)):
        info = gallery.get_data_info(i)
        img = decode(info['image_store'], info['image_id'])
        gal.append(
            dict(
                image_id=info['image_id'],
                live_id=info['live_id'],
                image_emb=torch.from_numpy(np.sqrt(histogram(img)))))
    qs = []
    for i in range(len(queries)):
        info = queries.get_data_info(i)
        ids = info['frame_ids']
        ids = [ids[k] for k in uniform_indices(len(ids), args.num_frames,
                                               'floor')]
        hists = [histogram(f) for f in (decode(info['frame_store'], x)
                                        for x in ids) if f is not None]
        emb = np.sqrt(np.mean(hists, 0)) if hists else np.zeros(
            int(np.prod(BINS)))
        info.update(
            clip_emb=torch.from_numpy(emb), has_frames=bool(hists))
        qs.append(info)
    # sqrt-histograms with a dot product = the Bhattacharyya coefficient.
    preds = rank_queries(qs, gal)
    metric = LPRRetrievalMetric(topk=(1, 3, 5, 10))
    metric.process({}, preds)
    result = metric.compute_metrics(metric.results)
    print(json.dumps({k: round(v, 2) for k, v in result.items()
                      if k.startswith('R@') or k == 'num_queries'}))


if __name__ == '__main__':
    main()
