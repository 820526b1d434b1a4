"""Which shop image is the product of a livestream clip: the inference API of
a trained retriever, optionally behind an intended-product detector."""
import copy
import logging
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.logging import print_log
from mmengine.registry import DefaultScope
from mmpretrain.apis import BaseInferencer
from mmpretrain.structures import DataSample

from ..datasets.boxes import normalise_boxes
from ..datasets.transforms import uniform_indices
from ..engine.retrieval_visualization_hook import gt_rank
from ..utils.progress import ProgressBar
from .frame_detector import FrameDetector
from .gallery_index import GalleryIndex, make_thumbnail, weights_sha256
from .inputs import (ClipInput, ClipReader, ImageInput, list_images,
                     load_image)
from .model_index import list_models, resolve_config
from .test_pipelines import clip_pipeline, image_pipeline

GalleryInput = Union[GalleryIndex, str, os.PathLike, Sequence[ImageInput]]
# What a picture shows for a shop image that cannot be read.
MISSING_IMAGE = (200, 200, 200)


def check_topk(topk: Any) -> int:
    """``topk`` as a positive int.

    Raises:
        ValueError: it is not a positive integer.
    """
    if isinstance(topk, bool) or not isinstance(topk, (int, np.integer)) \
            or topk < 1:
        raise ValueError(f'topk must be a positive integer, got {topk!r}')
    return int(topk)


def _round(values: Sequence[float], ndigits: int = 6) -> List[float]:
    return [round(float(v), ndigits) for v in values]


