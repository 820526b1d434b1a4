"""Bootstrap confidence intervals for intended-product detection AP.

The test frames are resampled with replacement (or whole clips, whose frames
are correlated) and :class:`IntendedProductMetric`'s numbers are recomputed
on every resample: COCO box AP, AP50 and AP75 over all frames and AP50 per
diversity split. Two detectors are compared on the *same* resamples (a
paired bootstrap).

COCO AP needs every evaluated frame once: a frame drawn twice counts as two
frames, as if it were a copy with a new image id. The per-frame matching of
``COCOeval.evaluate`` depends on the frame alone, so it runs once per
detector; a resample only repeats ``COCOeval.accumulate`` over the
per-frame results of its drawn frames (a copy reuses its frame's result).
"""
import contextlib
import copy
import inspect
import io
import os.path as osp
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmdet.datasets.api_wrappers import COCO, COCOeval
from mmdet.evaluation.metrics import CocoMetric
from mmengine.fileio import load

from .bootstrap import bootstrap_indices
from .metrics.ipd_metric import SPLITS, merge_classes, sample_frames

# The metric's AP / AP50 / AP75 come from CocoMetric (COCOeval stats at its
# largest proposal number), its split AP50 from a default COCOeval (stats at
# the default largest maxDets).
OVERALL_MAX_DETS = inspect.signature(CocoMetric).parameters[
    'proposal_nums'].default[-1]
SPLIT_MAX_DETS = COCOeval(iouType='bbox').params.maxDets[-1]


def parse_named(items: Sequence[str]) -> Dict[str, str]:
    """``NAME=PATH`` command-line items (a detector's name and its
    prediction file) → {name: path}, in order."""
    out = {}
    for item in items:
        name, sep, path = item.partition('=')
        if not sep or not name or not path:
            raise ValueError(f'{item!r}: expected NAME=PATH')
        if name in out:
            raise ValueError(f'detector name {name!r} given twice')
        if not osp.isfile(path):
            raise FileNotFoundError(f'{name}: {path} not found')
        out[name] = path
    return out


def metric_keys(splits: Dict[str, Sequence[str]] = SPLITS) -> List[str]:
    """The reported numbers in table order: ``AP``, ``AP50``, ``AP75``,
    then ``{split}/{type}/AP50`` (the keys of
    :class:`IntendedProductMetric`)."""
    return ['AP', 'AP50', 'AP75'] + [
        f'{key}/{value}/AP50' for key, types in splits.items()
        for value in types
    ]


def load_detections(path: str, coco_gt: COCO, cat_ids: Sequence[int],
                    class_agnostic: bool = False) -> Tuple[List[dict], set]:
    """COCO result dicts of a prediction file of ``tools/test.py --out``.

    The file holds one dict per frame (single-frame detector) or per clip
    (``video_data_samples``, multi-frame detector), each frame with
    ``img_id`` and ``pred_instances`` (``bboxes`` (N, 4) ``xyxy``,
    ``scores`` (N,), ``labels`` (N,)); boxes become ``xywh`` and labels
    ``cat_ids[label]``, as ``CocoMetric.results2json`` writes them.

    Args:
        path: the pickle.
        coco_gt: the ground truth the frames belong to.
        cat_ids: category id of each label.
        class_agnostic: merge every label into the first category
            (:func:`merge_classes`), as
            ``IntendedProductMetric(class_agnostic=True)``.

    Returns:
        tuple: the result dicts and the set of image ids with an entry.

    Raises:
        ValueError: the file is not such a list, a frame's ``img_id`` is not
            in the ground truth, or a label has no category.
    """
    samples = load(path)
    if not isinstance(samples, (list, tuple)):
        raise ValueError(f'{path}: expected the list of samples that '
                         f'tools/test.py --out writes, got {type(samples)}')
    detections, seen, unknown = [], set(), set()
    for sample in samples:
        for frame in sample_frames(sample):
            if 'img_id' not in frame or 'pred_instances' not in frame:
                raise ValueError(
                    f'{path}: a sample without img_id/pred_instances (keys: '
                    f'{sorted(frame)}); is it a detector\'s test output?')
            img_id = int(frame['img_id'])
            if img_id not in coco_gt.imgs:
                unknown.add(img_id)
                continue
            seen.add(img_id)
            pred = {
                k: torch.as_tensor(np.asarray(v))
                for k, v in frame['pred_instances'].items()
                if k in ('bboxes', 'scores', 'labels')
            }
            if class_agnostic:
                pred = merge_classes(dict(pred_instances=pred))[
                    'pred_instances']
            labels = pred['labels'].long().reshape(-1)
            if len(labels) and int(labels.max()) >= len(cat_ids):
                raise ValueError(
                    f'{path}: image {img_id} has a prediction with class '
                    f'label {int(labels.max())} but the ground truth has '
                    f'{len(cat_ids)} categories; evaluate a detector trained '
                    'on the product categories against the one-class test '
                    'file class-agnostically (--class-agnostic)')
            boxes = pred['bboxes'].double().reshape(-1, 4).numpy().copy()
            boxes[:, 2:] -= boxes[:, :2]
            scores = pred['scores'].reshape(-1).tolist()
            for box, score, label in zip(boxes.tolist(), scores,
                                         labels.tolist()):
                detections.append(
                    dict(image_id=img_id, bbox=box, score=float(score),
                         category_id=cat_ids[label]))
    if unknown:
        shown = sorted(unknown)[:5]
        raise ValueError(
            f'{path}: {len(unknown)} image id(s) are not in the ground truth '
            f'{coco_gt_name(coco_gt)} (e.g. {shown}); were the predictions '
            'made on another test file?')
    return detections, seen


