"""RetrievalVisualizationHook (rankings of the retrieval loops) and
ClipVisualizationHook (clips of the multi-frame detector)."""
import itertools
import os.path as osp
from types import SimpleNamespace

import mmcv
import numpy as np
import pytest
import torch

import lpr  # noqa: F401
from lpr.engine import ClipVisualizationHook, RetrievalVisualizationHook
from lpr.visualization import GT_COLOR, LPRVisualizer
from lpr.visualization.layout import GAP, LINE, MARGIN

_names = itertools.count()


def new_visualizer(cls=LPRVisualizer):
    """A fresh visualizer, the current instance the hooks pick up."""
    return cls.get_instance(f'test_vis_hooks_{next(_names)}')


@pytest.fixture(scope='module')
def toy_sets(toy_root):
    from lpr.datasets import LPR4MGalleryDataset, LPR4MQueryDataset
    return (LPR4MQueryDataset(data_root=toy_root),
            LPR4MGalleryDataset(data_root=toy_root))


def fake_prediction(queries, gallery, idx=0):
    """The query's live gallery ranked with its first GT image second."""
    info = queries.get_data_info(idx)
    live = [
        gallery.get_data_info(i)['image_id'] for i in range(len(gallery))
        if gallery.get_data_info(i)['live_id'] == info['live_id']
    ]
    gt = info['gt_image_ids'][0]
    others = [i for i in live if i not in info['gt_image_ids']]
    ranking = others[:1] + [gt] + others[1:]
    return dict(sample_idx=idx, clip_id=info['clip_id'],
                gt_image_ids=info['gt_image_ids'], pred_ranking=ranking,
                pred_scores=list(np.linspace(0.9, 0.1, len(ranking))))


def fake_loop(queries, gallery, predictions=None, keep=False):
    return SimpleNamespace(
        keep_predictions=keep, predictions=predictions,
        dataloader=SimpleNamespace(dataset=queries),
        gallery_dataloader=SimpleNamespace(dataset=gallery))


def test_draw_prediction_frames_the_gt_at_its_rank(toy_sets, tmp_path):
    queries, gallery = toy_sets
    new_visualizer()
    hook = RetrievalVisualizationHook(draw=True, topk=3)
    pred = fake_prediction(queries, gallery)
    canvas = hook.draw_prediction(pred, queries, gallery, str(tmp_path))
    assert osp.exists(tmp_path / f'{pred["clip_id"]}.jpg')
    # Cells of the top 3 at the bottom; the GT (rank 2) framed in green.
    size = 128
    y0 = canvas.shape[0] - MARGIN - 2 * LINE - size
    ys, xs = np.nonzero((canvas[y0:y0 + size] == GT_COLOR).all(axis=2))
    x0 = MARGIN + size + GAP
    assert (xs.min(), xs.max()) == (x0, x0 + size - 1)
    assert (ys.min(), ys.max()) == (0, size - 1)
    assert canvas.shape[1] >= 2 * MARGIN + 3 * size + 2 * GAP


def test_hook_asks_the_loop_for_predictions_and_draws_them(toy_sets,
                                                           tmp_path):
    queries, gallery = toy_sets
    new_visualizer()
    hook = RetrievalVisualizationHook(
        draw=True, interval=2, max_pictures=3, test_out_dir='pics')
    runner = SimpleNamespace(work_dir=str(tmp_path), timestamp='ts')
    loop = fake_loop(queries, gallery)
    runner.test_loop = loop
    hook.before_test(runner)
    assert loop.keep_predictions
    loop.predictions = [fake_prediction(queries, gallery, i)
                        for i in range(len(queries))]
    hook.after_test_epoch(runner)
    files = sorted(tmp_path.glob('ts/pics/*.jpg'))
    # Every 2nd query, at most 3.
    expected = [queries.get_data_info(i)['clip_id'] for i in (0, 2, 4)]
    assert sorted(f.stem for f in files) == sorted(expected)
    assert loop.predictions is None  # released


