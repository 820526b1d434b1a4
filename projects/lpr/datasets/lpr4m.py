"""LPR4M retrieval datasets: training clip-image pairs, test queries and the
per-livestream test gallery.

All three read the official annotation files (see
:mod:`lpr.datasets.annotations`) and put a frame store and/or an image store
into every sample, so the loading transforms work the same on id-named
folders and on img2dataset shards.
"""
import glob
import hashlib
import json
import logging
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Union

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log
from mmengine.registry import DefaultScope
from mmpretrain.registry import DATASETS, TRANSFORMS

from .annotations import (AnnotationError, ParseReport, decode_utf8,
                          expand_paths, find_annotation, load_box_file,
                          load_diversity, load_gallery, load_gt_images,
                          load_id_text_pairs)
from .boxes import check_box_format, normalise_frame_boxes
from .clip_index import INDEX_VERSION, ClipIndex
from .drops import MAX_DROP_RATIO
from .frame_store import StoreCfg, build_store, probe_image
from .ids import parse_clip_id, parse_frame_id

AnnFiles = Union[str, Sequence[str]]
# Diversity types in samples (``scale`` would clash with mmcv's Resize key).
DIVERSITY_KEYS = dict(
    scale='product_scale',
    duration='visible_duration',
    num_products='product_number')


def _join(root: str, path: Optional[str]) -> Optional[str]:
    if path is None or not root or osp.isabs(path):
        return path
    return osp.join(root, path)


def resolve_box_file(data_root: str, box_file: Optional[str]) -> Optional[str]:
    """Find a predicted-box JSON: an absolute path, or a relative one under
    ``data_root`` or else in the working directory.

    Raises:
        FileNotFoundError: naming every place it looked.
    """
    if box_file is None:
        return None
    if osp.isabs(box_file):
        if osp.isfile(box_file):
            return box_file
        raise FileNotFoundError(f'box_file {box_file} not found')
    places = [('under data_root', osp.join(data_root, box_file))
              ] if data_root else []
    places.append(('in the working directory', osp.abspath(box_file)))
    for _, path in places:
        if osp.isfile(path):
            return path
    looked = ' and '.join(f'{where} ({path})' for where, path in places)
    raise FileNotFoundError(f'box_file {box_file!r} not found: looked '
                            f'{looked}')


def _merge_reports(into: ParseReport, other: ParseReport) -> None:
    into.rows += other.rows
    into.skipped += other.skipped
    into.messages.extend(other.messages[:max(0, 20 - len(into.messages))])


def _log_skipped(report: ParseReport, what: str) -> None:
    if report.skipped:
        print_log(
            f'{report.skipped} of {report.rows} {what} annotation entries '
            f'skipped as malformed (strict=False); first: '
            f'{report.messages[0]}',
            logger='current',
            level=logging.WARNING)