def coco_gt_name(coco_gt: COCO) -> str:
    """The file a ground truth was read from (set by :func:`load_gt`)."""
    return getattr(coco_gt, 'source_file', 'file')


def load_gt(path: str) -> COCO:
    """Read a COCO ground-truth file quietly, remembering its path."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} not found')
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(path)
    coco_gt.source_file = path
    return coco_gt


class ResampledAP:
    """One detector's AP numbers on any multiset of the test frames.

    Args:
        coco_gt: the ground truth.
        detections: COCO result dicts (:func:`load_detections`).
        img_ids: (N,) the test frames; a resample is given as positions
            into this list.
        cat_ids: the evaluated categories.
        splits: split key → its types; a frame's type is its image entry's
            field ``key``.
    """

    def __init__(self,
                 coco_gt: COCO,
                 detections: List[dict],
                 img_ids: Sequence[int],
                 cat_ids: Sequence[int],
                 splits: Dict[str, Sequence[str]] = SPLITS) -> None:
        self.img_ids = [int(i) for i in img_ids]
        if self.img_ids != sorted(set(self.img_ids)):
            raise ValueError('img_ids must be sorted and unique')
        self.num_cats = len(cat_ids)
        self.split_masks = OrderedDict()
        for key, types in splits.items():
            for value in types:
                self.split_masks[f'{key}/{value}/AP50'] = np.array(
                    [coco_gt.imgs[i].get(key) == value for i in self.img_ids],
                    dtype=bool)
        with contextlib.redirect_stdout(io.StringIO()):
            # loadRes numbers the dicts it gets: give it copies.
            coco_dt = coco_gt.loadRes([dict(d) for d in detections]) \
                if detections else self._no_detections(coco_gt)
            ev = COCOeval(coco_gt, coco_dt, 'bbox')
            ev.params.imgIds = self.img_ids
            ev.params.catIds = list(cat_ids)
            # AP over all areas only; the largest maxDets bounds the
            # detections kept per frame.
            ev.params.areaRng = [ev.params.areaRng[0]]
            ev.params.areaRngLbl = [ev.params.areaRngLbl[0]]
            ev.params.maxDets = sorted({SPLIT_MAX_DETS, OVERALL_MAX_DETS})
            ev.evaluate()
        self._ev = ev
        # The split AP50 needs the IoU-0.5 matches only: a copy of the
        # per-frame results restricted to them saves accumulating the other
        # thresholds.
        t50 = np.flatnonzero(ev.params.iouThrs == 0.5)
        self._eval_imgs50 = [
            None if e is None else dict(
                e, dtMatches=e['dtMatches'][t50],
                dtIgnore=e['dtIgnore'][t50]) for e in ev.evalImgs
        ]

    @staticmethod
    def _no_detections(coco_gt: COCO) -> COCO:
        empty = COCO()
        empty.dataset = dict(
            images=list(coco_gt.dataset['images']), annotations=[],
            categories=copy.deepcopy(coco_gt.dataset['categories']))
        empty.createIndex()
        return empty

    def _accumulate(self, positions: np.ndarray, max_dets: int,
                    iou50_only: bool = False) -> np.ndarray:
        """COCOeval precision (T, R, K) of the frames at ``positions`` (a
        frame repeated counts once per occurrence), at every IoU threshold
        or (``iou50_only``) at 0.5 only (T = 1)."""
        base = self._ev
        eval_imgs = self._eval_imgs50 if iou50_only else base.evalImgs
        n = len(self.img_ids)
        params = copy.copy(base.params)
        params.imgIds = list(range(len(positions)))
        params.maxDets = [max_dets]
        if iou50_only:
            params.iouThrs = np.array([0.5])
        ev = copy.copy(base)
        ev.params = params
        ev._paramsEval = params
        ev.evalImgs = [
            eval_imgs[k * n + i] for k in range(self.num_cats)
            for i in positions.tolist()
        ]
        with contextlib.redirect_stdout(io.StringIO()):
            ev.accumulate()
        return ev.eval['precision'][:, :, :, 0, 0]

    @staticmethod
    def _ap(precision: np.ndarray) -> float:
        """COCOeval.summarize's AP from precision (T, R, K): the mean over
        IoU thresholds, recall thresholds and categories with GT; 0 when no
        frame has a GT box (as the metric reports)."""
        valid = precision[precision > -1]
        return float(max(valid.mean(), 0.0)) if valid.size else 0.0

    def compute(self, positions: Optional[np.ndarray] = None
                ) -> 'OrderedDict[str, float]':
        """The metric's numbers on a resample.

        Args:
            positions: (M,) positions into ``img_ids``, repeats allowed; all
                frames once by default.

        Returns:
            OrderedDict: :func:`metric_keys` → value in [0, 1] (NaN for a
            split without a frame in the resample).
        """
        if positions is None:
            positions = np.arange(len(self.img_ids))
        # Frame order decides ties between equal scores; sorted positions
        # reproduce the metric's order (sorted image ids) on all frames.
        positions = np.sort(np.asarray(positions, dtype=np.int64))
        out = OrderedDict()
        precision = self._accumulate(positions, OVERALL_MAX_DETS)
        thrs = self._ev.params.iouThrs
        out['AP'] = self._ap(precision)
        out['AP50'] = self._ap(precision[thrs == 0.5])
        out['AP75'] = self._ap(precision[thrs == 0.75])
        for key, mask in self.split_masks.items():
            sub = positions[mask[positions]]
            out[key] = self._ap(self._accumulate(
                sub, SPLIT_MAX_DETS, iou50_only=True)) if len(sub) \
                else float('nan')
        return out


def resample_positions(groups: Sequence, num_samples: int,
                       seed: int = 0) -> List[np.ndarray]:
    """Bootstrap resamples of frames, drawn in groups.

    Args:
        groups: (N,) the group of each frame: all distinct to draw frames,
            the clip of each frame to draw whole clips.
        num_samples: S, the number of resamples.
        seed: the random seed.

    Returns:
        list: S arrays of frame positions (N of them when drawing frames;
        the frames of as many clips as there are clips otherwise).
    """
    _, inverse = np.unique(np.asarray(groups), return_inverse=True)
    inverse = inverse.reshape(-1)
    counts = np.bincount(inverse)
    order = np.argsort(inverse, kind='stable')
    draws = bootstrap_indices(len(counts), num_samples, seed)
    if (counts == 1).all():
        return [order[row] for row in draws]
    members = np.split(order, np.cumsum(counts)[:-1])
    return [np.concatenate([members[g] for g in row]) for row in draws]


def percentile_interval(samples: np.ndarray, level: float = 0.95
                        ) -> Tuple[np.ndarray, np.ndarray]:
    """(K,) lower and upper percentile bounds of (S, K) samples, ignoring
    NaN (a resample without a frame of a split); NaN where all are."""
    alpha = (1.0 - level) / 2
    lo = np.full(samples.shape[1], np.nan)
    hi = np.full(samples.shape[1], np.nan)
    for k in range(samples.shape[1]):
        col = samples[:, k]
        col = col[~np.isnan(col)]
        if col.size:
            lo[k], hi[k] = np.quantile(col, [alpha, 1 - alpha])
    return lo, hi


def bootstrap_ap(evaluators: Dict[str, ResampledAP],
                 resamples: Sequence[np.ndarray],
                 diffs: Sequence[Tuple[str, str]] = (),
                 level: float = 0.95,
                 progress: Optional[Callable[[], None]] = None) -> dict:
    """Estimates and percentile intervals of every detector's numbers and of
    paired differences, on the same resamples.

    Args:
        evaluators: name → its :class:`ResampledAP` (same ``img_ids``).
        resamples: S arrays of frame positions
            (:func:`resample_positions`).
        diffs: (A, B) pairs; each gives A − B.
        level: coverage of the intervals.
        progress: called after each resample.

    Returns:
        dict: ``detectors``: name → key → dict(est, lo, hi); ``diffs``:
        ``'A-B'`` → key → dict(est, lo, hi); ``samples``: name → (S, K)
        array; values in [0, 1].
    """
    ids = [ev.img_ids for ev in evaluators.values()]
    if any(i != ids[0] for i in ids):
        raise ValueError('all detectors must be evaluated on the same frames')
    for a, b in diffs:
        for name in (a, b):
            if name not in evaluators:
                raise KeyError(f'{name!r} (in {a}-{b}) is not a detector; '
                               f'known: {sorted(evaluators)}')
    est = {name: ev.compute() for name, ev in evaluators.items()}
    keys = list(next(iter(est.values())))
    samples = {name: [] for name in evaluators}
    for positions in resamples:
        for name, ev in evaluators.items():
            samples[name].append(list(ev.compute(positions).values()))
        if progress is not None:
            progress()
    samples = {
        name: np.asarray(rows, dtype=np.float64).reshape(-1, len(keys))
        for name, rows in samples.items()
    }

    def summary(point: Sequence[float], table: np.ndarray) -> dict:
        lo, hi = percentile_interval(table, level)
        return OrderedDict(
            (k, dict(est=float(p), lo=float(lo_), hi=float(hi_)))
            for k, p, lo_, hi_ in zip(keys, point, lo, hi))

    out = dict(detectors=OrderedDict(), diffs=OrderedDict(), samples=samples)
    for name in evaluators:
        out['detectors'][name] = summary(list(est[name].values()),
                                         samples[name])
    for a, b in diffs:
        point = np.subtract(list(est[a].values()), list(est[b].values()))
        out['diffs'][f'{a}-{b}'] = summary(point, samples[a] - samples[b])
    return out
