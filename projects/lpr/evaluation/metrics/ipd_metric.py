"""Intended-product detection AP, overall and per diversity split."""
import contextlib
import io
import os.path as osp
import tempfile
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmdet.datasets.api_wrappers import COCO, COCOeval
from mmdet.evaluation.metrics import CocoMetric
from mmdet.registry import METRICS
from mmengine.fileio import load
from mmengine.logging import MMLogger

from ...datasets.det_coco import missing_file_message
from ...datasets.diversity import DURATION_TYPES, NUMBER_TYPES, SCALE_TYPES

SPLITS = OrderedDict(
    product_scale=SCALE_TYPES,
    visible_duration=DURATION_TYPES,
    product_number=NUMBER_TYPES)


def sample_frames(sample: dict) -> List[dict]:
    """The frames of an evaluated sample as dicts: the sample itself (a
    ``DetDataSample``) or the frames of a clip (a ``TrackDataSample``)."""
    frames = sample.get('video_data_samples') or [sample]
    return [f.to_dict() if hasattr(f, 'to_dict') else f for f in frames]


def merge_classes(frame: dict) -> dict:
    """A frame's predictions as one "intended product" class: label 0, and
    a box predicted for several classes (a DETR query's top-k entries share
    its box) kept once with its best score, in descending score order.

    Args:
        frame: a frame sample dict whose ``pred_instances`` has ``bboxes``
            (N, 4), ``scores`` (N,) and ``labels`` (N,).

    Returns:
        dict: a copy with the merged (M, 4) / (M,) / (M,) predictions.
    """
    pred = frame['pred_instances']
    bboxes, scores = pred['bboxes'], pred['scores']
    if len(bboxes):
        unique, inverse = torch.unique(bboxes, dim=0, return_inverse=True)
        best = scores.new_full((len(unique), ), -float('inf'))
        best = best.scatter_reduce(0, inverse, scores, 'amax')
        order = best.argsort(descending=True)
        bboxes, scores = unique[order], best[order]
    labels = torch.zeros(len(bboxes), dtype=torch.long,
                         device=bboxes.device)
    return dict(
        frame,
        pred_instances=dict(
            pred, bboxes=bboxes, scores=scores, labels=labels))


def top1_detections(detections: List[dict]) -> List[dict]:
    """The best-scoring detection of each image (COCO result dicts), as
    copies: ``COCO.loadRes`` renumbers the ``id`` of the dicts it is given,
    which would break the index of results already loaded from them."""
    best: Dict[int, dict] = {}
    for det in detections:
        kept = best.get(det['image_id'])
        if kept is None or det['score'] > kept['score']:
            best[det['image_id']] = det
    return [dict(det) for det in best.values()]


