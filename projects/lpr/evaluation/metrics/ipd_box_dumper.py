"""Write a detector's per-frame boxes as the retriever's box file."""
import json
import os
import os.path as osp
from typing import Dict, Optional, Sequence

from mmengine.evaluator import BaseMetric
from mmengine.fileio import get_local_path
from mmengine.logging import MMLogger
from mmdet.registry import METRICS

from .ipd_metric import merge_classes, sample_frames


@METRICS.register_module()
class IPDBoxDumper(BaseMetric):
    """Collect predicted boxes and write ``{frame_id: [[x1, y1, x2, y2],
    ...]}`` (normalised, like ``test_frameid2gtbox``).

    With the default ``max_per_frame=1`` it is the retriever's box input
    (``LPR4MQueryDataset(box_file=...)``): each frame's best box, the
    intended product. With ``max_per_frame=None`` and a ``score_thr`` it
    holds every box above the score, the source of the number-of-products
    split (``lpr4m_to_coco.py --product-number-boxes``).

    A box predicted for several classes (a DETR query's top-k entries) is
    one box. Frame ids, widths and heights come from the COCO file written
    by ``lpr4m_to_coco.py`` (``frame_name`` of each image). Frames without
    a box above ``score_thr`` are left out (the retriever then uses the
    whole frame).

    Args:
        ann_file: the COCO file of the frames.
        out_file: the JSON to write.
        score_thr: keep boxes scoring at least this.
        max_per_frame: keep at most this many best-scoring boxes per frame;
            ``None`` keeps all.
    """

    default_prefix: Optional[str] = 'ipd_boxes'

    def __init__(self,
                 ann_file: str,
                 out_file: str,
                 score_thr: float = 0.0,
                 max_per_frame: Optional[int] = 1,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.ann_file = ann_file
        self.out_file = out_file
        if max_per_frame is not None and max_per_frame < 1:
            raise ValueError('max_per_frame must be at least 1 or None (all '
                             f'boxes), got {max_per_frame}')
        self.score_thr = score_thr
        self.max_per_frame = max_per_frame

    def process(self, data_batch: dict, data_samples: Sequence) -> None:
        # One entry per dataset item (a frame or a clip's frames).
        for sample in data_samples:
            group = []
            for frame in sample_frames(sample):
                # Best first; a box predicted for several classes once.
                pred = merge_classes(frame)['pred_instances']
                keep = pred['scores'] >= self.score_thr
                boxes = pred['bboxes'][keep][:self.max_per_frame]
                group.append((frame['img_id'], boxes.cpu().tolist()))
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
