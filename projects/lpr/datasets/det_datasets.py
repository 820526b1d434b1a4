"""mmdet datasets over the COCO/CocoVID files of ``lpr4m_to_coco.py``."""
import json
import os.path as osp
from typing import List

from mmdet.datasets import BaseVideoDataset, CocoDataset
from mmdet.registry import DATASETS
from mmengine.fileio import get_local_path

from .det_coco import missing_file_message


class _ClassesFromFileMixin:
    """Take the class names from the file's ``categories`` (the product
    categories or one "intended product") unless ``metainfo`` gives them.
    A missing local file is an error that says how to write it (or, for a
    test file with categories, which the release cannot give, what to
    evaluate on instead)."""

    METAINFO = dict(classes=())

    def load_data_list(self) -> List[dict]:
        if '://' not in self.ann_file and not osp.isfile(self.ann_file):
            raise FileNotFoundError(missing_file_message(self.ann_file))
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
