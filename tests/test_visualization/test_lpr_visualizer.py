"""LPRVisualizer: layout, GT frame and box pixels of the ranking, pair and
clip pictures."""
import numpy as np
import pytest
import torch

import lpr  # noqa: F401
from lpr.visualization import GT_COLOR, PRED_COLOR, LPRVisualizer
from lpr.visualization.layout import GAP, LINE, MARGIN, boxes_to_pixels
from lpr.visualization.lpr_visualizer import CLIP_BOX_COLOR

FRAME_GREY = (90, 90, 90)


@pytest.fixture(scope='module')
def vis():
    return LPRVisualizer.get_instance('test_lpr_visualizer')


def solid(h, w, color):
    img = np.empty((h, w, 3), np.uint8)
    img[:] = color
    return img


def near(pixel, color, tol=40):
    return np.abs(pixel.astype(int) - np.array(color)).max() <= tol


def any_near(img, ys, xs, color, tol=40):
    return any(near(img[y, x], color, tol) for y in ys for x in xs)


def test_draw_retrieval_layout_gt_frame_and_boxes(vis, tmp_path):
    # Two 100x200 frames → 128x256 each; three shop images in 128 cells.
    frames = [solid(100, 200, FRAME_GREY), solid(100, 200, FRAME_GREY)]
    gallery = [solid(50, 80, (200, 30, 30)), solid(64, 64, (30, 30, 200)),
               solid(80, 40, (200, 200, 30))]
    out = tmp_path / 'sub' / 'ranking.png'
    canvas = vis.draw_retrieval(
        frames, gallery, [0.9, 0.5, 0.1], image_ids=['a', 'b', 'c'],
        frame_boxes=[np.array([[0.25, 0.25, 0.75, 0.75]]), None],
        gt_image_ids=['b'], out_file=str(out))
    size = vis.tile_size
    grid_w = 2 * 256 + GAP
    width = 2 * MARGIN + grid_w
    height = MARGIN + 128 + 2 * GAP + LINE + size + 2 * LINE + MARGIN
    assert canvas.shape == (height, width, 3)
    assert canvas.dtype == np.uint8
    assert out.exists()

    # The GT (rank 2) cell is framed in green, exactly, and only it.
    row_y = MARGIN + 128 + 2 * GAP + LINE
    ys, xs = np.nonzero((canvas == GT_COLOR).all(axis=2))
    x0 = MARGIN + (size + GAP)
    assert (xs.min(), xs.max()) == (x0, x0 + size - 1)
    assert (ys.min(), ys.max()) == (row_y, row_y + size - 1)
    assert near(canvas[row_y + size // 2, x0 + 1], GT_COLOR, 0)
    # Inside the frame: the shop image, letterboxed.
    assert near(canvas[row_y + size // 2, x0 + size // 2], (30, 30, 200), 5)
    # Rank 1 has no frame.
    assert not near(canvas[row_y + size // 2, MARGIN + 1], GT_COLOR, 60)

    # The clip box [0.25, 0.75] of frame 1 → frame pixels [64, 32, 192, 96]
    # → canvas [72, 40, 200, 104]; drawn in orange, its inside untouched.
    assert any_near(canvas, range(70, 75), range(70, 75), CLIP_BOX_COLOR)
    assert any_near(canvas, range(38, 43), range(134, 138), CLIP_BOX_COLOR)
    assert near(canvas[72, 136], FRAME_GREY, 2)
    # Frame 2 has no box.
    x2 = MARGIN + 256 + GAP
    assert not any_near(canvas, range(38, 43), range(x2 + 60, x2 + 200),
                        CLIP_BOX_COLOR, 60)


def test_draw_retrieval_title_and_empty_clip(vis):
    canvas = vis.draw_retrieval([], [solid(10, 10, (0, 0, 255))], [0.3],
                                title='clip 1: GT not ranked')
    # A title line, then a grey placeholder frame.
    top = MARGIN + LINE + GAP
    assert near(canvas[top + 64, MARGIN + 100], (200, 200, 200), 2)
    assert canvas.shape[1] >= 2 * MARGIN + 240


@pytest.mark.parametrize('kwargs, message', [
    (dict(scores=[0.1]), '1 scores for 2 gallery images'),
    (dict(image_ids=['a']), '1 image ids for 2 gallery images'),
    (dict(frame_boxes=[None, None]), '2 box sets for 1 frames'),
])
def test_draw_retrieval_rejects_mismatched_lengths(vis, kwargs, message):
    args = dict(frames=[solid(8, 8, 0)], gallery_images=[solid(8, 8, 0)] * 2,
                scores=[0.5, 0.4])
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        vis.draw_retrieval(**args)


def test_draw_clip_gt_and_predicted_boxes(vis):
    frames = [solid(100, 100, FRAME_GREY)] * 3
    canvas = vis.draw_clip(
        frames,
        gt_boxes=[np.array([[10, 10, 50, 50]]), None, None],
        pred_boxes=[np.array([[20, 20, 80, 80], [60, 5, 95, 40]]), None,
                    None],
        pred_scores=[np.array([0.9, 0.1]), None, None],
        pred_score_thr=0.5)
    top = MARGIN + LINE + GAP  # the legend line
    assert canvas.shape == (top + 128 + MARGIN,
                            2 * MARGIN + 3 * 128 + 2 * GAP, 3)
    s = 1.28
    # GT left edge at x = 8 + 10 * 1.28, mid-height of the box.
    gx, gy = int(MARGIN + 10 * s), int(top + 30 * s)
    assert any_near(canvas, range(gy - 1, gy + 2), range(gx - 2, gx + 3),
                    GT_COLOR)
    # Prediction (0.9) bottom edge at y = top + 80 * 1.28.
    px, py = int(MARGIN + 50 * s), int(top + 80 * s)
    assert any_near(canvas, range(py - 2, py + 3), range(px - 1, px + 2),
                    PRED_COLOR)
    # The 0.1 prediction is under the threshold: its right edge is not drawn.
    lx, ly = int(MARGIN + 95 * s), int(top + 30 * s)
    assert near(canvas[ly, lx], FRAME_GREY, 2)
    # The second frame has no box.
    x2 = MARGIN + 128 + GAP
    assert near(canvas[top + 64, x2 + 13], FRAME_GREY, 2)


def test_draw_clip_rejects_mismatched_lengths(vis):
    with pytest.raises(ValueError, match='1 pred_boxes for 2 frames'):
        vis.draw_clip([solid(8, 8, 0)] * 2, pred_boxes=[None])


def test_draw_pair_frames_the_positive_image(vis):
    canvas = vis.draw_pair([solid(64, 64, FRAME_GREY)],
                           [solid(32, 32, (0, 0, 255))],
                           frame_boxes=[np.array([[0.1, 0.1, 0.9, 0.9]])],
                           image_ids=['img'], title='a title', asr='some asr')
    ys, xs = np.nonzero((canvas == GT_COLOR).all(axis=2))
    assert xs.min() == MARGIN and xs.max() == MARGIN + vis.tile_size - 1
    with pytest.raises(ValueError, match='2 image ids for 1 images'):
        vis.draw_pair([], [solid(8, 8, 0)], image_ids=['a', 'b'])


def test_add_datasample_draws_a_track_sample_as_a_strip(vis, tmp_path):
    from mmdet.structures import DetDataSample, TrackDataSample
    from mmengine.structures import InstanceData
    frames, samples = [], []
    for t in range(3):
        frames.append(solid(100, 100, FRAME_GREY))
        s = DetDataSample()
        s.gt_instances = InstanceData(
            bboxes=torch.tensor([[10., 10., 50., 50.]]),
            labels=torch.tensor([0]))
        s.pred_instances = InstanceData(
            bboxes=torch.tensor([[20., 20., 80., 80.]]),
            scores=torch.tensor([0.9]), labels=torch.tensor([0]))
        samples.append(s)
    clip = TrackDataSample(video_data_samples=samples)
    out = tmp_path / 'clip.jpg'
    vis.add_datasample('clip', frames, data_sample=clip, out_file=str(out))
    assert out.exists()
    import mmcv
    written = mmcv.imread(str(out), channel_order='rgb')
    assert written.shape[1] == 2 * MARGIN + 3 * 128 + 2 * GAP
    with pytest.raises(ValueError, match='2 frames for a clip of 3'):
        vis.add_datasample('clip', frames[:2], data_sample=clip)


def test_boxes_to_pixels_reads_fractions_and_clips():
    px = boxes_to_pixels(np.array([[0.5, 0.5, 1.0, 1.0], [0, 0, 0, 0]]),
                         (100, 200))
    np.testing.assert_allclose(px, [[100, 50, 200, 100]])
    px = boxes_to_pixels(np.array([[10, 20, 300, 40]]), (100, 200))
    np.testing.assert_allclose(px, [[10, 20, 200, 40]])
