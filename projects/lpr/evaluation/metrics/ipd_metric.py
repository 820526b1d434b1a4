"""Intended-product detection AP, overall and per diversity split."""
import contextlib
import io
import os.path as osp
import tempfile
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmdet.datasets.api_wrappers import COCO, COCOeval
from mmdet.evaluation.metrics import CocoMetric
from mmdet.registry import METRICS
from mmengine.fileio import load
from mmengine.logging import MMLogger

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


@METRICS.register_module()
class IntendedProductMetric(CocoMetric):
    """COCO box AP / AP50 / AP75 over all frames, and AP50 per diversity
    split (product scale, visible duration, number of products; each frame
    takes its clip's type from the COCO file written by
    ``lpr4m_to_coco.py``).

    Accepts per-frame ``DetDataSample``\\ s (single-frame detector) and
    per-clip ``TrackDataSample``\\ s (multi-frame detector) alike.

    Args:
        ann_file: the COCO file of the evaluated frames (it holds the
            split types).
        splits: split key → its types, in table order.
        **kwargs: :class:`mmdet.evaluation.CocoMetric` arguments.
    """

    default_prefix: Optional[str] = 'ipd'

    def __init__(self,
                 ann_file: str,
                 splits: Dict[str, Sequence[str]] = SPLITS,
                 **kwargs) -> None:
        kwargs.setdefault('metric', 'bbox')
        super().__init__(ann_file=ann_file, **kwargs)
        self.splits = splits

    def process(self, data_batch: dict, data_samples: Sequence) -> None:
        """One entry per sample (a frame, or a clip's frames): results are
        collected per dataset item, so a clip must stay one entry."""
        for sample in data_samples:
            start = len(self.results)
            super().process(data_batch, sample_frames(sample))
            group = self.results[start:]
            del self.results[start:]
            self.results.append(group)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        results = [frame for group in results for frame in group]
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
        out = OrderedDict(
            AP=metrics['bbox_mAP'],
            AP50=metrics['bbox_mAP_50'],
            AP75=metrics['bbox_mAP_75'])
        frame_ids = [gt['img_id'] for gt, _ in results]
        for key, types in self.splits.items():
            for value in types:
                ids = [
                    i for i in frame_ids
                    if self._coco_api.imgs[i].get(key) == value
                ]
                out[f'{key}/{value}/AP50'] = self.calculate(
                    self._coco_api, coco_dt, ids, self.cat_ids)[1]
                out[f'{key}/{value}/frames'] = len(ids)
        MMLogger.get_current_instance().info(self.table(out, self.splits))
        return out

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
        return ('\n| ' + ' | '.join(head) + ' |\n|' + ' --- |' * len(head) +
                '\n| ' + fmt + ' |')