def test_hook_off_keeps_nothing(toy_sets, tmp_path):
    queries, gallery = toy_sets
    new_visualizer()
    hook = RetrievalVisualizationHook(test_out_dir='pics')
    runner = SimpleNamespace(work_dir=str(tmp_path), timestamp='ts')
    runner.test_loop = fake_loop(queries, gallery)
    hook.before_test(runner)
    assert not runner.test_loop.keep_predictions
    hook.after_test_epoch(runner)
    assert not (tmp_path / 'ts').exists()


def test_hook_warns_on_a_loop_without_rankings(monkeypatch):
    import lpr.engine.retrieval_visualization_hook as module
    logged = []
    monkeypatch.setattr(module, 'print_log',
                        lambda msg, **kw: logged.append(msg))
    new_visualizer()
    hook = RetrievalVisualizationHook(draw=True)
    loop = SimpleNamespace()
    hook.before_val(SimpleNamespace(val_loop=loop))
    assert not hasattr(loop, 'keep_predictions')
    assert 'keeps no per-query rankings' in logged[0]


def test_hook_rejects_bad_settings_and_visualizers():
    new_visualizer()
    with pytest.raises(ValueError, match='must be >= 1'):
        RetrievalVisualizationHook(topk=0)
    from mmengine.visualization import Visualizer
    new_visualizer(Visualizer)
    with pytest.raises(TypeError, match='cannot draw rankings'):
        RetrievalVisualizationHook()


def track_sample(paths):
    from mmdet.structures import DetDataSample, TrackDataSample
    from mmengine.structures import InstanceData
    samples = []
    for p in paths:
        s = DetDataSample(metainfo=dict(img_path=p))
        s.gt_instances = InstanceData(
            bboxes=torch.tensor([[10., 10., 60., 60.]]),
            labels=torch.tensor([0]))
        s.pred_instances = InstanceData(
            bboxes=torch.tensor([[20., 20., 90., 90.]]),
            scores=torch.tensor([0.8]), labels=torch.tensor([0]))
        samples.append(s)
    return TrackDataSample(video_data_samples=samples)


def test_clip_hook_writes_one_strip_per_clip(tmp_path):
    folder = tmp_path / 'frames' / 'clip-a'
    folder.mkdir(parents=True)
    paths = []
    for t in range(12):
        p = str(folder / f'clip-a-{t:04d}.jpg')
        mmcv.imwrite(np.full((100, 100, 3), 20 * t, np.uint8), p)
        paths.append(p)
    new_visualizer()
    hook = ClipVisualizationHook(
        draw=True, max_frames=4, test_out_dir=str(tmp_path / 'show'))
    runner = SimpleNamespace(work_dir=str(tmp_path), timestamp='ts')
    hook.after_test_iter(runner, 0, {}, [track_sample(paths)])
    out = tmp_path / 'show' / 'clip-a.jpg'
    assert out.exists()
    # 4 evenly spaced frames of 128 px in a row.
    img = mmcv.imread(str(out))
    assert img.shape[1] == 2 * MARGIN + 4 * 128 + 3 * GAP
    # Off: nothing drawn.
    ClipVisualizationHook(test_out_dir=str(tmp_path / 'off')).after_test_iter(
        runner, 0, {}, [track_sample(paths)])
    assert not (tmp_path / 'off').exists()


def test_clip_hook_needs_the_lpr_visualizer(tmp_path):
    from mmengine.visualization import Visualizer
    new_visualizer(Visualizer)
    hook = ClipVisualizationHook(draw=True)
    runner = SimpleNamespace(work_dir=str(tmp_path), timestamp='ts')
    with pytest.raises(TypeError, match='cannot draw clips'):
        hook.after_test_iter(runner, 0, {}, [track_sample(['x.jpg'])])
