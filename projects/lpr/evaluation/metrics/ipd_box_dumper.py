"""Write a detector's per-frame boxes as the retriever's box file."""
import json
import os
import os.path as osp
from typing import Dict, Optional, Sequence

from mmengine.evaluator import BaseMetric
from mmengine.fileio import get_local_path
from mmengine.logging import MMLogger
from mmdet.registry import METRICS

from .ipd_metric import sample_frames


@METRICS.register_module()
class IPDBoxDumper(BaseMetric):
    """Collect predicted boxes and write ``{frame_id: [[x1, y1, x2, y2],
    ...]}`` (normalised, like ``test_frameid2gtbox``), the file that
    ``LPR4MQueryDataset(box_file=...)`` reads.

    Frame ids, widths and heights come from the COCO file written by
    ``lpr4m_to_coco.py`` (``frame_name`` of each image). Frames without a
    box above ``score_thr`` are left out (the retriever then uses the whole
    frame).

    Args:
        ann_file: the COCO file of the frames.
        out_file: the JSON to write.
        score_thr: keep boxes scoring at least this.
    """

    default_prefix: Optional[str] = 'ipd_boxes'

    def __init__(self,
                 ann_file: str,
                 out_file: str,
                 score_thr: float = 0.0,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.ann_file = ann_file
        self.out_file = out_file
        self.score_thr = score_thr

    def process(self, data_batch: dict, data_samples: Sequence) -> None:
        # One entry per dataset item (a frame or a clip's frames).
        for sample in data_samples:
            group = []
            for frame in sample_frames(sample):
                pred = frame['pred_instances']
                keep = pred['scores'] >= self.score_thr
                group.append(
                    (frame['img_id'], pred['bboxes'][keep].cpu().tolist()))
            self.results.append(group)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        results = [frame for group in results for frame in group]
        with get_local_path(self.ann_file) as path, \
                open(path, encoding='utf-8') as f:
            images = {im['id']: im for im in json.load(f)['images']}
        boxes = {}
        for img_id, frame_boxes in results:
            im = images[img_id]
            w, h = im['width'], im['height']
            norm = [[
                round(min(max(x1 / w, 0.0), 1.0), 5),
                round(min(max(y1 / h, 0.0), 1.0), 5),
                round(min(max(x2 / w, 0.0), 1.0), 5),
                round(min(max(y2 / h, 0.0), 1.0), 5)
            ] for x1, y1, x2, y2 in frame_boxes]
            if norm:
                boxes[im['frame_name']] = norm
        os.makedirs(osp.dirname(osp.abspath(self.out_file)), exist_ok=True)
        with open(self.out_file, 'w', encoding='utf-8') as f:
            json.dump(boxes, f)
        MMLogger.get_current_instance().info(
            f'{len(boxes)} frames with boxes of {len(results)} → '
            f'{self.out_file}')
        return dict(frames=len(results), frames_with_boxes=len(boxes))
