"""The plugin's visualizer: clip-to-shop rankings, training pairs and clips
of frames with detection boxes.

It extends mmdet's :class:`~mmdet.visualization.DetLocalVisualizer`, so a
single-frame detector's samples are drawn the mmdet way, and is registered
in both the mmpretrain (retrieval configs) and the mmdet (detection
configs) ``VISUALIZERS`` registries.
"""
import warnings
from typing import List, Optional, Sequence, Tuple

import mmcv
import numpy as np
from mmdet.registry import VISUALIZERS as DET_VISUALIZERS
from mmdet.structures import TrackDataSample
from mmdet.visualization import DetLocalVisualizer
from mmpretrain.registry import VISUALIZERS as CLS_VISUALIZERS

from .fonts import text_font
from .layout import (BACKGROUND, GAP, LINE, MARGIN, Canvas, Color, Placed,
                     boxes_to_pixels, frame_grid, letterbox, paint_border,
                     to_rgb_uint8, wrap)

GT_COLOR: Color = (0, 200, 0)
PRED_COLOR: Color = (220, 20, 60)
CLIP_BOX_COLOR: Color = (255, 140, 0)
TEXT_COLOR: Color = (0, 0, 0)
PLACEHOLDER: Color = (200, 200, 200)
LABEL_BACKGROUND = dict(facecolor='white', alpha=0.7, pad=0.5,
                        edgecolor='none')

# (boxes (K, 4), colour, labels or None) drawn on one frame.
BoxSet = Tuple[Optional[np.ndarray], Color, Optional[Sequence[str]]]


