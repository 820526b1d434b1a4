"""Training-free retrieval baselines on LPR4M-format data: a colour
histogram and a local-feature matcher (SIFT with Lowe's ratio test).

Both return one prediction per query in the layout of the retrieval loop
(``clip_id``, ``gt_image_ids``, ``pred_ranking``, ``pred_scores``), so the
same R@k metric and the same bootstrap scores them.
"""
from collections import defaultdict
from typing import Callable, Dict, List, Optional, Sequence

import cv2
import numpy as np
from mmengine.utils import ProgressBar

HIST_BINS = (16, 4, 4)


def colour_histogram(img: np.ndarray) -> np.ndarray:
    """Normalised HSV histogram (16×4×4 bins) of a BGR image: (256,)."""
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    h = cv2.calcHist([hsv], [0, 1, 2], None, HIST_BINS,
                     [0, 180, 0, 256, 0, 256]).ravel()
    return h / max(h.sum(), 1e-6)


class SiftMatcher:
    """Count SIFT matches that pass Lowe's ratio test.

    Args:
        ratio: Lowe's ratio (best / second-best descriptor distance).
        min_side: images are upscaled so that their short side is at least
            this (SIFT finds few keypoints in tiny images).
    """

    def __init__(self, ratio: float = 0.75, min_side: int = 160) -> None:
        self.ratio = ratio
        self.min_side = min_side
        self.sift = cv2.SIFT_create()
        self.matcher = cv2.BFMatcher(cv2.NORM_L2)

    def describe(self, img: np.ndarray) -> Optional[np.ndarray]:
        """(K, 128) float32 SIFT descriptors of a BGR image, or ``None``."""
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        short = min(gray.shape[:2])
        if short < self.min_side:
            f = self.min_side / short
            gray = cv2.resize(gray, None, fx=f, fy=f,
                              interpolation=cv2.INTER_CUBIC)
        _, desc = self.sift.detectAndCompute(gray, None)
        return desc if desc is not None and len(desc) >= 2 else None

    def count(self, a: Optional[np.ndarray], b: Optional[np.ndarray]) -> int:
        """Matches from ``a`` to ``b`` that pass the ratio test."""
        if a is None or b is None:
            return 0
        good = 0
        for pair in self.matcher.knnMatch(a, b, k=2):
            if len(pair) == 2 and pair[0].distance < \
                    self.ratio * pair[1].distance:
                good += 1
        return good


def _decode(store, key: str) -> Optional[np.ndarray]:
    data = store.get(key)
    if data is None:
        return None
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def _rank(query: dict, gallery_ids: List[str],
          scores: np.ndarray) -> dict:
    order = np.argsort(-scores, kind='stable')
    return dict(
        clip_id=query['clip_id'],
        gt_image_ids=list(query['gt_image_ids']),
        pred_ranking=[gallery_ids[i] for i in order],
        pred_scores=scores[order].tolist())


def _run(queries, gallery, num_frames: int,
         image_feature: Callable[[np.ndarray], object],
         score: Callable[[List[object], List[object]], np.ndarray],
         show_progress: bool = True) -> List[dict]:
    """Shared driver: features of every gallery image, then per query its
    frames' features scored against its own live's gallery."""
    from lpr.datasets.transforms import uniform_indices
    by_live: Dict[str, List[int]] = defaultdict(list)
    feats, ids = [], []
    for i in range(len(gallery)):
        info = gallery.get_data_info(i)
        img = _decode(info['image_store'], info['image_id'])
        feats.append(None if img is None else image_feature(img))
        ids.append(info['image_id'])
        by_live[info['live_id']].append(i)
    bar = ProgressBar(len(queries)) if show_progress else None
    preds = []
    for i in range(len(queries)):
        info = queries.get_data_info(i)
        frame_ids = info['frame_ids']
        keep = uniform_indices(len(frame_ids), num_frames, 'floor')
        frames = [_decode(info['frame_store'], frame_ids[k]) for k in keep]
        frame_feats = [image_feature(f) for f in frames if f is not None]
        members = by_live.get(info['live_id'], [])
        if not frame_feats or not members:
            preds.append(
                dict(clip_id=info['clip_id'],
                     gt_image_ids=list(info['gt_image_ids']),
                     pred_ranking=[], pred_scores=[]))
        else:
            s = score(frame_feats, [feats[j] for j in members])
            preds.append(_rank(info, [ids[j] for j in members], s))
        if bar is not None:
            bar.update()
    return preds


def colour_histogram_predictions(queries, gallery, num_frames: int = 8,
                                 show_progress: bool = True) -> List[dict]:
    """Rank by the Bhattacharyya coefficient of HSV histograms (a clip's
    histogram is the mean of its frames')."""

    def score(frame_feats, image_feats):
        clip = np.sqrt(np.mean(frame_feats, 0))
        return np.array([
            0.0 if f is None else float(clip @ np.sqrt(f))
            for f in image_feats
        ])

    return _run(queries, gallery, num_frames, colour_histogram, score,
                show_progress)


def sift_predictions(queries, gallery, num_frames: int = 8,
                     ratio: float = 0.75,
                     show_progress: bool = True) -> List[dict]:
    """Rank by the best frame's count of SIFT matches that pass Lowe's ratio
    test (ties broken by the summed count over frames)."""
    matcher = SiftMatcher(ratio)

    def score(frame_feats, image_feats):
        counts = np.array([[matcher.count(f, g) for g in image_feats]
                           for f in frame_feats], dtype=np.float64)
        return counts.max(0) + 1e-3 * counts.sum(0)

    return _run(queries, gallery, num_frames, matcher.describe, score,
                show_progress)


def first_hits(predictions: Sequence[dict]) -> np.ndarray:
    """Rank of the first GT image per query (``inf`` for none): (Q,)."""
    out = np.full(len(predictions), np.inf)
    for i, p in enumerate(predictions):
        gt = set(p['gt_image_ids'])
        for r, g in enumerate(p.get('pred_ranking', [])):
            if g in gt:
                out[i] = r
                break
    return out
