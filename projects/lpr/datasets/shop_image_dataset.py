import os.path as osp
from typing import List, Optional, Sequence, Union

import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

from .categories import class_names, load_categories
from .clip_index import ClipIndex


@DATASETS.register_module()
class LPR4MShopImageDataset(BaseDataset):
    """Shop images of the LPR4M training videoinfo files, labelled with their
    category (34 classes): a plain image-classification view of LPR4M for
    backbone sanity checks and category pre-training.

    Each distinct ``image_id`` of the videoinfo rows gives one sample
    ``dict(img_path, gt_label, image_id)``; the label is the category id of
    the rows. Class names are the rows' category names (``classes[id]``)
    unless ``metainfo`` gives them.

    Args:
        ann_file: a videoinfo file, a glob of part files, or a list.
        data_root: the dataset root.
        data_prefix: ``dict(img_path=...)``, the folder of ``<image_id>.jpg``
            relative to ``data_root``.
        strict: raise on a malformed annotation row, or skip and count it.
        **kwargs: forwarded to :class:`mmpretrain.datasets.BaseDataset`.
    """
    METAINFO = dict(classes=())

    def __init__(self,
                 ann_file: Union[str, Sequence[str]],
                 data_root: str = '',
                 data_prefix: Union[str, dict] = dict(
                     img_path='training_images'),
                 strict: bool = True,
                 **kwargs):
        self.strict = strict
        self.skipped_rows = 0
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            data_prefix=data_prefix,
            **kwargs)

    def _join_prefix(self):
        # ``ann_file`` may be a list or a glob: join each with data_root.
        ann = self.ann_file
        if self.data_root:
            join = (lambda p: p if osp.isabs(p) else osp.join(
                self.data_root, p))
            ann = [join(p) for p in ann] if isinstance(ann, (list, tuple)) \
                else join(ann)
        self.ann_file, saved = '', ann
        super()._join_prefix()
        self.ann_file = saved

    def load_data_list(self) -> List[dict]:
        index = ClipIndex.from_files(self.ann_file, max_frames=1,
                                     strict=self.strict)
        self.skipped_rows = index.report.skipped
        # Image ids are numbered in order of first appearance; the first row
        # of each image gives its category.
        _, first_row = np.unique(index.arrays['image'], return_index=True)
        categories = index.arrays['category'][first_row]
        if not self._metainfo.get('classes'):
            self._metainfo['classes'] = class_names(
                load_categories(self.ann_file, ids=np.unique(categories)))
        prefix: Optional[str] = self.data_prefix.get('img_path', '')
        return [
            dict(
                img_path=osp.join(prefix, f'{image_id}.jpg'),
                gt_label=int(cat),
                image_id=image_id)
            for image_id, cat in zip(index.images, categories)
        ]
