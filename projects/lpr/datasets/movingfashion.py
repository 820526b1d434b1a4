"""MovingFashion (Godi et al., WACV 2022) for video-to-shop retrieval.

``train.json`` / ``test.json`` map a product key to
``{"img_path", "video_paths": [...], "source"}`` (source 0 = hard, 1 =
regular). Frames come either from mp4 videos, decoded in the pipeline with
:class:`~lpr.datasets.transforms.LoadVideoFrames` (OpenCV, decord or PyAV
through mmaction2), or from pre-extracted 1-fps frame folders
``<frame_root>/<video_id>/<video_id>_0001.png`` (RICE's preparation). Its
protocol ranks each query against the whole test gallery (one GT image per
query), so every sample carries the same ``live_id``.
"""
import glob
import json
import logging
import os.path as osp
from typing import Dict, List, Optional

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log
from mmpretrain.registry import DATASETS

from .annotations import AnnotationError, ParseReport
from .frame_store import FolderStore, MappingStore
from .lpr4m import _log_skipped, _StoresMixin, build_pipeline

GALLERY_GROUP = 'movingfashion'


def _stem(path: str) -> str:
    return osp.splitext(osp.basename(path))[0]


def _load_split(path: str, strict: bool = True,
                report: Optional[ParseReport] = None) -> Dict[str, dict]:
    """Read ``train.json``/``test.json``; a malformed product raises
    (``strict``) or is left out and counted in ``report``."""
    with open(path, encoding='utf-8') as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise AnnotationError(path, e.lineno, e.msg) from None
    if not isinstance(data, dict):
        raise AnnotationError(path, None, 'expected a JSON object of products')
    report = report if report is not None else ParseReport()
    kept = {}
    for key, entry in data.items():
        report.rows += 1
        if not isinstance(entry, dict) or \
                not isinstance(entry.get('img_path'), str) or \
                not isinstance(entry.get('video_paths'), list) or \
                not all(isinstance(v, str) for v in entry['video_paths']):
            err = AnnotationError(
                path, None, f'product {key!r} needs an img_path string and '
                'a video_paths list of strings')
            if strict:
                raise err
            report.add(err)
            continue
        kept[key] = entry
    return kept


@DATASETS.register_module()
class MovingFashionDataset(_StoresMixin, BaseDataset):
    """MovingFashion clips: one sample per (product, video).

    Training samples pair a video with its product image; test samples are
    the queries (``test.json`` has exactly one video per product) with
    ``gt_image_ids = [their image]``.

    Args:
        ann_file: ``train.json`` or ``test.json`` (relative to data_root).
        data_root: the dataset root (``videos/``, ``imgs/``, the JSONs).
        frame_root: pre-extracted frame folders; ``None`` decodes videos.
        frame_ext: extension of pre-extracted frames.
        strict: raise on a malformed product entry, or skip and count it
            (:attr:`parse_report`), as the LPR4M datasets.
        **kwargs: :class:`mmengine.dataset.BaseDataset` arguments.
    """

    METAINFO = dict(dataset='MovingFashion')

    def __init__(self,
                 ann_file: str = 'train.json',
                 data_root: str = '',
                 frame_root: Optional[str] = None,
                 frame_ext: str = '.png',
                 strict: bool = True,
                 **kwargs) -> None:
        self.strict = strict
        self.parse_report = ParseReport()
        self.frame_root = (
            osp.join(data_root, frame_root)
            if frame_root and data_root and not osp.isabs(frame_root) else
            frame_root)
        self.frame_ext = frame_ext
        if self.frame_root:
            self.frame_store = FolderStore(
                self.frame_root, 'clip', ext=frame_ext, sep='_')
        kwargs['pipeline'] = build_pipeline(kwargs.get('pipeline'))
        super().__init__(ann_file=ann_file, data_root=data_root, **kwargs)

    def load_data_list(self) -> List[dict]:
        self.parse_report = ParseReport()
        data = _load_split(self.ann_file, self.strict, self.parse_report)
        _log_skipped(self.parse_report, 'MovingFashion')
        root = self.data_root
        images = {}
        data_list, no_frames = [], 0
        for key, entry in data.items():
            image_id = _stem(entry['img_path'])
            images[image_id] = osp.join(root, entry['img_path'])
            for video in entry['video_paths']:
                video_id = _stem(video)
                info = dict(
                    clip_id=video_id,
                    live_id=GALLERY_GROUP,
                    product_key=key,
                    image_id=image_id,
                    gt_image_ids=[image_id],
                    source=entry.get('source'),
                    filename=osp.join(root, video))
                if self.frame_root:
                    frames = sorted(
                        _stem(p) for p in glob.glob(
                            osp.join(self.frame_root, video_id,
                                     f'*{self.frame_ext}')))
                    no_frames += not frames
                    info['frame_ids'] = frames
                data_list.append(info)
        self.image_store = MappingStore(images)
        if no_frames:
            print_log(
                f'{no_frames} MovingFashion videos have no extracted frame',
                logger='current',
                level=logging.WARNING)
        return data_list

    def get_data_info(self, idx: int) -> dict:
        return self._with_stores(super().get_data_info(idx))


@DATASETS.register_module()
class MovingFashionGalleryDataset(_StoresMixin, BaseDataset):
    """The MovingFashion test gallery: one sample per test entry's shop
    image (duplicates kept, as in the RICE protocol, unless
    ``deduplicate=True``), all in one gallery group.

    Args:
        ann_file: ``test.json``.
        data_root: the dataset root.
        deduplicate: keep each image once.
        strict: raise on a malformed product entry, or skip and count it
            (:attr:`parse_report`).
        **kwargs: :class:`mmengine.dataset.BaseDataset` arguments.
    """

    METAINFO = dict(dataset='MovingFashion', role='gallery')

    def __init__(self,
                 ann_file: str = 'test.json',
                 data_root: str = '',
                 deduplicate: bool = False,
                 strict: bool = True,
                 **kwargs) -> None:
        self.deduplicate = deduplicate
        self.strict = strict
        self.parse_report = ParseReport()
        kwargs.setdefault('test_mode', True)
        kwargs['pipeline'] = build_pipeline(kwargs.get('pipeline'))
        super().__init__(ann_file=ann_file, data_root=data_root, **kwargs)

    def load_data_list(self) -> List[dict]:
        self.parse_report = ParseReport()
        data = _load_split(self.ann_file, self.strict, self.parse_report)
        _log_skipped(self.parse_report, 'MovingFashion gallery')
        paths, data_list, seen = {}, [], set()
        for entry in data.values():
            image_id = _stem(entry['img_path'])
            if self.deduplicate and image_id in seen:
                continue
            seen.add(image_id)
            paths[image_id] = osp.join(self.data_root, entry['img_path'])
            data_list.append(
                dict(
                    image_id=image_id,
                    live_id=GALLERY_GROUP,
                    source=entry.get('source')))
        self.image_store = MappingStore(paths)
        missing = [d['image_id'] for d in data_list
                   if not osp.isfile(paths[d['image_id']])]
        if missing:
            raise FileNotFoundError(
                f'{len(missing)} MovingFashion gallery images are missing '
                f'(first: {paths[missing[0]]})')
        return data_list

    def get_data_info(self, idx: int) -> dict:
        return self._with_stores(super().get_data_info(idx))