def build_pipeline(pipeline) -> list:
    """Build transform configs in the mmpretrain scope (like mmpretrain's
    datasets), so the plugin's transforms resolve whatever the default
    scope is."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return [
            TRANSFORMS.build(t) if isinstance(t, dict) else t
            for t in (pipeline or [])
        ]


class _StoresMixin:
    """Adds the frame/image stores to every sample."""

    frame_store = None
    image_store = None

    def _with_stores(self, info: dict) -> dict:
        if self.frame_store is not None:
            info['frame_store'] = self.frame_store
        if self.image_store is not None:
            info['image_store'] = self.image_store
        return info


@DATASETS.register_module()
class LPR4MPairDataset(_StoresMixin, BaseDataset):
    """Training pairs of LPR4M: one sample per clip of the videoinfo files.

    A sample holds the clip's frame ids and per-frame boxes (normalised to
    the frame; pixel boxes are divided by the frame's original size, see
    :mod:`lpr.datasets.boxes`), its positive shop image id, title, category
    id, ASR and the three diversity types.
    The rows are kept in a memory-mapped :class:`~lpr.datasets.ClipIndex`,
    built on first use and cached next to the annotations
    (``<ann dir>/lpr_clip_index_<key>``), so loading the 4M-row release is
    fast and dataloader workers share it.

    Args:
        ann_file: videoinfo file(s): a path, a glob or a list, relative to
            ``data_root``. Defaults to the official part files.
        data_root: the dataset root.
        frame_store: where frames are (a folder path, or
            ``dict(type='folder'|'shards', root=..., ...)``).
        image_store: where shop images are.
        max_index_frames: frames kept per clip when indexing (the official
            chunk rule); ``None`` keeps all.
        index_dir: where to cache the index; ``None`` = next to the
            annotations; ``False`` = do not cache.
        strict: raise when more than ``max_drop_ratio`` of a file's rows
            or boxes are dropped (naming the file, the count and three
            example lines); ``False`` only counts and logs them.
        max_drop_ratio: share of a file's rows, or of its boxes, that may
            be dropped (malformed rows, degenerate boxes); fewer drops are
            logged once per file. Defaults to 0.01.
        box_format: ``'auto'`` (decided per file), ``'pixel'`` (pixels of
            the original frame) or ``'normalised'``.
        index_workers: processes used to build the index.
        **kwargs: :class:`mmengine.dataset.BaseDataset` arguments
            (``pipeline``, ``test_mode``, ``max_refetch``...).
    """

    METAINFO = dict(dataset='LPR4M', split='train')

    def __init__(self,
                 ann_file: AnnFiles = (
                     'annotations/training_videoinfo_full_part_*.txt'),
                 data_root: str = '',
                 frame_store: StoreCfg = dict(
                     type='folder', root='training_frames', layout='clip'),
                 image_store: StoreCfg = dict(
                     type='folder', root='training_images'),
                 max_index_frames: Optional[int] = 10,
                 index_dir: Union[str, bool, None] = None,
                 strict: bool = True,
                 max_drop_ratio: float = MAX_DROP_RATIO,
                 box_format: str = 'auto',
                 index_workers: int = 2,
                 **kwargs) -> None:
        self.ann_files = ann_file
        self.frame_store = build_store(frame_store, data_root)
        self.image_store = build_store(image_store, data_root)
        self.max_index_frames = max_index_frames
        self.index_dir = index_dir
        self.strict = strict
        self.max_drop_ratio = max_drop_ratio
        self.box_format = check_box_format(box_format)
        self.index_workers = index_workers
        self.index: Optional[ClipIndex] = None
        kwargs.setdefault('serialize_data', False)
        kwargs['pipeline'] = build_pipeline(kwargs.get('pipeline'))
        super().__init__(ann_file='', data_root=data_root, **kwargs)

    def _ann_paths(self) -> List[str]:
        files = self.ann_files
        files = [files] if isinstance(files, str) else list(files)
        return expand_paths([_join(self.data_root, f) for f in files])

    def _index_path(self, paths: List[str]) -> Optional[str]:
        if self.index_dir is False:
            return None
        key = hashlib.sha1(
            json.dumps([[osp.abspath(p), osp.getsize(p)] for p in paths] + [
                self.max_index_frames, self.strict, self.max_drop_ratio,
                self.box_format, INDEX_VERSION
            ]).encode()
        ).hexdigest()[:12]
        base = self.index_dir or osp.dirname(paths[0])
        return osp.join(base, f'lpr_clip_index_{key}')

    def full_init(self) -> None:
        if self._fully_initialized:
            return
        paths = self._ann_paths()
        cache = self._index_path(paths)
        index = None
        if cache and osp.isdir(cache):
            index = ClipIndex.load(cache)
            if not index.is_fresh():
                index = None
        if index is None:
            index = ClipIndex.from_files(
                paths,
                max_frames=self.max_index_frames,
                strict=self.strict,
                workers=self.index_workers,
                max_drop_ratio=self.max_drop_ratio,
                box_format=self.box_format)
            if cache:
                index.save(cache)
                index = ClipIndex.load(cache)
        self.index = index
        rep = index.report
        formats = sorted(set(index.box_formats))
        print_log(
            f'{type(self).__name__}: {len(index)} clips read from '
            f'{len(paths)} file(s), {rep.skipped} rows skipped; '
            f"{int(index.arrays['frame_ptr'][-1])} frames; {rep.boxes} boxes "
            f"({'/'.join(formats)}), {rep.boxes_clipped} clipped, "
            f'{rep.boxes_dropped} dropped; {len(index.images)} images',
            logger='current')
        self._fully_initialized = True

    def load_data_list(self) -> List[dict]:  # the index replaces the list
        return []

    def __len__(self) -> int:
        if not self._fully_initialized:
            self.full_init()
        return len(self.index)

    def get_data_info(self, idx: int) -> dict:
        info = self.index[idx]
        info['frame_boxes'] = normalise_frame_boxes(
            info['frame_ids'], info['frame_boxes'], info.pop('box_format'),
            self.frame_store)
        info['sample_idx'] = idx
        return self._with_stores(info)

    def live_ids(self):
        """(N,) integer livestream of every sample (for
        :class:`LiveGroupedSampler`)."""
        if not self._fully_initialized:
            self.full_init()
        return self.index.arrays['live']


def _frames_from_url_list(
        path: str,
        strict: bool = True,
        report: Optional[ParseReport] = None) -> Dict[str, List[str]]:
    clips: Dict[str, List[str]] = defaultdict(list)
    report = report if report is not None else ParseReport()
    with open(path, 'rb') as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            report.rows += 1
            try:
                url = decode_utf8(raw).strip()
                fid = osp.splitext(osp.basename(url.split('?')[0]))[0]
                clip, _ = parse_frame_id(fid)
            except ValueError as e:
                err = AnnotationError(path, lineno, str(e))
                if strict:
                    raise err from None
                report.add(err)
                continue
            clips[clip].append(fid)
    return clips


def _frames_from_folder(root: str) -> Dict[str, List[str]]:
    clips: Dict[str, List[str]] = {}
    for path in glob.glob(osp.join(root, '*', '*.jpg')):
        fid = osp.splitext(osp.basename(path))[0]
        clip, _ = parse_frame_id(fid)
        clips.setdefault(clip, []).append(fid)
    return clips


@DATASETS.register_module()
class LPR4MQueryDataset(_StoresMixin, BaseDataset):
    """Test queries of LPR4M: one sample per clip of
    ``test_videoid_to_gtimage``.

    A sample holds the clip's frame ids (sorted), its GT image ids (a list;
    a hit on any counts), ASR, live id, per-frame boxes (GT boxes, or the
    boxes of a predicted-box JSON of the same layout; normalised to the
    frame, pixel boxes divided by the frame's original size) and, when the
    toy ``test_videoid_to_diversity`` file exists, the diversity types.

    Args:
        data_root: the dataset root.
        ann_dir: folder of the annotation files (found by their official
            name prefixes).
        frame_source: where the frame ids of a clip come from: ``'url_list'``
            (``test_frame_url_*.txt``), ``'folder'`` (the frame folder) or
            ``'gtbox'`` (the frames of ``test_frameid2gtbox``).
        frame_store: where frames are.
        box_file: a ``{frame_id: [boxes]}`` JSON to use instead of the GT
            boxes (e.g. detector output); a relative path is looked up under
            ``data_root``, then in the working directory.
        check_gallery: check at build time that every query's live has a
            gallery that holds its GT images.
        box_format: encoding of the box files: ``'auto'`` (decided per
            file), ``'pixel'`` or ``'normalised'``.
        strict: raise on a malformed annotation entry (naming the file, and
            the line where it has one) and when more than ``max_drop_ratio``
            of a file's rows or boxes are dropped; ``False`` skips, counts
            (:attr:`parse_report`) and logs them, as
            :class:`LPR4MPairDataset`.
        max_drop_ratio: share of a file's rows or boxes that may be dropped.
        **kwargs: :class:`mmengine.dataset.BaseDataset` arguments.
    """

    METAINFO = dict(dataset='LPR4M', split='test', role='query')

    def __init__(self,
                 data_root: str = '',
                 ann_dir: str = 'annotations',
                 frame_source: str = 'url_list',
                 frame_store: StoreCfg = dict(
                     type='folder', root='test_frames', layout='clip'),
                 box_file: Optional[str] = None,
                 check_gallery: bool = True,
                 box_format: str = 'auto',
                 strict: bool = True,
                 max_drop_ratio: float = MAX_DROP_RATIO,
                 **kwargs) -> None:
        assert frame_source in ('url_list', 'folder', 'gtbox'), frame_source
        self.box_format = check_box_format(box_format)
        self.strict = strict
        self.max_drop_ratio = max_drop_ratio
        self.ann_dir = _join(data_root, ann_dir)
        self.frame_source = frame_source
        self.frame_store = build_store(frame_store, data_root)
        self.box_file = resolve_box_file(data_root, box_file)
        self.check_gallery = check_gallery
        self.parse_report = ParseReport()
        kwargs.setdefault('test_mode', True)
        kwargs['pipeline'] = build_pipeline(kwargs.get('pipeline'))
        super().__init__(ann_file='', data_root=data_root, **kwargs)

    def load_data_list(self) -> List[dict]:
        ann, strict = self.ann_dir, self.strict
        report = self.parse_report = ParseReport()
        gt = load_gt_images(
            find_annotation(ann, 'test_videoid_to_gtimage_'), strict, report)
        drop_opts = dict(strict=strict, max_drop_ratio=self.max_drop_ratio)
        asr, asr_report = load_id_text_pairs(
            find_annotation(ann, 'test_videoid_asr_'), 'clip', **drop_opts)
        box_path = find_annotation(ann, 'test_frameid2gtbox_')
        gt_boxes, box_fmt, _ = load_box_file(box_path, self.box_format,
                                             **drop_opts)
        boxes = gt_boxes
        if self.box_file:
            box_path = self.box_file
            boxes, box_fmt, _ = load_box_file(box_path, self.box_format,
                                              **drop_opts)
        self.box_format_read = box_fmt
        diversity = {}
        div_files = glob.glob(osp.join(ann, 'test_videoid_to_diversity_*'))
        if div_files:
            diversity = load_diversity(div_files[0])
        if self.frame_source == 'url_list':
            clip_frames = _frames_from_url_list(
                find_annotation(ann, 'test_frame_url_'), strict, report)
        elif self.frame_source == 'folder':
            root = getattr(self.frame_store, 'root', None)
            if root is None:
                raise ValueError("frame_source='folder' needs a folder store")
            clip_frames = _frames_from_folder(root)
        else:
            clip_frames = defaultdict(list)
            for fid in gt_boxes:
                clip_frames[parse_frame_id(fid)[0]].append(fid)
        if self.check_gallery:
            gallery_path = find_annotation(ann, 'test_liveid_to_gallery_')
            gallery = load_gallery(gallery_path, strict, report)
            check_queries_against_gallery(gt, gallery, gallery_path)
        data_list, no_frames = [], []
        num_frames = num_boxes = 0
        for clip_id in gt:  # the GT file's order
            frames = sorted(clip_frames.get(clip_id, []))
            if not frames:
                no_frames.append(clip_id)
            frame_boxes = [boxes.get(f, []) for f in frames]
            num_frames += len(frames)
            num_boxes += sum(len(b) for b in frame_boxes)
            info = dict(
                clip_id=clip_id,
                live_id=parse_clip_id(clip_id).live_id,
                frame_ids=frames,
                frame_boxes=frame_boxes,
                box_format=box_fmt,
                gt_image_ids=list(gt[clip_id]),
                asr=asr.get(clip_id, ''))
            types = diversity.get(clip_id, {})
            for src, dst in DIVERSITY_KEYS.items():
                if src in types:
                    info[dst] = types[src]
            if 'category_id' in types:
                info['category_id'] = types['category_id']
            data_list.append(info)
        print_log(
            f'{type(self).__name__}: {len(data_list)} clips, {num_frames} '
            f'frames ({len(no_frames)} clips without a listed frame), '
            f'{num_boxes} boxes from {osp.basename(box_path)} ({box_fmt})',
            logger='current')
        _merge_reports(report, asr_report)
        _log_skipped(report, 'query')
        if no_frames:
            print_log(
                f'{len(no_frames)} test queries have no frame listed (first: '
                f'{no_frames[0]}); they stay in the set and count as misses',
                logger='current',
                level=logging.WARNING)
        return data_list

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        info['frame_boxes'] = normalise_frame_boxes(
            info['frame_ids'], info['frame_boxes'], info.pop('box_format'),
            self.frame_store)
        return self._with_stores(info)

    def live_ids(self) -> List[str]:
        """The livestream id of every query, in index order, from the
        parsed annotations: unlike :meth:`get_data_info`, no frame is
        opened (pixel boxes there read each frame's size)."""
        if not self._fully_initialized:
            self.full_init()
        return [
            BaseDataset.get_data_info(self, i)['live_id']
            for i in range(len(self))
        ]


def check_queries_against_gallery(gt: Dict[str, List[str]],
                                  gallery: Dict[str, List[str]],
                                  where: str) -> None:
    """Every query's live must have a gallery holding its GT images.

    Raises:
        ValueError: naming the first offending query and the count.
    """
    no_live = [c for c in gt if parse_clip_id(c).live_id not in gallery]
    if no_live:
        raise ValueError(
            f'{where}: {len(no_live)} queries belong to a live id without a '
            f'gallery in test_liveid_to_gallery (first: {no_live[0]})')
    sets = {live: set(ids) for live, ids in gallery.items()}
    missing = [(c, g) for c, gts in gt.items() for g in gts
               if g not in sets[parse_clip_id(c).live_id]]
    if missing:
        clip, image = missing[0]
        raise ValueError(
            f'{where}: {len(missing)} GT images are not in their live\'s '
            f'gallery (first: image {image} of query {clip})')


@DATASETS.register_module()
class LPR4MGalleryDataset(_StoresMixin, BaseDataset):
    """The LPR4M test gallery: one sample per (live id, shop image) of
    ``test_liveid_to_gallery``, with its title when
    ``test_image_title`` has one. Queries are ranked only against the
    samples of their own live id.

    Args:
        data_root: the dataset root.
        ann_dir: folder of the annotation files.
        image_store: where shop images are.
        check_files: check at build time that every image decodes
            (missing ones raise ``FileNotFoundError``, ones that are not
            images or are truncated ``ValueError``, naming the first and
            the count).
        strict: raise on a malformed annotation entry (naming the file, and
            the line where it has one) and when more than ``max_drop_ratio``
            of the title file's rows are dropped; ``False`` skips, counts
            (:attr:`parse_report`) and logs them.
        max_drop_ratio: share of the title rows that may be dropped.
        **kwargs: :class:`mmengine.dataset.BaseDataset` arguments.
    """

    METAINFO = dict(dataset='LPR4M', split='test', role='gallery')

    def __init__(self,
                 data_root: str = '',
                 ann_dir: str = 'annotations',
                 image_store: StoreCfg = dict(
                     type='folder', root='test_images'),
                 check_files: bool = True,
                 strict: bool = True,
                 max_drop_ratio: float = MAX_DROP_RATIO,
                 **kwargs) -> None:
        self.strict = strict
        self.max_drop_ratio = max_drop_ratio
        self.ann_dir = _join(data_root, ann_dir)
        self.image_store = build_store(image_store, data_root)
        self.check_files = check_files
        self.parse_report = ParseReport()
        kwargs.setdefault('test_mode', True)
        kwargs['pipeline'] = build_pipeline(kwargs.get('pipeline'))
        super().__init__(ann_file='', data_root=data_root, **kwargs)

    def load_data_list(self) -> List[dict]:
        report = self.parse_report = ParseReport()
        gallery = load_gallery(
            find_annotation(self.ann_dir, 'test_liveid_to_gallery_'),
            self.strict, report)
        titles, title_report = load_id_text_pairs(
            find_annotation(self.ann_dir, 'test_image_title_'),
            'image',
            strict=self.strict,
            max_drop_ratio=self.max_drop_ratio)
        _merge_reports(report, title_report)
        _log_skipped(report, 'gallery')
        data_list = [
            dict(live_id=live, image_id=image, title=titles.get(image, ''))
            for live, images in gallery.items() for image in images
        ]
        if self.check_files:
            self._check_images(data_list)
        print_log(
            f'{type(self).__name__}: {len(data_list)} images of '
            f'{len(gallery)} lives ({sum(bool(d["title"]) for d in data_list)}'
            f' with a title)' + (', all readable' if self.check_files else ''),
            logger='current')
        return data_list

    def _check_images(self, data_list: List[dict]) -> None:
        """Every gallery image must decode: a gallery image cannot be
        skipped (its queries would be ranked against a partial gallery).

        Raises:
            FileNotFoundError: missing images, naming the first and the
                count.
            ValueError: images that are not images or are truncated,
                naming the first file and the count.
        """
        bad = {}
        for d in data_list:
            if d['image_id'] not in bad:
                _, reason = probe_image(self.image_store.get(d['image_id']))
                if reason:
                    bad[d['image_id']] = reason
        if not bad:
            return
        image, reason = next(iter(bad.items()))
        path = getattr(self.image_store, 'path', lambda _: None)(image)
        error = FileNotFoundError if all(
            r == 'missing' for r in bad.values()) else ValueError
        raise error(
            f'{len(bad)} gallery images cannot be read from '
            f'{self.image_store} (first: {image}, {reason}'
            f'{", " + path if path else ""})')

    def get_data_info(self, idx: int) -> dict:
        return self._with_stores(super().get_data_info(idx))

    def live_ids(self) -> List[str]:
        """The livestream id of every gallery image, in index order."""
        if not self._fully_initialized:
            self.full_init()
        return [
            BaseDataset.get_data_info(self, i)['live_id']
            for i in range(len(self))
        ]
