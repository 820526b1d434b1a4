"""mmdet datasets over the COCO/CocoVID files of ``lpr4m_to_coco.py``."""
import json
from typing import List

from mmdet.datasets import BaseVideoDataset, CocoDataset
from mmdet.registry import DATASETS
from mmengine.fileio import get_local_path


class _ClassesFromFileMixin:
    """Take the class names from the file's ``categories`` (34 categories
    or one "intended product") unless ``metainfo`` gives them."""

    METAINFO = dict(classes=())

    def load_data_list(self) -> List[dict]:
        if not self._metainfo.get('classes'):
            with get_local_path(self.ann_file) as path, \
                    open(path, encoding='utf-8') as f:
                cats = json.load(f)['categories']
            self._metainfo['classes'] = tuple(
                c['name'] for c in sorted(cats, key=lambda c: c['id']))
        return super().load_data_list()


@DATASETS.register_module()
class LPR4MDetDataset(_ClassesFromFileMixin, CocoDataset):
    """LPR4M frames with their intended-product boxes, for the single-frame
    detector. Frames without a box are kept (``filter_cfg`` to drop them).
    """


@DATASETS.register_module()
class LPR4MVideoDetDataset(_ClassesFromFileMixin, BaseVideoDataset):
    """LPR4M clips (CocoVID videos) for the multi-frame detector; use with
    ``ClipFrameSample``. Frames without a box are kept."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault('filter_cfg', dict(filter_empty_gt=False))
        super().__init__(*args, **kwargs)