@METRICS.register_module()
class IntendedProductMetric(CocoMetric):
    """COCO box AP / AP50 / AP75 over all frames, and AP50 per diversity
    split (product scale, visible duration, number of products; each frame
    takes its clip's type from the COCO file written by
    ``lpr4m_to_coco.py``, whose ``info['split_sources']`` is logged).

    AP is computed on every box the detector gives per frame (its
    ``max_per_img``, as COCO AP expects); ``top1/AP``, ``top1/AP50`` and
    ``top1/AP75`` keep only each frame's best box (the retriever's box
    input), and ``top1/max_recall`` is the share of GT boxes one box per
    frame can match at most (frames with a GT box / GT boxes).

    Accepts per-frame ``DetDataSample``\\ s (single-frame detector) and
    per-clip ``TrackDataSample``\\ s (multi-frame detector) alike.

    Args:
        ann_file: the COCO file of the evaluated frames (it holds the
            split types).
        splits: split key → its types, in table order.
        class_agnostic: evaluate every prediction as the one "intended
            product" class (:func:`merge_classes`): a detector trained on
            the product categories against the release's one-class test
            file, the paper's intended-product AP.
        **kwargs: :class:`mmdet.evaluation.CocoMetric` arguments.

    Raises:
        FileNotFoundError: ``ann_file`` is missing (the message says how to
            write it).
    """

    default_prefix: Optional[str] = 'ipd'

    def __init__(self,
                 ann_file: str,
                 splits: Dict[str, Sequence[str]] = SPLITS,
                 class_agnostic: bool = False,
                 **kwargs) -> None:
        kwargs.setdefault('metric', 'bbox')
        if '://' not in ann_file and not osp.isfile(ann_file):
            raise FileNotFoundError(missing_file_message(ann_file))
        super().__init__(ann_file=ann_file, **kwargs)
        self.ann_file = ann_file
        self.splits = splits
        self.class_agnostic = class_agnostic

    def process(self, data_batch: dict, data_samples: Sequence) -> None:
        """One entry per sample (a frame, or a clip's frames): results are
        collected per dataset item, so a clip must stay one entry."""
        for sample in data_samples:
            start = len(self.results)
            frames = sample_frames(sample)
            if self.class_agnostic:
                frames = [merge_classes(f) for f in frames]
            super().process(data_batch, frames)
            group = self.results[start:]
            del self.results[start:]
            self.results.append(group)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        results = [frame for group in results for frame in group]
        self._check_labels(results)
        user_prefix = self.outfile_prefix
        with tempfile.TemporaryDirectory() as tmp, \
                contextlib.redirect_stdout(io.StringIO()):
            # CocoMetric writes the detections (results2json); the split
            # AP reads them back instead of converting them again.
            self.outfile_prefix = user_prefix or osp.join(tmp, 'results')
            try:
                metrics = super().compute_metrics(results)
                detections = load(f'{self.outfile_prefix}.bbox.json')
            finally:
                self.outfile_prefix = user_prefix
            coco_dt = self._coco_api.loadRes(detections) \
                if detections else None
            coco_top1 = self._coco_api.loadRes(
                top1_detections(detections)) if detections else None
        out = OrderedDict(
            AP=metrics['bbox_mAP'],
            AP50=metrics['bbox_mAP_50'],
            AP75=metrics['bbox_mAP_75'])
        frame_ids = [gt['img_id'] for gt, _ in results]
        top1 = self.calculate(self._coco_api, coco_top1, frame_ids,
                              self.cat_ids)
        for name, value in zip(('AP', 'AP50', 'AP75'), top1):
            out[f'top1/{name}'] = value
        out['top1/max_recall'] = self.max_recall(self._coco_api, frame_ids)
        for key, types in self.splits.items():
            for value in types:
                ids = [
                    i for i in frame_ids
                    if self._coco_api.imgs[i].get(key) == value
                ]
                out[f'{key}/{value}/AP50'] = self.calculate(
                    self._coco_api, coco_dt, ids, self.cat_ids)[1]
                out[f'{key}/{value}/frames'] = len(ids)
        sources = self._coco_api.dataset.get('info', {}).get(
            'split_sources', {})
        MMLogger.get_current_instance().info(
            self.table(out, self.splits) + '\n' + ''.join(
                f'{key} types from {src}\n'
                for key, src in sources.items()))
        return out

    def _check_labels(self, results: list) -> None:
        num_classes = len(self.dataset_meta['classes'])
        for _, pred in results:
            labels = pred['labels']
            if len(labels) and int(labels.max()) >= num_classes:
                raise ValueError(
                    f'a prediction has class label {int(labels.max())} but '
                    f'{self.ann_file} has {num_classes} categories: evaluate '
                    'a detector trained on the product categories on the '
                    'one-class test file with '
                    'IntendedProductMetric(class_agnostic=True)')

    @staticmethod
    def max_recall(coco_gt: COCO, img_ids: Sequence[int]) -> float:
        """Share of the GT boxes of ``img_ids`` that one box per frame can
        match at most: frames with a GT box / GT boxes (NaN without GT)."""
        per_frame = [
            sum(1 for a in coco_gt.imgToAnns.get(i, []) if not a['iscrowd'])
            for i in img_ids
        ]
        total = sum(per_frame)
        if not total:
            return float('nan')
        return sum(1 for n in per_frame if n) / total

    @staticmethod
    def calculate(coco_gt: COCO, coco_dt: Optional[COCO],
                  img_ids: Sequence[int], cat_ids: Sequence[int]) -> tuple:
        """(AP, AP50, AP75) of the detections ``coco_dt`` on the frames
        ``img_ids`` (NaN when no frame, 0 when no detection there)."""
        if not img_ids:
            return (float('nan'), ) * 3
        if coco_dt is None:
            return (0.0, ) * 3
        with contextlib.redirect_stdout(io.StringIO()):
            ev = COCOeval(coco_gt, coco_dt, 'bbox')
            ev.params.imgIds = list(img_ids)
            ev.params.catIds = list(cat_ids)
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        return tuple(float(max(v, 0.0)) for v in ev.stats[:3])

    @staticmethod
    def table(results: Dict[str, float],
              splits: Dict[str, Sequence[str]]) -> str:
        """The supplementary's layout: AP, AP50, AP75, then AP50 per split
        (percent)."""
        head = ['AP', 'AP50', 'AP75']
        cells = [results[h] for h in head]
        for key, types in splits.items():
            for value in types:
                head.append(f'{key.split("_")[-1]}:{value}')
                cells.append(results[f'{key}/{value}/AP50'])
        fmt = ' | '.join(
            '  -' if np.isnan(c) else f'{100 * c:.1f}' for c in cells)
        table = ('\n| ' + ' | '.join(head) + ' |\n|' + ' --- |' * len(head) +
                 '\n| ' + fmt + ' |')
        if 'top1/AP' in results:
            table += ('\nbest box per frame only: AP {:.1f} | AP50 {:.1f} | '
                      'AP75 {:.1f} (at most {:.1f} % of the GT boxes '
                      'matchable)'.format(
                          *(100 * results[f'top1/{k}']
                            for k in ('AP', 'AP50', 'AP75', 'max_recall'))))
        return table