@CLS_VISUALIZERS.register_module()
@DET_VISUALIZERS.register_module()
class LPRVisualizer(DetLocalVisualizer):
    """Draws LPR pictures on a white canvas.

    * :meth:`draw_retrieval`: a clip's frames (with the boxes that guide the
      retriever) above its top-k shop images, their scores and ids; a green
      frame marks a ground-truth image.
    * :meth:`draw_pair`: a training pair (frames with their boxes, the
      positive image, title and ASR), or a query with its GT images.
    * :meth:`draw_clip`: a clip as a strip of frames with GT (green) and
      predicted (red) boxes; :meth:`add_datasample` draws a
      :class:`~mmdet.structures.TrackDataSample` this way and anything else
      as :class:`DetLocalVisualizer` does.

    Args:
        name: the instance name.
        frame_height: height of a frame in the pictures (px).
        tile_size: side of a shop image cell (px).
        frames_per_row: frames per row before wrapping.
        max_width: the widest a row of frames may be (px); frames shrink to
            fit.
        font_size: text size (pt).
        **kwargs: :class:`DetLocalVisualizer` arguments (``vis_backends``,
            ``save_dir``, ``line_width``...).
    """

    def __init__(self,
                 name: str = 'visualizer',
                 frame_height: int = 128,
                 tile_size: int = 128,
                 frames_per_row: int = 8,
                 max_width: int = 1600,
                 font_size: int = 9,
                 **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.frame_height = frame_height
        self.tile_size = tile_size
        self.frames_per_row = frames_per_row
        self.max_width = max_width
        self.font_size = font_size

    # ------------------------------------------------------------ pictures
    def draw_retrieval(self,
                       frames: List[np.ndarray],
                       gallery_images: List[np.ndarray],
                       scores: Sequence[float],
                       image_ids: Optional[Sequence[str]] = None,
                       frame_boxes: Optional[List[Optional[
                           np.ndarray]]] = None,
                       gt_image_ids: Optional[Sequence[str]] = None,
                       title: str = '',
                       out_file: Optional[str] = None,
                       show: bool = False) -> np.ndarray:
        """Draw a clip's ranking.

        Args:
            frames: the clip's frames, (H, W, 3) uint8 RGB each (may be
                empty: a grey placeholder is drawn).
            gallery_images: the top-k shop images, best first, (H, W, 3)
                uint8 RGB.
            scores: (k,) their scores.
            image_ids: (k,) their ids (written under them; needed to mark
                ground truth).
            frame_boxes: per frame, ``None`` or (K, 4) boxes in pixels or
                normalised to [0, 1].
            gt_image_ids: ids of the ground-truth images.
            title: text above the picture.
            out_file: where to write the picture (JPEG/PNG by extension).
            show: display it in a window.

        Returns:
            np.ndarray: the (H, W, 3) uint8 RGB picture.

        Raises:
            ValueError: if ``scores``, ``image_ids`` or ``frame_boxes`` do
                not match ``gallery_images``/``frames`` in length.
        """
        k = len(gallery_images)
        if len(scores) != k:
            raise ValueError(f'{len(scores)} scores for {k} gallery images')
        if image_ids is not None and len(image_ids) != k:
            raise ValueError(f'{len(image_ids)} image ids for {k} gallery '
                             'images')
        gt = set(gt_image_ids or [])
        ids = list(image_ids) if image_ids is not None else [None] * k
        captions = [[f'#{r + 1}  {float(s):.3f}'] +
                    ([self._short(i)] if i is not None else [])
                    for r, (s, i) in enumerate(zip(scores, ids))]
        marked = [i is not None and i in gt for i in ids]
        legend = f'top {k} shop images (rank, score, id)' + (
            '; green frame: ground truth' if gt else '')
        canvas = self._frames_and_tiles(
            [title] if title else [], frames,
            self._box_sets(frames, frame_boxes, CLIP_BOX_COLOR), legend,
            gallery_images, captions, marked)
        return self._finish(canvas, out_file, show, title or 'retrieval')

    def draw_pair(self,
                  frames: List[np.ndarray],
                  images: List[np.ndarray],
                  frame_boxes: Optional[List[Optional[np.ndarray]]] = None,
                  image_ids: Optional[Sequence[str]] = None,
                  title: str = '',
                  asr: str = '',
                  header: str = '',
                  out_file: Optional[str] = None,
                  show: bool = False) -> np.ndarray:
        """Draw a clip with its matching shop image(s): a training pair, or a
        test query with its GT images. Boxes and image cells are green (they
        are annotations).

        Args:
            frames: (H, W, 3) uint8 RGB frames.
            images: the matching shop images, (H, W, 3) uint8 RGB.
            frame_boxes: per frame, ``None`` or (K, 4) boxes (pixels or
                normalised).
            image_ids: ids written under the images.
            title: the product title.
            asr: the clip's speech transcript.
            header: a first line (e.g. the clip id).
            out_file: where to write the picture.
            show: display it.

        Returns:
            np.ndarray: the (H, W, 3) uint8 RGB picture.
        """
        if image_ids is not None and len(image_ids) != len(images):
            raise ValueError(f'{len(image_ids)} image ids for {len(images)} '
                             'images')
        ids = list(image_ids) if image_ids is not None else [None] * len(
            images)
        lines = [header] if header else []
        lines += [f'title: {title}'] if title else []
        lines += [f'ASR: {asr}'] if asr else []
        canvas = self._frames_and_tiles(
            lines, frames, self._box_sets(frames, frame_boxes, GT_COLOR),
            'matching shop image' + ('s' if len(images) > 1 else ''),
            images, [[self._short(i)] if i else [] for i in ids],
            [True] * len(images))
        return self._finish(canvas, out_file, show, header or 'pair')

    def draw_clip(self,
                  frames: List[np.ndarray],
                  gt_boxes: Optional[List[Optional[np.ndarray]]] = None,
                  pred_boxes: Optional[List[Optional[np.ndarray]]] = None,
                  pred_scores: Optional[List[Optional[np.ndarray]]] = None,
                  frame_names: Optional[Sequence[str]] = None,
                  title: str = '',
                  pred_score_thr: float = 0.0,
                  out_file: Optional[str] = None,
                  show: bool = False) -> np.ndarray:
        """Draw a clip as a strip of frames with GT (green) and predicted
        (red, with scores) boxes.

        Args:
            frames: T frames, (H, W, 3) uint8 RGB.
            gt_boxes: per frame, ``None`` or (K, 4) boxes (pixels or
                normalised).
            pred_boxes: per frame, ``None`` or (K, 4) predicted boxes.
            pred_scores: per frame, ``None`` or (K,) scores of the
                predictions; boxes scoring below ``pred_score_thr`` are left
                out.
            frame_names: T short labels written on the frames.
            title: text above the strip.
            pred_score_thr: the lowest score drawn.
            out_file: where to write the picture.
            show: display it.

        Returns:
            np.ndarray: the (H, W, 3) uint8 RGB picture.
        """
        n = len(frames)
        for what, values in (('gt_boxes', gt_boxes), ('pred_boxes',
                                                      pred_boxes),
                             ('pred_scores', pred_scores),
                             ('frame_names', frame_names)):
            if values is not None and len(values) != n:
                raise ValueError(f'{len(values)} {what} for {n} frames')
        sets = self._box_sets(frames, gt_boxes, GT_COLOR)
        for t in range(n):
            boxes = None if pred_boxes is None else pred_boxes[t]
            if boxes is None or not len(boxes):
                continue
            boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
            scores = None if pred_scores is None or pred_scores[t] is None \
                else np.asarray(pred_scores[t], np.float32).reshape(-1)
            labels = None
            if scores is not None:
                keep = scores >= pred_score_thr
                boxes, scores = boxes[keep], scores[keep]
                labels = [f'{s:.2f}' for s in scores]
            sets[t].append((boxes, PRED_COLOR, labels))
        lines = [title] if title else []
        lines.append('green: ground truth' + (
            '; red: prediction (score)' if pred_boxes is not None else ''))
        canvas, placed = self._frame_block(lines, frames, sets)
        if frame_names is not None:
            for p, name in zip(placed, frame_names):
                canvas.texts.append((str(name), (p.x + 2, p.y + 2),
                                     TEXT_COLOR, True))
        return self._finish(canvas, out_file, show, title or 'clip')

    def add_datasample(self,
                       name: str,
                       image,
                       data_sample=None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       pred_score_thr: float = 0.3,
                       step: int = 0) -> None:
        """Draw a sample and save it to ``out_file`` or the backends.

        A :class:`TrackDataSample` (a clip of the multi-frame detector)
        comes with ``image`` a list of its T frames (H, W, 3) RGB and is
        drawn by :meth:`draw_clip`; any other sample is drawn by
        :meth:`DetLocalVisualizer.add_datasample`.
        """
        if not isinstance(data_sample, TrackDataSample):
            return super().add_datasample(
                name, image, data_sample, draw_gt=draw_gt,
                draw_pred=draw_pred, show=show, wait_time=wait_time,
                out_file=out_file, pred_score_thr=pred_score_thr, step=step)
        samples = [data_sample[i] for i in range(len(data_sample))]
        if len(samples) != len(image):
            raise ValueError(f'{len(image)} frames for a clip of '
                             f'{len(samples)}')
        gt = [self._instances(s, 'gt_instances')[0] if draw_gt else None
              for s in samples]
        preds = [self._instances(s, 'pred_instances') if draw_pred else
                 (None, None) for s in samples]
        drawn = self.draw_clip(
            list(image),
            gt_boxes=gt,
            pred_boxes=[p[0] for p in preds],
            pred_scores=[p[1] for p in preds],
            frame_names=[str(i) for i in range(len(samples))],
            title=name,
            pred_score_thr=pred_score_thr)
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(drawn[..., ::-1], out_file)
        else:
            self.add_image(name, drawn, step)

    # ------------------------------------------------------------ helpers
    @staticmethod
    def _instances(sample, key: str
                   ) -> Tuple[Optional[np.ndarray], Optional[np.ndarray]]:
        """(K, 4) boxes and (K,) scores (or ``None``) of an instance
        field of a frame sample."""
        if key not in sample:
            return None, None
        inst = sample.get(key)
        if 'bboxes' not in inst:
            return None, None
        boxes = inst.bboxes
        boxes = getattr(boxes, 'tensor', boxes)
        boxes = np.asarray(boxes.detach().cpu() if hasattr(boxes, 'detach')
                           else boxes, np.float32).reshape(-1, 4)
        scores = None
        if 'scores' in inst:
            scores = np.asarray(inst.scores.detach().cpu(), np.float32)
        return boxes, scores

    @staticmethod
    def _short(image_id: str, length: int = 16) -> str:
        image_id = str(image_id)
        return image_id if len(image_id) <= length else \
            image_id[:length - 1] + '…'

    @staticmethod
    def _box_sets(frames: Sequence[np.ndarray],
                  boxes: Optional[List[Optional[np.ndarray]]],
                  color: Color) -> List[List[BoxSet]]:
        if boxes is not None and len(boxes) != len(frames):
            raise ValueError(f'{len(boxes)} box sets for {len(frames)} '
                             'frames')
        if boxes is None:
            return [[] for _ in frames]
        return [[(b, color, None)] if b is not None else [] for b in boxes]

    def _frame_block(self, header: List[str], frames: List[np.ndarray],
                     box_sets: List[List[BoxSet]],
                     extra_height: int = 0,
                     min_width: int = 0) -> Tuple[Canvas, List[Placed]]:
        """A canvas with the header lines and the frame grid, and
        ``extra_height`` free pixels below (the grid starts at the returned
        placements)."""
        frames = [to_rgb_uint8(f) for f in frames]
        empty = not frames
        if empty:
            frames = [np.full((self.frame_height, self.frame_height, 3),
                              PLACEHOLDER, np.uint8)]
            box_sets = [[]]
        placed, grid_w, grid_h = frame_grid(frames, self.frame_height,
                                            self.frames_per_row,
                                            self.max_width)
        width = 2 * MARGIN + max(grid_w, min_width, 240)
        lines = [ln for text in header for ln in wrap(text, width - 2 *
                                                      MARGIN)]
        top = MARGIN + len(lines) * LINE + (GAP if lines else 0)
        height = top + grid_h + extra_height + MARGIN
        image = np.empty((height, width, 3), np.uint8)
        image[:] = BACKGROUND
        canvas = Canvas(image)
        for i, ln in enumerate(lines):
            canvas.texts.append((ln, (MARGIN, MARGIN + i * LINE),
                                 TEXT_COLOR, False))
        for p, frame, sets in zip(placed, frames, box_sets):
            p.x += MARGIN
            p.y += top
            h, w = p.image.shape[:2]
            image[p.y:p.y + h, p.x:p.x + w] = p.image
            for boxes, color, labels in sets:
                px = boxes_to_pixels(boxes, frame.shape)
                if not len(px):
                    continue
                px = px * p.scale + np.array([p.x, p.y, p.x, p.y])
                canvas.boxes.append((px, color))
                for box, label in zip(px, labels or []):
                    canvas.texts.append(
                        (label, (box[0] + 2, box[1] + 2), color, True))
        if empty:
            canvas.texts.append(('no readable frame',
                                 (placed[0].x + 4, placed[0].y + 4),
                                 TEXT_COLOR, False))
        return canvas, placed

    def _frames_and_tiles(self, header: List[str], frames: List[np.ndarray],
                          box_sets: List[List[BoxSet]], legend: str,
                          tiles: List[np.ndarray],
                          captions: List[List[str]],
                          marked: List[bool]) -> Canvas:
        """Header, frame grid, a legend line, then one row of shop image
        cells with captions; ``marked`` cells get a green frame."""
        size = self.tile_size
        n_lines = max([len(c) for c in captions] + [0])
        tiles_w = len(tiles) * (size + GAP) - GAP if tiles else 0
        extra = 2 * GAP + LINE + size + n_lines * LINE
        canvas, placed = self._frame_block(header, frames, box_sets, extra,
                                           tiles_w)
        image = canvas.image
        y = max(p.y + p.image.shape[0] for p in placed) + 2 * GAP
        canvas.texts.append((legend if tiles else 'no shop image',
                             (MARGIN, y), TEXT_COLOR, False))
        y += LINE
        for j, (tile, caption, mark) in enumerate(zip(tiles, captions,
                                                      marked)):
            x = MARGIN + j * (size + GAP)
            image[y:y + size, x:x + size] = letterbox(to_rgb_uint8(tile),
                                                      size)
            if mark:
                paint_border(image, x, y, size, size, GT_COLOR)
            for i, ln in enumerate(caption):
                canvas.texts.append((ln, (x, y + size + 2 + i * LINE),
                                     TEXT_COLOR, False))
        return canvas

    def _render(self, canvas: Canvas) -> np.ndarray:
        """Draw the canvas's boxes and texts with mmengine's drawing API."""
        self.set_image(canvas.image)
        with warnings.catch_warnings():
            # Missing glyphs (Chinese without a CJK font) are drawn as boxes.
            warnings.filterwarnings('ignore', message='.*Glyph.*')
            for boxes, color in canvas.boxes:
                self.draw_bboxes(
                    boxes, edge_colors=color, line_widths=2, alpha=1.0)
            if canvas.texts:
                self.draw_texts(
                    [t[0] for t in canvas.texts],
                    np.array([t[1] for t in canvas.texts], np.float32),
                    font_sizes=self.font_size,
                    colors=[t[2] for t in canvas.texts],
                    bboxes=[LABEL_BACKGROUND if t[3] else None
                            for t in canvas.texts],
                    font_properties=text_font())
            return self.get_image()

    def _finish(self, canvas: Canvas, out_file: Optional[str], show: bool,
                name: str) -> np.ndarray:
        drawn = self._render(canvas)
        if show:
            self.show(drawn, win_name=name)
        if out_file is not None:
            mmcv.imwrite(drawn[..., ::-1], out_file)
        return drawn
