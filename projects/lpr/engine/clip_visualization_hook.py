"""Detection pictures for single-frame and multi-frame intended-product
detectors (``tools/test.py --show-dir``)."""
import os.path as osp
from typing import List, Sequence

import mmcv
import numpy as np
from mmdet.engine.hooks import DetVisualizationHook
from mmdet.registry import HOOKS
from mmdet.structures import TrackDataSample
from mmengine.fileio import get
from mmengine.utils import mkdir_or_exist


@HOOKS.register_module()
class ClipVisualizationHook(DetVisualizationHook):
    """mmdet's :class:`DetVisualizationHook` that also draws the clips of a
    multi-frame detector: a :class:`TrackDataSample` output becomes one
    picture, the clip's frames as a strip with GT and predicted boxes
    (:meth:`lpr.visualization.LPRVisualizer.draw_clip`), written to
    ``<work_dir>/<timestamp>/<test_out_dir>/<clip>.jpg`` (``<clip>``: the
    folder of its frames). Frame samples are drawn as mmdet draws them.

    Args:
        max_frames: the most frames per clip picture (evenly spaced).
        **kwargs: :class:`DetVisualizationHook` arguments (``draw``,
            ``interval``, ``score_thr``, ``show``, ``wait_time``,
            ``test_out_dir``, ``backend_args``).
    """

    def __init__(self, max_frames: int = 10, **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_frames = max_frames

    def after_val_iter(self, runner, batch_idx: int, data_batch: dict,
                       outputs: Sequence) -> None:
        if not outputs or not isinstance(outputs[0], TrackDataSample):
            return super().after_val_iter(runner, batch_idx, data_batch,
                                          outputs)
        if not self.draw:
            return
        step = runner.iter + batch_idx
        if step % self.interval == 0:
            self._draw_clip(outputs[0], 'val_clip', None, step)

    def after_test_iter(self, runner, batch_idx: int, data_batch: dict,
                        outputs: Sequence) -> None:
        if not outputs or not isinstance(outputs[0], TrackDataSample):
            return super().after_test_iter(runner, batch_idx, data_batch,
                                           outputs)
        if not self.draw:
            return
        out_dir = None
        if self.test_out_dir is not None:
            out_dir = osp.join(runner.work_dir, runner.timestamp,
                               self.test_out_dir)
            mkdir_or_exist(out_dir)
        for clip in outputs:
            self._test_index += 1
            self._draw_clip(clip, 'test_clip', out_dir, self._test_index)

    def _draw_clip(self, clip: TrackDataSample, name: str, out_dir,
                   step: int) -> None:
        if not hasattr(self._visualizer, 'draw_clip'):
            raise TypeError(
                f'{type(self._visualizer).__name__} cannot draw clips; set '
                "visualizer=dict(type='LPRVisualizer') in the config")
        paths: List[str] = [clip[i].img_path for i in range(len(clip))]
        keep = np.unique(
            np.linspace(0, len(paths) - 1,
                        min(self.max_frames, len(paths))).astype(int))
        if len(keep) < len(paths):
            clip = TrackDataSample(
                video_data_samples=[clip[int(i)] for i in keep],
                metainfo=clip.metainfo)
            paths = [paths[i] for i in keep]
        frames = [
            mmcv.imfrombytes(
                get(p, backend_args=self.backend_args),
                channel_order='rgb') for p in paths
        ]
        clip_name = osp.basename(osp.dirname(paths[0])) if paths else name
        out_file = osp.join(out_dir, f'{clip_name}.jpg') if out_dir else None
        self._visualizer.add_datasample(
            clip_name if (self.show or out_file) else name,
            frames,
            data_sample=clip,
            show=self.show,
            wait_time=self.wait_time,
            pred_score_thr=self.score_thr,
            out_file=out_file,
            step=step)