class LPRInferencer(BaseInferencer):
    """Rank a shop's images for livestream clips with a trained retriever
    (RICE).

    ``preprocess → forward → visualize → postprocess``, as mmpretrain's
    and mmdet's inferencers. A clip (a video file, a folder of frames or a
    list of (H, W, 3) RGB uint8 frames) is sampled with the config's test
    rule (``SampleClipFrames`` of the query pipeline: at most ``T`` frames,
    ``floor(i * n / T)`` for LPR4M), optionally passed through an
    intended-product detector whose top-1 box per frame feeds a box-input
    retriever (``configs/rice/rice-box_*``) as the dataset's box files do,
    then encoded by the config's query pipeline and ranked against a
    gallery with the model's ``rank`` (the test loop's ranking, with PMD
    re-ranking when the config sets it).

    A gallery is encoded once (:meth:`build_gallery`) into a
    :class:`GalleryIndex` that can be saved and reloaded; an index encoded
    by other weights is refused.

    Example::

        inf = LPRInferencer(
            'configs/rice/rice_r18-slim_1xb32-18e_toy-lpr4m.py',
            weights='epoch_18.pth')
        gallery = inf.build_gallery('shop_images/', out_file='shop.pth')
        result = inf('clip_frames/', gallery=gallery, topk=5)
        result['predictions'][0]['image_ids']  # best first

    Args:
        model: a config path, a name of the repository's model index
            (``model-index.yml``, e.g.
            ``'rice_r18-slim_1xb32-18e_toy-lpr4m'``) or a ``Config``.
        weights: a checkpoint (``None``: random weights, with a warning).
        device: e.g. ``'cpu'`` or ``'cuda:0'`` (default: the model's).
        det_model: an intended-product detector config (SD or MD, e.g.
            ``configs/ipd/*.py``) or model-index name, or ``None``.
        det_weights: the detector's checkpoint.
        det_score_thr: frames whose best box scores below this keep the
            whole frame.
        cfg_options: overrides merged into the config (e.g.
            ``{'model.rerank.top_k': 10}``).
        video_fps: videos are read on a grid of this rate before sampling
            (default: the config's ``LoadVideoFrames`` rate, else 1 fps;
            0 reads every frame).
    """

    preprocess_kwargs: set = {'asr'}
    forward_kwargs: set = set()
    visualize_kwargs: set = {
        'show', 'wait_time', 'show_dir', 'out_dir', 'gt_image_ids'
    }
    postprocess_kwargs: set = set()

    def __init__(self,
                 model: Union[str, os.PathLike, Config],
                 weights: Optional[str] = None,
                 device: Union[str, torch.device, None] = None,
                 det_model: Union[str, os.PathLike, Config, None] = None,
                 det_weights: Optional[str] = None,
                 det_score_thr: float = 0.0,
                 cfg_options: Optional[dict] = None,
                 video_fps: Optional[float] = None) -> None:
        import lpr  # noqa: F401  (registers the plugin's modules)
        cfg = self._load_config(model)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        self.config_name = osp.splitext(osp.basename(
            cfg.filename))[0] if cfg.filename else 'config'
        if weights is None:
            print_log(
                'LPRInferencer: no weights given; the retriever has random '
                'weights',
                logger='current',
                level=logging.WARNING)
        self._video_fps_override = video_fps
        super().__init__(model=cfg, pretrained=weights or False,
                         device=device)
        if not (hasattr(self.model, 'rank')
                and hasattr(self.model, 'rerank_top_k')):
            raise TypeError(f'{type(self.model).__name__} is not a retriever '
                            'with rank() (e.g. RICE)')
        self.weights_sha256 = weights_sha256(self.model)
        self.detector: Optional[FrameDetector] = None
        if det_model is not None:
            det_cfg = det_model if isinstance(det_model, Config) else \
                resolve_config(os.fspath(det_model))
            self.detector = FrameDetector(
                det_cfg, det_weights, device=str(self.device),
                score_thr=det_score_thr)
            if not self.uses_boxes:
                print_log(
                    f'LPRInferencer: {self.config_name} does not read boxes '
                    '(no BoxToPatchMask in its query pipeline); detected '
                    'boxes are reported but do not steer retrieval (use a '
                    'configs/rice/rice-box_* config)',
                    logger='current',
                    level=logging.WARNING)
        self.visualizer = self._init_visualizer(self.config)
        self._folder_galleries: Dict[str, Tuple[tuple, GalleryIndex]] = {}

    # ------------------------------------------------------------ set-up
    @staticmethod
    def list_models(pattern: Optional[str] = None) -> List[str]:
        """Model names of the repository's ``model-index.yml``."""
        return list_models(pattern)

    @staticmethod
    def _load_config(model) -> Config:
        if isinstance(model, Config):
            return copy.deepcopy(model)
        return Config.fromfile(resolve_config(os.fspath(model)))

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _init_pipeline(self, cfg: Config):
        """The config's query and gallery pipelines, adapted to in-memory
        frames and images; returns the clip pipeline."""
        if 'gallery_dataloader' not in cfg.get('test_cfg', {}):
            raise ValueError('the config has no test_cfg.gallery_dataloader '
                             '(not a retrieval config)')
        self._clip_transforms, self.sampling, self.uses_boxes = \
            clip_pipeline(cfg.test_dataloader.dataset.pipeline)
        if self._video_fps_override is not None:
            self.sampling.video_fps = self._video_fps_override
        self._image_transforms, self._image_to_rgb = image_pipeline(
            cfg.test_cfg.gallery_dataloader.dataset.pipeline)
        return self._prepare_clip

    def _init_visualizer(self, cfg: Config):
        """The config's ``visualizer`` when it draws rankings
        (``draw_retrieval``), else an :class:`~lpr.visualization.
        LPRVisualizer`. Pictures are written by :meth:`visualize` itself,
        so the visualizer gets no storage backend."""
        from mmpretrain.registry import VISUALIZERS

        from ..visualization import LPRVisualizer
        name = f'lpr_inferencer_{id(self)}'
        vis_cfg = copy.deepcopy(cfg.get('visualizer') or {})
        if vis_cfg:
            vis_cfg.pop('vis_backends', None)
            vis_cfg.pop('save_dir', None)
            vis_cfg['name'] = name
            with DefaultScope.overwrite_default_scope('mmpretrain'):
                visualizer = VISUALIZERS.build(vis_cfg)
            if hasattr(visualizer, 'draw_retrieval'):
                return visualizer
            print_log(
                f'LPRInferencer: the config\'s {type(visualizer).__name__} '
                'cannot draw rankings; drawing with LPRVisualizer',
                logger='current',
                level=logging.WARNING)
            name += '_lpr'
        return LPRVisualizer(name=name)

    # ------------------------------------------------------------ inputs
    def _inputs_to_list(self, inputs) -> list:
        """One clip or a list of clips → a list of clips (a list of arrays
        is one clip; a folder is one clip, not a list of inputs)."""
        if isinstance(inputs, (str, os.PathLike, ClipReader)):
            return [inputs]
        if isinstance(inputs, np.ndarray):
            return [inputs]
        if isinstance(inputs, (list, tuple)):
            if not inputs:
                raise ValueError('no clip given')
            if all(isinstance(x, np.ndarray) and x.ndim == 4
                   for x in inputs):
                return list(inputs)  # (T, H, W, 3) clips
            if all(isinstance(x, np.ndarray) for x in inputs):
                return [list(inputs)]  # the frames of one clip
            return list(inputs)
        raise ValueError(f'a clip is a video file, a folder of frames or a '
                         f'list of frames, not a {type(inputs).__name__}')

    def _reader(self, clip: Union[ClipInput, ClipReader]) -> ClipReader:
        if isinstance(clip, ClipReader):
            return clip
        return ClipReader(clip, video_fps=self.sampling.video_fps)

    def _prepare_clip(self, clip: Union[ClipInput, ClipReader],
                      asr: Optional[str] = None) -> dict:
        """Sample, decode, detect and pack one clip (the query pipeline's
        work on in-memory frames)."""
        reader = self._reader(clip)
        inds = uniform_indices(len(reader), self.sampling.num_frames,
                               self.sampling.rule)
        kept, frames = reader.read(inds)
        if not frames:
            raise ValueError(f'clip {reader.name} has no readable frame')
        return self._pack_frames(
            frames,
            dict(clip_id=reader.name,
                 frame_ids=[reader.frame_ids[i] for i in kept],
                 frame_inds=kept,
                 num_frames=self.sampling.num_frames,
                 num_skipped_frames=len(inds) - len(kept),
                 asr=asr or ''))

    def _pack_frames(self, frames: List[np.ndarray], results: dict) -> dict:
        """Detect (when a detector is set) and pack decoded RGB frames with
        the query pipeline; ``results`` holds the clip's metainfo."""
        boxes: List = [None] * len(frames)
        if self.detector is not None:
            boxes = self.detector(frames)
            # Pixel boxes → fractions of the frame, as the datasets read
            # box files (a box with nothing inside the frame is left out).
            results['frame_boxes'] = [
                normalise_boxes([b[0]], (f.shape[1], f.shape[0]), 'pixel')
                if b else [] for b, f in zip(boxes, frames)
            ]
        results['det_boxes'] = [
            _round(b[0], 2) if b else None for b in boxes
        ]
        results['det_scores'] = [
            round(b[1], 6) if b else None for b in boxes
        ]
        if not self.sampling.to_rgb:
            frames = [np.ascontiguousarray(f[..., ::-1]) for f in frames]
        results['frames'] = frames
        results['frame_shapes'] = [f.shape[:2] for f in frames]
        return self._clip_transforms(results)

    def _prepare_image(self, image: np.ndarray, image_id: str,
                       title: str = '') -> dict:
        img = image if self._image_to_rgb else np.ascontiguousarray(
            image[..., ::-1])
        return self._image_transforms(
            dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2],
                 image_id=image_id, title=title or ''))

    # ----------------------------------------------------------- gallery
    def build_gallery(self,
                      images: Union[str, os.PathLike, Sequence[ImageInput]],
                      out_file: Optional[str] = None,
                      ids: Optional[Sequence[str]] = None,
                      titles: Optional[Dict[str, str]] = None,
                      keep_tokens: Optional[bool] = None,
                      batch_size: int = 32) -> GalleryIndex:
        """Encode a shop's images once.

        Args:
            images: a folder of images (sorted by name), or a list of image
                paths and/or (H, W, 3) RGB uint8 arrays.
            out_file: save the index there (see :meth:`GalleryIndex.save`).
            ids: the images' ids (default: file stems; ``image_<i>`` for
                arrays).
            titles: ``{image_id: title}`` for text models.
            keep_tokens: store the image tokens PMD re-ranking needs
                (default: when the model re-ranks).
            batch_size: images per forward pass.

        Returns:
            GalleryIndex: embeddings (N, E), tokens (N, Lq, D) or ``None``,
            ids, sources (image files), thumbnails (of images given as
            arrays) and the model's weights hash.

        Raises:
            ValueError: no image, an unreadable image, or repeated ids.
        """
        if isinstance(images, (str, os.PathLike)):
            folder = os.fspath(images)
            if not osp.isdir(folder):
                raise ValueError(f'gallery folder {folder} does not exist')
            images = list_images(folder)
        images = list(images)
        if not images:
            raise ValueError('the gallery has no image')
        if ids is None:
            ids = [
                osp.splitext(osp.basename(os.fspath(x)))[0] if isinstance(
                    x, (str, os.PathLike)) else f'image_{i:04d}'
                for i, x in enumerate(images)
            ]
        ids = [str(i) for i in ids]
        if len(ids) != len(images):
            raise ValueError(f'{len(ids)} ids for {len(images)} images')
        sources = [
            osp.abspath(os.fspath(x)) if isinstance(x, (str, os.PathLike))
            else None for x in images
        ]
        if keep_tokens is None:
            keep_tokens = self.model.rerank_top_k > 1
        titles = titles or {}
        emb, tok = [], []
        thumbnails: List[Optional[torch.Tensor]] = []
        bar = ProgressBar(len(images), desc='encoding gallery',
                          unit='images') if len(images) > batch_size else None
        for s in range(0, len(images), batch_size):
            batch = []
            for i in range(s, min(s + batch_size, len(images))):
                img = load_image(images[i], f'gallery image {ids[i]}')
                # Images without a file keep a thumbnail for pictures.
                thumbnails.append(
                    make_thumbnail(img) if sources[i] is None else None)
                batch.append(
                    self._prepare_image(img, ids[i], titles.get(ids[i], '')))
            outs = self.model.test_step(default_collate(batch))
            emb.append(torch.stack([o.image_emb for o in outs]).float().cpu())
            if keep_tokens:
                tok.append(torch.stack([o.image_tokens for o in outs]).cpu())
            if bar is not None:
                bar.update(len(batch))
        index = GalleryIndex(
            ids, torch.cat(emb), self.weights_sha256,
            torch.cat(tok) if keep_tokens else None, sources,
            dict(config=self.config_name), thumbnails)
        if out_file:
            index.save(out_file)
        return index

    def load_gallery(self, gallery: GalleryInput) -> GalleryIndex:
        """A :class:`GalleryIndex`, a saved index file, a folder of shop
        images or a list of images → an index this model can rank with
        (folders are encoded once and kept while their files do not
        change).

        Raises:
            ValueError: the gallery does not exist or cannot be read.
            GalleryMismatchError: the index was encoded by other weights
                or lacks the tokens re-ranking needs.
        """
        if isinstance(gallery, GalleryIndex):
            index = gallery
        elif isinstance(gallery, (str, os.PathLike)):
            path = os.fspath(gallery)
            if osp.isdir(path):
                index = self._folder_gallery(path)
            elif osp.isfile(path):
                index = GalleryIndex.load(path)
            else:
                raise ValueError(f'gallery {path} does not exist')
        elif isinstance(gallery, (list, tuple)):
            index = self.build_gallery(gallery)
        else:
            raise ValueError('a gallery is a GalleryIndex, an index file, a '
                             'folder of images or a list of images, not a '
                             f'{type(gallery).__name__}')
        index.check_model(self.weights_sha256,
                          needs_tokens=self.model.rerank_top_k > 1)
        return index

    def _folder_gallery(self, folder: str) -> GalleryIndex:
        files = list_images(folder)
        signature = tuple((f, os.stat(f).st_mtime_ns, os.stat(f).st_size)
                          for f in files)
        key = osp.abspath(folder)
        cached = self._folder_galleries.get(key)
        if cached is None or cached[0] != signature:
            cached = (signature, self.build_gallery(files))
            self._folder_galleries[key] = cached
        return cached[1]

    # ------------------------------------------------------------- steps
    def preprocess(self, inputs: list, batch_size: int = 1,
                   asr: Union[str, Sequence[str], None] = None):
        """Yield collated batches of packed clips.

        Args:
            inputs: clips (see :meth:`_inputs_to_list`).
            batch_size: clips per batch.
            asr: the clips' ASR text (one string for all, or one per clip)
                for text models.
        """
        if asr is None or isinstance(asr, str):
            asr = [asr] * len(inputs)
        elif len(asr) != len(inputs):
            raise ValueError(f'{len(asr)} ASR texts for {len(inputs)} clips')
        packed = (self.pipeline(c, a) for c, a in zip(inputs, asr))
        yield from map(default_collate,
                       self._get_chunk_data(packed, batch_size))

    @torch.no_grad()
    def forward(self, inputs: dict, gallery: GalleryIndex,
                topk: int) -> List[DataSample]:
        """Encode a batch of clips and rank the gallery for each.

        Returns:
            list[DataSample]: per clip, ``RICE.predict``'s sample (clip
            embedding, tokens, metainfo with ``frame_ids``, ``det_boxes``)
            plus ``pred_rows`` (k,) gallery rows, ``pred_image_ids`` and
            ``pred_scores`` (k,), best first.
        """
        samples = self.model.test_step(inputs)
        for s, (rows, scores) in zip(samples,
                                     self._rank(samples, gallery, topk)):
            s.set_data(
                dict(pred_rows=rows,
                     pred_image_ids=[gallery.image_ids[r]
                                     for r in rows.tolist()],
                     pred_scores=scores))
        return samples

    def _rank(self, samples: Sequence[DataSample], gallery: GalleryIndex,
              topk: int) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        """``RICE.rank`` of the clips against the gallery → per clip, its
        top-k gallery rows (k,) and scores (k,) on the CPU."""
        image_emb, image_tokens = gallery.tensors(self.device)
        args = [torch.stack([s.clip_emb for s in samples]), image_emb]
        if self.model.rerank_top_k > 1:
            args += [
                torch.stack([s.clip_tokens for s in samples]),
                torch.stack([s.clip_valid for s in samples]), image_tokens
            ]
        scores, order = self.model.rank(*args)
        k = min(topk, order.shape[1])
        order, scores = order[:, :k].cpu(), scores[:, :k].float().cpu()
        return list(zip(order, scores))

    def visualize(self,
                  inputs: list,
                  preds: List[DataSample],
                  gallery: Optional[GalleryIndex] = None,
                  show: bool = False,
                  wait_time: float = 0.,
                  show_dir: str = '',
                  out_dir: str = '',
                  gt_image_ids=None) -> Optional[List[np.ndarray]]:
        """Draw each ranking with the visualizer's ``draw_retrieval``: the
        clip's sampled frames (with the detected boxes when a detector
        runs) above its top-k shop images with their ranks, scores and
        ids; a green frame marks a ground-truth image.

        Nothing is drawn (``None`` is returned) unless ``show`` or a folder
        is given. Shop images come from the gallery's source files, else
        its thumbnails (images given as arrays); an image with neither is
        drawn grey.

        Args:
            inputs: the clips, as given to :meth:`__call__`.
            preds: their ranked samples (see :meth:`forward`).
            gallery: the index they were ranked against.
            show: display each picture.
            wait_time: how long each is displayed (s).
            show_dir: write ``<show_dir>/<clip_id>.png``.
            out_dir: the same as ``show_dir`` (mmdet's name).
            gt_image_ids: the ground-truth image ids: one list for every
                clip (e.g. of a single clip), or one list per clip.

        Returns:
            list[np.ndarray] | None: per clip, the (H, W, 3) uint8 RGB
            picture.

        Raises:
            ValueError: ``gt_image_ids`` does not give one list per clip.
        """
        folder = show_dir or out_dir
        if not (show or folder):
            return None
        gts = self._per_clip(gt_image_ids, len(preds))
        pictures = []
        for clip, sample, gt in zip(inputs, preds, gts):
            _, frames = self._reader(clip).read(sample.frame_inds)
            det_boxes = sample.metainfo.get('det_boxes') or []
            boxes = [
                np.asarray([b], np.float32) if b else None
                for b in det_boxes
            ] if self.detector is not None and len(det_boxes) == len(
                frames) else None
            shop = [
                self._shop_picture(gallery, r)
                for r in sample.pred_rows.tolist()
            ]
            ranking = list(sample.pred_image_ids)
            title = str(sample.clip_id)
            if gt:
                rank = gt_rank(ranking, gt)
                title += f': GT at rank {rank} of {len(ranking)}' if rank \
                    else f': GT not in the top {len(ranking)}'
            out_file = osp.join(folder, f'{sample.clip_id}.png') \
                if folder else None
            picture = self.visualizer.draw_retrieval(
                frames, shop, sample.pred_scores.tolist(),
                image_ids=ranking, frame_boxes=boxes, gt_image_ids=gt,
                title=title, out_file=out_file)
            if show:
                self.visualizer.show(picture, win_name=title,
                                     wait_time=wait_time)
            pictures.append(picture)
        return pictures

    @staticmethod
    def _per_clip(gt_image_ids, num_clips: int) -> List[List[str]]:
        """``gt_image_ids`` (``None``, one id, a list of ids for every
        clip, or a list of lists, one per clip) → one list per clip."""
        if gt_image_ids is None:
            return [[] for _ in range(num_clips)]
        if isinstance(gt_image_ids, str):
            return [[gt_image_ids] for _ in range(num_clips)]
        gt = list(gt_image_ids)
        if all(isinstance(g, str) for g in gt):
            return [list(gt) for _ in range(num_clips)]
        if len(gt) != num_clips or not all(
                isinstance(g, (list, tuple)) for g in gt):
            raise ValueError(
                'gt_image_ids is a list of image ids, or one list of image '
                f'ids per clip ({num_clips} clips)')
        return [[str(i) for i in g] for g in gt]

    def _shop_picture(self, gallery: Optional[GalleryIndex],
                      row: int) -> np.ndarray:
        img = gallery.picture(row) if gallery is not None else None
        if img is None:
            size = self.visualizer.tile_size if hasattr(
                self.visualizer, 'tile_size') else 64
            img = np.empty((size, size, 3), np.uint8)
            img[:] = MISSING_IMAGE
        return img

    def postprocess(self,
                    preds: List[DataSample],
                    visualization: Optional[List[Any]],
                    return_datasamples: bool = False) -> dict:
        """``{'predictions': [...], 'visualization': ...}``: per clip the
        data sample, or a JSON-serialisable dict (see
        :meth:`prediction`)."""
        predictions = preds if return_datasamples else [
            self.prediction(s) for s in preds
        ]
        return dict(predictions=predictions, visualization=visualization)

    @staticmethod
    def prediction(sample: DataSample) -> dict:
        """A ranked clip sample → ``clip_id``, ``image_ids`` and
        ``scores`` (best first), ``frame_ids`` (the sampled frames),
        ``boxes`` (per frame, the detected ``[x1, y1, x2, y2]`` in pixels,
        or ``None``) and ``box_scores``."""
        return dict(
            clip_id=sample.metainfo.get('clip_id'),
            image_ids=list(sample.pred_image_ids),
            scores=_round(sample.pred_scores.tolist()),
            frame_ids=list(sample.metainfo.get('frame_ids', [])),
            boxes=list(sample.metainfo.get('det_boxes', [])),
            box_scores=list(sample.metainfo.get('det_scores', [])))

    # -------------------------------------------------------------- calls
    def __call__(self,
                 inputs,
                 gallery: GalleryInput,
                 topk: int = 5,
                 return_datasamples: bool = False,
                 batch_size: int = 1,
                 **kwargs) -> dict:
        """Rank the gallery for each clip.

        Args:
            inputs: a clip (a video file, a folder of frames, a list of
                (H, W, 3) RGB uint8 frames) or a list of clips.
            gallery: a :class:`GalleryIndex`, an index file, a folder of
                shop images or a list of images.
            topk: how many images to return per clip.
            return_datasamples: return the data samples instead of dicts.
            batch_size: clips per forward pass.
            **kwargs: ``asr`` (preprocess) and ``show``, ``wait_time``,
                ``show_dir`` (or ``out_dir``), ``gt_image_ids``
                (visualize, see :meth:`visualize`).

        Returns:
            dict: ``predictions`` (per clip, see :meth:`prediction`) and
            ``visualization`` (per clip, the picture; ``None`` unless
            ``show`` or ``show_dir`` is given).
        """
        index = self.load_gallery(gallery)
        topk = check_topk(topk)
        pre_kw, _, vis_kw, post_kw = self._dispatch_kwargs(**kwargs)
        clips = self._inputs_to_list(inputs)
        preds: List[DataSample] = []
        n_batches = -(-len(clips) // batch_size)
        bar = ProgressBar(len(clips), desc='ranking clips',
                          unit='clips') if n_batches > 1 else None
        for data in self.preprocess(clips, batch_size=batch_size, **pre_kw):
            out = self.forward(data, index, topk)
            preds.extend(out)
            if bar is not None:
                bar.update(len(out))
        visualization = self.visualize(clips, preds, index, **vis_kw)
        return self.postprocess(preds, visualization, return_datasamples,
                                **post_kw)

    def encode_clip(self, frames: Union[ClipInput, ClipReader],
                    asr: Optional[str] = None) -> DataSample:
        """Encode one clip once (e.g. a sliding window of a stream) for
        :meth:`rank`.

        Returns:
            DataSample: ``clip_emb`` (E,), ``clip_tokens``, ``clip_valid``,
            ``has_frames`` and metainfo ``clip_id``, ``frame_ids``,
            ``frame_inds``, ``det_boxes``, ``det_scores``.
        """
        data = default_collate([self._prepare_clip(frames, asr)])
        with torch.no_grad():
            return self.model.test_step(data)[0]

    @property
    def caches_frames(self) -> bool:
        """Whether a clip's encoding can be pooled from frames encoded one
        by one (:meth:`encode_frames`, :meth:`pool_frames`): the model
        encodes each frame on its own and pools the clip vector from the
        per-frame vectors (RICE), it reads no ASR text, and boxes, if any,
        come from a single-frame detector (a multi-frame detector's box
        for a frame depends on the other frames of the clip)."""
        return (hasattr(self.model, 'encode_frames')
                and hasattr(self.model, 'pool_frames')
                and getattr(self.model, 'text_encoder', None) is None
                and not (self.detector is not None and self.detector.video))

    @torch.no_grad()
    def encode_frames(self,
                      frames: Sequence[np.ndarray],
                      frame_ids: Optional[Sequence[str]] = None
                      ) -> List[DataSample]:
        """Encode frames one by one, each once, for :meth:`pool_frames`
        (e.g. the frames of a stream as they arrive).

        Args:
            frames: N (H, W, 3) RGB uint8 frames.
            frame_ids: their ids (default ``frame_<i>``).

        Returns:
            list[DataSample]: per frame, ``frame_emb`` (E,) and
            ``frame_tokens`` (L, D) of the model's ``encode_frames``,
            ``patch_mask`` (L,) bool for box-input models, and metainfo
            ``frame_id``, ``det_box`` and ``det_score``.

        Raises:
            TypeError: the model cannot pool frames encoded on their own
                (see :attr:`caches_frames`).
            ValueError: a frame is not an (H, W, 3) uint8 array.
        """
        if not self.caches_frames:
            raise TypeError(
                f'{self.config_name}: clips cannot be pooled from frames '
                'encoded one by one (a model without encode_frames/'
                'pool_frames, a text model or a multi-frame detector); use '
                'encode_clip')
        reader = ClipReader(list(frames), name='clip', frame_ids=frame_ids)
        _, arrays = reader.read(range(len(reader)))
        out = []
        # The query pipeline packs at most T frames at a time.
        step = self.sampling.num_frames
        for start in range(0, len(arrays), step):
            ids = reader.frame_ids[start:start + step]
            out += self._encode_frame_batch(arrays[start:start + step], ids)
        return out

    def _encode_frame_batch(self, frames: List[np.ndarray],
                            frame_ids: List[str]) -> List[DataSample]:
        """At most ``T`` frames → their per-frame samples."""
        n = len(frames)
        packed = self._pack_frames(
            frames,
            dict(clip_id='clip', frame_ids=frame_ids,
                 frame_inds=list(range(n)), num_frames=n,
                 num_skipped_frames=0, asr=''))
        data = self.model.data_preprocessor(default_collate([packed]), False)
        sample = data['data_samples'][0]
        # The pipeline pads to T frames; only the n real ones are encoded.
        masks = sample.patch_masks[:n].bool().to(self.device) \
            if getattr(self.model, 'use_boxes', False) else None
        emb, tokens = self.model.encode_frames(
            data['inputs']['frames'][0, :n], masks)
        out = []
        for i in range(n):
            s = DataSample(
                metainfo=dict(frame_id=frame_ids[i],
                              det_box=sample.det_boxes[i],
                              det_score=sample.det_scores[i]))
            s.set_data(dict(frame_emb=emb[i], frame_tokens=tokens[i]))
            if masks is not None:
                s.set_data(dict(patch_mask=masks[i]))
            out.append(s)
        return out

    @torch.no_grad()
    def pool_frames(self, frames: Sequence[DataSample],
                    clip_id: str = 'clip') -> DataSample:
        """A clip's encoding from frames encoded by :meth:`encode_frames`:
        the config's sampling rule picks at most ``T`` of them and the
        model pools them, which gives :meth:`encode_clip`'s clip embedding
        for the same frames without encoding any frame again.

        Args:
            frames: the clip's encoded frames, in time order.
            clip_id: the clip's name.

        Returns:
            DataSample: as :meth:`encode_clip`'s, for :meth:`rank`.

        Raises:
            ValueError: no frame is given.
        """
        if not frames:
            raise ValueError('no frame to pool')
        inds = uniform_indices(len(frames), self.sampling.num_frames,
                               self.sampling.rule).tolist()
        picked = [frames[i] for i in inds]
        n, t = len(picked), max(self.sampling.num_frames, len(picked))
        emb = torch.stack([f.frame_emb for f in picked])
        tokens = torch.stack([f.frame_tokens for f in picked])
        # Padding frames, as the query pipeline pads a short clip; they
        # are masked out of the pooling and the tokens' validity.
        emb = torch.cat([emb, emb.new_zeros((t - n, ) + emb.shape[1:])])
        tokens = torch.cat(
            [tokens, tokens.new_zeros((t - n, ) + tokens.shape[1:])])
        mask = torch.zeros(1, t, dtype=torch.bool, device=emb.device)
        mask[0, :n] = True
        masks = None
        if 'patch_mask' in picked[0]:
            masks = torch.zeros(1, t, tokens.shape[1], dtype=torch.bool,
                                device=emb.device)
            masks[0, :n] = torch.stack([f.patch_mask for f in picked])
        clip, clip_tokens, valid = self.model.pool_frames(
            emb, tokens, mask, masks)
        sample = DataSample(
            metainfo=dict(
                clip_id=clip_id,
                frame_ids=[f.frame_id for f in picked],
                frame_inds=inds,
                num_frames=t,
                det_boxes=[f.det_box for f in picked],
                det_scores=[f.det_score for f in picked]))
        sample.set_data(
            dict(clip_emb=clip[0], clip_tokens=clip_tokens[0],
                 clip_valid=valid[0], has_frames=True))
        return sample

    def rank(self, clip_sample: DataSample, gallery: GalleryInput,
             topk: int = 5) -> dict:
        """Rank a gallery for a clip encoded by :meth:`encode_clip`.

        Returns:
            dict: as one of :meth:`__call__`'s predictions.
        """
        index = self.load_gallery(gallery)
        rows, scores = self._rank([clip_sample], index, check_topk(topk))[0]
        ranked = DataSample(metainfo=clip_sample.metainfo)
        ranked.set_data(
            dict(pred_rows=rows,
                 pred_image_ids=[index.image_ids[r] for r in rows.tolist()],
                 pred_scores=scores))
        return self.prediction(ranked)
