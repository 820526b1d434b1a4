"""Pictures of clip-to-shop rankings made by the retrieval loops
(``tools/test.py --show-dir``)."""
import logging
import os.path as osp
from typing import List, Optional, Tuple

import mmcv
import numpy as np
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.utils import mkdir_or_exist
from mmengine.visualization import Visualizer
from mmpretrain.registry import HOOKS

from ..datasets.transforms.clip_sampling import uniform_indices
from ..utils.progress import ProgressBar


def _decode(store, item_id: str) -> Optional[np.ndarray]:
    data = store.get(item_id) if store is not None else None
    if data is None:
        return None
    try:
        return mmcv.imfrombytes(data, flag='color', channel_order='rgb')
    except Exception:  # noqa: BLE001 - a corrupt file is left out
        return None


def gt_rank(ranking: List, gt_ids: List) -> Optional[int]:
    """1-based rank of the first ground-truth id in ``ranking``, or
    ``None``."""
    gt = set(gt_ids)
    return next((r + 1 for r, i in enumerate(ranking) if i in gt), None)


@HOOKS.register_module()
class RetrievalVisualizationHook(Hook):
    """Draw each query's ranking after a retrieval val/test loop
    (:class:`~lpr.engine.LPRRetrievalTestLoop`): its frames with their boxes
    above its top-k shop images, scores and ids, the GT framed in green
    (:meth:`lpr.visualization.LPRVisualizer.draw_retrieval`).

    When ``draw`` is set, the hook asks the loop to keep its per-query
    predictions (rankings of gallery ids and scores; nothing is kept
    otherwise) and draws them after the loop's epoch. Frames come from the
    query dataset's frame store (or, for datasets without one, from its
    pipeline), shop images from the gallery dataset's image store.

    As mmdet's ``DetVisualizationHook``: with ``test_out_dir`` the test
    pictures are written to ``<work_dir>/<timestamp>/<test_out_dir>/
    <clip_id>.jpg``; with ``show`` they are displayed; otherwise they go to
    the visualizer's backends.

    Args:
        draw: draw at all. Defaults to False.
        interval: draw every ``interval``-th query.
        topk: shop images per picture.
        max_frames: the most frames per picture (evenly spaced).
        max_pictures: stop after this many pictures per run (``None``: no
            limit).
        show: display the pictures.
        wait_time: how long each is displayed (s).
        test_out_dir: folder of the test pictures.
    """

    priority = 'LOW'

    def __init__(self,
                 draw: bool = False,
                 interval: int = 1,
                 topk: int = 5,
                 max_frames: int = 8,
                 max_pictures: Optional[int] = None,
                 show: bool = False,
                 wait_time: float = 0.,
                 test_out_dir: Optional[str] = None) -> None:
        if interval < 1 or topk < 1 or max_frames < 1:
            raise ValueError('interval, topk and max_frames must be >= 1')
        self._visualizer: Visualizer = Visualizer.get_current_instance()
        if not hasattr(self._visualizer, 'draw_retrieval'):
            raise TypeError(
                f'{type(self._visualizer).__name__} cannot draw rankings; '
                "set visualizer=dict(type='LPRVisualizer') in the config")
        self.draw = draw
        self.interval = interval
        self.topk = topk
        self.max_frames = max_frames
        self.max_pictures = max_pictures
        self.show = show
        if show:
            self._visualizer._vis_backends = {}
        self.wait_time = wait_time
        self.test_out_dir = test_out_dir
        self._step = 0

    # ------------------------------------------------------------- hooks
    def before_val(self, runner) -> None:
        self._arm(runner.val_loop)

    def before_test(self, runner) -> None:
        self._arm(runner.test_loop)

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._draw_loop(runner, runner.val_loop, 'val')

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._draw_loop(runner, runner.test_loop, 'test')

    # ----------------------------------------------------------- drawing
    def _arm(self, loop) -> None:
        if not self.draw:
            return
        if not hasattr(loop, 'keep_predictions'):
            print_log(
                f'{type(loop).__name__} keeps no per-query rankings; no '
                'retrieval picture will be drawn',
                logger='current',
                level=logging.WARNING)
            return
        loop.keep_predictions = True

    def _draw_loop(self, runner, loop, mode: str) -> None:
        preds = getattr(loop, 'predictions', None)
        if not self.draw or preds is None:
            return
        loop.predictions = None
        out_dir = None
        if mode == 'test' and self.test_out_dir is not None:
            out_dir = osp.join(runner.work_dir, runner.timestamp,
                               self.test_out_dir)
            mkdir_or_exist(out_dir)
        chosen = preds[::self.interval][:self.max_pictures]
        queries = loop.dataloader.dataset
        gallery = loop.gallery_dataloader.dataset
        bar = ProgressBar(
            len(chosen), desc='drawing rankings', unit='pictures')
        for pred in chosen:
            self._step += 1
            self.draw_prediction(pred, queries, gallery, out_dir, mode,
                                 self._step)
            bar.update()
        if out_dir is not None:
            print_log(f'{len(chosen)} ranking pictures in {out_dir}',
                      logger='current')

    def draw_prediction(self, pred, queries, gallery,
                        out_dir: Optional[str] = None, mode: str = 'test',
                        step: int = 0) -> np.ndarray:
        """Draw one query's ranking.

        Args:
            pred: the metric's sample of the query (``sample_idx``,
                ``clip_id``, ``gt_image_ids``, ``pred_ranking``,
                ``pred_scores``): a dict or a data sample.
            queries: the query dataset.
            gallery: the gallery dataset (its ``image_store`` gives the shop
                images).
            out_dir: where to write ``<clip_id>.jpg``; ``None`` shows the
                picture or sends it to the backends.
            mode: ``'val'`` or ``'test'``, the backend name's prefix.
            step: the backend step.

        Returns:
            np.ndarray: the (H, W, 3) RGB picture.
        """
        idx = int(pred.get('sample_idx'))
        info = queries.get_data_info(idx)
        clip_id = str(pred.get('clip_id', info.get('clip_id', idx)))
        frames, boxes = self._frames(queries, info, idx)
        ranking = list(pred.get('pred_ranking', []))
        scores = list(pred.get('pred_scores', []))
        gt_ids = list(pred.get('gt_image_ids', info.get('gt_image_ids', [])))
        store = getattr(gallery, 'image_store', None)
        images, ids, kept = [], [], []
        for image_id, score in zip(ranking[:self.topk],
                                   scores[:self.topk]):
            img = _decode(store, image_id)
            if img is None:
                img = np.full((8, 8, 3), 200, np.uint8)
            images.append(img)
            ids.append(image_id)
            kept.append(float(score))
        rank = gt_rank(ranking, gt_ids)
        title = f'{clip_id}: ' + (
            f'GT at rank {rank} of {len(ranking)}' if rank else
            'GT not ranked' if ranking else 'not ranked (no frame)')
        out_file = osp.join(out_dir, f'{clip_id}.jpg') if out_dir else None
        drawn = self._visualizer.draw_retrieval(
            frames, images, kept, image_ids=ids, frame_boxes=boxes,
            gt_image_ids=gt_ids, title=title, out_file=out_file,
            show=self.show and out_file is None)
        if out_file is None and not self.show:
            self._visualizer.add_image(f'{mode}_{clip_id}', drawn, step)
        return drawn

    def _frames(self, queries, info: dict, idx: int
                ) -> Tuple[List[np.ndarray], Optional[List[np.ndarray]]]:
        """Up to ``max_frames`` evenly spaced frames (RGB) of the query and
        their boxes (normalised), read from its frame store; without one,
        the frames the dataset's pipeline packs (no boxes)."""
        frame_ids = info.get('frame_ids') or []
        store = info.get('frame_store')
        if store is None:
            return self._pipeline_frames(queries, idx), None
        all_boxes = info.get('frame_boxes')
        frames, boxes = [], []
        for i in uniform_indices(len(frame_ids), self.max_frames, 'linspace'):
            img = _decode(store, frame_ids[i])
            if img is None:
                continue
            frames.append(img)
            boxes.append(
                np.asarray(all_boxes[i], np.float32).reshape(-1, 4)
                if all_boxes is not None else None)
        return frames, boxes

    def _pipeline_frames(self, queries, idx: int) -> List[np.ndarray]:
        inputs = queries[idx]['inputs']
        frames = inputs.get('frames')
        if frames is None:
            return []
        mask = inputs.get('frame_mask')
        frames = frames[mask] if mask is not None else frames
        keep = uniform_indices(len(frames), self.max_frames, 'linspace')
        # Packed frames are (T, 3, H, W) in OpenMMLab's BGR order.
        return [
            np.ascontiguousarray(frames[i].permute(1, 2, 0).numpy()[..., ::-1])
            for i in keep
        ]
