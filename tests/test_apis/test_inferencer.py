"""LPRInferencer: the same rankings as the test loop, clips from folders,
arrays and mp4 files, gallery indexes tied to their weights, detector boxes
steering a box-input retriever, and DataSample outputs of RICE."""
import json
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.registry import DefaultScope
from mmpretrain.registry import DATASETS
from mmpretrain.structures import DataSample

from lpr.apis import (ClipReader, FrameDetector, GalleryIndex,
                      GalleryMismatchError, LPRInferencer, list_models)
from lpr.datasets.transforms import uniform_indices
from lpr.engine.retrieval_loop import rank_queries
from apis_fixtures import (BOX_CFG, MD_CFG, SD_CFG, TOY_CFG,  # noqa: F401
                           inferencer, random_checkpoint, rerank_inferencer,
                           rice_ckpt, toy_live)
from tiny_rice import build_tiny_rice, tiny_batch


def _rgb_frames(folder):
    names = sorted(os.listdir(folder))
    return [cv2.imread(osp.join(folder, n))[..., ::-1].copy() for n in names]


def _loop_ranking(model, cfg, toy_root, clip_id, live_id):
    """Rank one dataset query as the test loop does: the config's datasets
    and pipelines, ``RICE.predict`` and ``rank_queries`` with
    ``RICE.rank``."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        queries = DATASETS.build(
            dict(cfg.test_dataloader.dataset, data_root=toy_root))
        gallery = DATASETS.build(
            dict(cfg.test_cfg.gallery_dataloader.dataset, data_root=toy_root))
    qi = next(i for i in range(len(queries))
              if queries.get_data_info(i)['clip_id'] == clip_id)
    gi = [i for i in range(len(gallery))
          if gallery.get_data_info(i)['live_id'] == live_id]
    q_out = model.test_step(default_collate([queries[qi]]))
    g_out = model.test_step(default_collate([gallery[i] for i in gi]))
    assert isinstance(q_out[0], DataSample) and q_out[0].has_frames
    frame_ids = queries.get_data_info(qi)['frame_ids']
    return rank_queries(q_out, g_out, model.rank)[0], q_out[0], frame_ids


@pytest.mark.parametrize('name,rerank', [('inferencer', 0),
                                         ('rerank_inferencer', 4)],
                         ids=['embedding', 'rerank'])
def test_rankings_equal_the_test_loop(toy_root, toy_live, request, name,
                                      rerank):
    inf = request.getfixturevalue(name)
    assert inf.model.rerank_top_k == rerank
    expected, q_sample, frame_ids = _loop_ranking(
        inf.model, inf.config, toy_root, toy_live['clip_id'],
        toy_live['live_id'])
    n = len(toy_live['images'])
    gallery = inf.build_gallery(toy_live['images'])
    assert (gallery.tokens is not None) == (rerank > 1)
    result = inf(toy_live['clip_dir'], gallery=gallery, topk=n)
    pred = result['predictions'][0]
    assert pred['image_ids'] == expected['pred_ranking']
    assert pred['scores'] == pytest.approx(expected['pred_scores'], abs=1e-5)
    # The clip is sampled as the dataset samples it.
    keep = uniform_indices(len(frame_ids), 8, 'floor').tolist()
    assert pred['frame_ids'] == [frame_ids[i] for i in keep]
    assert pred['boxes'] == [None] * len(pred['frame_ids'])
    json.dumps(result['predictions'])  # JSON-serialisable
    assert result['visualization'] is None
    # Streaming: encode once, rank any gallery.
    sample = inf.encode_clip(toy_live['clip_dir'])
    assert torch.allclose(sample.clip_emb, q_sample.clip_emb, atol=1e-6)
    top3 = inf.rank(sample, gallery, topk=3)
    assert top3['image_ids'] == expected['pred_ranking'][:3]


def test_gallery_index_build_save_load_and_weights_check(
        inferencer, rerank_inferencer, toy_live, tmp_path, capsys):
    folder = tmp_path / 'shop'
    folder.mkdir()
    for p in toy_live['images']:
        shutil.copy(p, folder)
    (folder / 'notes.txt').write_text('not an image')
    out = str(tmp_path / 'index' / 'g.pth')
    index = inferencer.build_gallery(str(folder), out_file=out)
    stems = sorted(osp.splitext(osp.basename(p))[0]
                   for p in toy_live['images'])
    assert index.image_ids == stems
    assert index.embeddings.shape == (len(stems), 128)
    assert torch.allclose(index.embeddings.norm(dim=1),
                          torch.ones(len(stems)))
    assert index.tokens is None  # the toy config does not re-rank
    assert index.weights_sha256 == inferencer.weights_sha256
    loaded = GalleryIndex.load(out)
    assert loaded.image_ids == index.image_ids
    assert torch.equal(loaded.embeddings, index.embeddings)
    assert loaded.sources == [str(folder / f'{s}.jpg') for s in stems]
    # A saved index, the folder and the index object rank alike.
    clip = toy_live['clip_dir']
    by_index = inferencer(clip, gallery=out)['predictions'][0]
    by_folder = inferencer(clip, gallery=str(folder))['predictions'][0]
    assert by_index == by_folder
    assert len(by_index['image_ids']) == 5

    # Other weights: the index is refused, naming the cause.
    other = LPRInferencer(
        'rice_r18-slim_1xb32-18e_toy-lpr4m',  # a model-index name
        weights=random_checkpoint(TOY_CFG, str(tmp_path / 'other.pth'),
                                  seed=1))
    assert other.weights_sha256 != inferencer.weights_sha256
    with pytest.raises(GalleryMismatchError, match='other weights'):
        other(clip, gallery=loaded)
    with pytest.raises(GalleryMismatchError, match='other weights'):
        other.rank(other.encode_clip(clip), out)
    # Same weights, re-ranking config: the index lacks tokens.
    rerank = rerank_inferencer
    assert rerank.weights_sha256 == inferencer.weights_sha256
    with pytest.raises(GalleryMismatchError, match='no image tokens'):
        rerank(clip, gallery=loaded)
    with_tokens = inferencer.build_gallery(str(folder), keep_tokens=True)
    assert rerank(clip, gallery=with_tokens, topk=2)['predictions'][0][
        'image_ids']
    # Not an index / missing / duplicate ids.
    with pytest.raises(ValueError, match='not a gallery index'):
        GalleryIndex.load(str(folder / 'notes.txt'))
    with pytest.raises(ValueError, match='does not exist'):
        inferencer(clip, gallery=str(tmp_path / 'missing'))
    with pytest.raises(ValueError, match='unique'):
        inferencer.build_gallery(toy_live['images'][:2],
                                 ids=['a', 'a'])
    assert 'rice_r18-slim_1xb32-18e_toy-lpr4m' in list_models('rice*')
    assert LPRInferencer.list_models('rice*') == list_models('rice*')
    # Batch by batch, with progress; the same embeddings.
    capsys.readouterr()
    small = inferencer.build_gallery(str(folder), batch_size=2)
    assert 'encoding gallery' in capsys.readouterr().out
    assert torch.allclose(small.embeddings, index.embeddings, atol=1e-5)


def test_clip_inputs_folder_arrays_video(inferencer, toy_live, tmp_path):
    gallery = inferencer.build_gallery(toy_live['images'])
    folder = toy_live['clip_dir']
    frames = _rgb_frames(folder)
    by_folder = inferencer(folder, gallery=gallery)['predictions'][0]
    by_arrays = inferencer(frames, gallery=gallery)['predictions'][0]
    assert by_arrays['image_ids'] == by_folder['image_ids']
    assert by_arrays['scores'] == by_folder['scores']
    assert inferencer(np.stack(frames), gallery=gallery)['predictions'][0][
        'scores'] == by_folder['scores']
    # Two clips in one call, batched.
    both = inferencer([folder, frames], gallery=gallery, batch_size=2)
    assert [p['scores'] for p in both['predictions']] == \
        [by_folder['scores']] * 2

    # An mp4 at 1 fps: one grid frame per frame written.
    video = str(tmp_path / 'clip.mp4')
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*'mp4v'), 1.0,
                             (w, h))
    for f in frames:
        writer.write(f[..., ::-1])
    writer.release()
    reader = ClipReader(video)
    assert len(reader) == len(frames)
    by_video = inferencer.encode_clip(video)
    ref = inferencer.encode_clip(frames)
    assert by_video.metainfo['frame_ids'] == [
        f'clip_{i:04d}' for i in range(len(frames))
    ]
    cos = torch.dot(by_video.clip_emb, ref.clip_emb).item()
    assert cos > 0.99  # lossy codec, same frames
    assert len(inferencer(video, gallery=gallery)['predictions'][0]
               ['image_ids']) == 5

    # Sampling: the config's rule (8 frames, floor) on a long clip.
    long_clip = [frames[i % len(frames)] for i in range(23)]
    sample = inferencer.encode_clip(long_clip)
    expected = uniform_indices(23, 8, 'floor').tolist()
    assert (inferencer.sampling.num_frames, inferencer.sampling.rule) == \
        (8, 'floor')
    assert sample.metainfo['frame_inds'] == expected
    assert sample.metainfo['frame_ids'] == [f'clip_{i:04d}'
                                            for i in expected]

    # Malformed clips.
    bad = tmp_path / 'bad.mp4'
    bad.write_bytes(b'not a video')
    empty = tmp_path / 'empty'
    empty.mkdir()
    for clip, match in [
        (str(bad), 'not a readable video'),
        (str(empty), 'no image file'),
        (str(tmp_path / 'nope'), 'does not exist'),
        ([frames[0].astype(np.float32)], 'dtype'),
        ([frames[0][..., 0]], 'shape'),
        ([], 'no clip'),
    ]:
        with pytest.raises(ValueError, match=match):
            inferencer(clip, gallery=gallery)
    for topk in (0, -1, '3', True):
        with pytest.raises(ValueError, match='topk'):
            inferencer(folder, gallery=gallery, topk=topk)
    assert len(inferencer(folder, gallery=gallery, topk=100)[
        'predictions'][0]['image_ids']) == len(gallery)


def test_detector_boxes_steer_a_box_retriever(toy_live, tmp_path):
    ckpt = random_checkpoint(BOX_CFG, str(tmp_path / 'box.pth'))
    sd = random_checkpoint(SD_CFG, str(tmp_path / 'sd.pth'), scope='mmdet')
    detect = LPRInferencer(BOX_CFG, weights=ckpt, det_model=SD_CFG,
                           det_weights=sd, det_score_thr=0.0)
    assert detect.uses_boxes and not detect.detector.video
    frames = _rgb_frames(toy_live['clip_dir'])
    with_boxes = detect.encode_clip(frames)
    detector, detect.detector = detect.detector, None
    whole = detect.encode_clip(frames)  # no boxes: whole frames
    detect.detector = detector
    boxes = with_boxes.metainfo['det_boxes']
    assert len(boxes) == len(frames)
    h, w = frames[0].shape[:2]
    for box in boxes:
        x1, y1, x2, y2 = box
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
    # Boxes become patch masks: fewer valid tokens, another clip vector.
    assert with_boxes.clip_valid.sum() < whole.clip_valid.sum()
    assert not torch.allclose(with_boxes.clip_emb, whole.clip_emb)
    # The frame boxes the pipeline saw are the detector's, normalised.
    gallery = detect.build_gallery(toy_live['images'])
    pred = detect(frames, gallery=gallery, topk=2)['predictions'][0]
    assert pred['boxes'] == boxes and all(
        0 <= s <= 1 for s in pred['box_scores'])
    # Frames encoded one by one (with their own boxes) pool to the same
    # clip vector.
    assert detect.caches_frames
    pooled = detect.pool_frames(detect.encode_frames(frames))
    assert torch.allclose(pooled.clip_emb, with_boxes.clip_emb, atol=1e-6)
    assert torch.equal(pooled.clip_valid, with_boxes.clip_valid)
    assert pooled.metainfo['det_boxes'] == boxes
    # The picture draws the detected boxes on the frames.
    from lpr.visualization.lpr_visualizer import CLIP_BOX_COLOR
    drawn = detect(frames, gallery=gallery, topk=2,
                   show_dir=str(tmp_path))['visualization'][0]
    near = np.abs(drawn.astype(int) - CLIP_BOX_COLOR).max(axis=2) < 30
    assert near.sum() > 4 * len(frames)
    plain = detect.visualizer.draw_retrieval(
        frames, [frames[0]], [1.0])
    assert not (np.abs(plain.astype(int) - CLIP_BOX_COLOR).max(axis=2)
                < 30).any()

    # The multi-frame detector sees the clip as one clip.
    md = random_checkpoint(MD_CFG, str(tmp_path / 'md.pth'), scope='mmdet')
    md_det = FrameDetector(MD_CFG, md)
    assert md_det.video
    out = md_det(frames)
    assert len(out) == len(frames) and all(
        b is not None and len(b[0]) == 4 for b in out)
    assert FrameDetector(MD_CFG, md, score_thr=2.0)(frames) == \
        [None] * len(frames)


def test_picture_of_a_ranking_frames_the_gt_at_its_rank(inferencer, toy_live,
                                                       tmp_path):
    from lpr.visualization import GT_COLOR, LPRVisualizer
    from lpr.visualization.layout import GAP, LINE, MARGIN
    assert isinstance(inferencer.visualizer, LPRVisualizer)
    clip = toy_live['clip_dir']
    # Shop images given as arrays: the index keeps thumbnails to draw.
    arrays = [cv2.imread(p)[..., ::-1].copy() for p in toy_live['images']]
    gallery = inferencer.build_gallery(arrays)
    assert all(t is not None and t.dtype == torch.uint8 and
               max(t.shape[:2]) <= 128 for t in gallery.thumbnails)
    plain = inferencer(clip, gallery=gallery, topk=5)
    assert plain['visualization'] is None  # nothing asked, nothing drawn
    ranking = plain['predictions'][0]['image_ids']
    out_dir = tmp_path / 'pictures'
    result = inferencer(clip, gallery=gallery, topk=5, show_dir=str(out_dir),
                        gt_image_ids=[ranking[2]])
    assert result['predictions'] == plain['predictions']
    path = out_dir / f'{toy_live["clip_id"]}.png'
    canvas = cv2.imread(str(path))[..., ::-1]
    assert np.array_equal(canvas, result['visualization'][0])
    # Five cells at the bottom; the GT (rank 3) framed in green.
    size = inferencer.visualizer.tile_size
    y0 = canvas.shape[0] - MARGIN - 2 * LINE - size
    ys, xs = np.nonzero((canvas[y0:y0 + size] == GT_COLOR).all(axis=2))
    x0 = MARGIN + 2 * (size + GAP)
    assert (xs.min(), xs.max()) == (x0, x0 + size - 1)
    assert (ys.min(), ys.max()) == (0, size - 1)
    assert canvas.shape[1] >= 2 * MARGIN + 5 * size + 4 * GAP
    # The thumbnails are drawn: the cells are not the grey placeholder.
    assert canvas[y0 + size // 2, MARGIN:MARGIN + size].std() > 5

    # Shop images from files (a saved index), mmdet's out_dir, no GT.
    index = str(tmp_path / 'shop.pth')
    inferencer.build_gallery(toy_live['images'], out_file=index)
    again = inferencer(clip, gallery=index, topk=2, out_dir=str(tmp_path))
    canvas = again['visualization'][0]
    assert osp.isfile(tmp_path / f'{toy_live["clip_id"]}.png')
    assert not (canvas == GT_COLOR).all(axis=2).any()
    # One GT list per clip, checked against the number of clips.
    both = inferencer([clip, clip], gallery=gallery, topk=3,
                      show_dir=str(tmp_path / 'two'),
                      gt_image_ids=[[ranking[0]], ['not-an-id']])
    assert len(both['visualization']) == 2
    with pytest.raises(ValueError, match='one list of image ids per clip'):
        inferencer([clip, clip], gallery=gallery, show_dir=str(tmp_path),
                   gt_image_ids=[['a'], ['b'], ['c']])


def test_visualize_calls_draw_retrieval(inferencer, toy_live, tmp_path):
    gallery = inferencer.build_gallery(toy_live['images'])
    calls = []

    class Recorder:

        def draw_retrieval(self, frames, gallery_images, scores, **kwargs):
            calls.append((frames, gallery_images, scores, kwargs))
            return 'picture'

    visualizer = inferencer.visualizer
    try:
        inferencer.visualizer = Recorder()
        result = inferencer(toy_live['clip_dir'], gallery=gallery, topk=2,
                            show_dir=str(tmp_path), gt_image_ids='x')
    finally:
        inferencer.visualizer = visualizer
    assert result['visualization'] == ['picture']
    pred = result['predictions'][0]
    frames, shop, scores, kwargs = calls[0]
    assert len(frames) == len(pred['frame_ids'])
    assert frames[0].dtype == np.uint8 and frames[0].shape[2] == 3
    assert len(shop) == 2 and shop[0].shape[2] == 3
    assert scores == pytest.approx(pred['scores'], abs=1e-5)
    assert kwargs['image_ids'] == pred['image_ids']
    assert kwargs['gt_image_ids'] == ['x']
    assert kwargs['frame_boxes'] is None  # no detector
    assert kwargs['title'].startswith(toy_live['clip_id'])
    assert kwargs['out_file'] == osp.join(str(tmp_path),
                                          f'{toy_live["clip_id"]}.png')


def test_rice_predict_returns_data_samples():
    model = build_tiny_rice()
    samples = [DataSample(metainfo=dict(image_id=f'i{i}', live_id='L'))
               for i in range(3)]
    out = model.predict(tiny_batch(3), samples)
    assert all(isinstance(o, DataSample) for o in out)
    assert out[0].image_id == 'i0' and out[0].live_id == 'L'
    assert out[0].image_emb.shape == (8, )
    assert out[0].image_tokens.shape == (5, 8)
    assert out[0].clip_tokens.shape == (10, 8)
    assert out[0].clip_valid.dtype == torch.bool
    assert [o.has_frames for o in out] == [True, True, False]
    assert set(out[0].keys()) == {'image_emb', 'image_tokens', 'clip_emb',
                                  'clip_tokens', 'clip_valid', 'has_frames'}
    # Without data samples: empty metainfo.
    assert model.predict(tiny_batch(2))[0].metainfo == {}


def test_inferencer_refuses_a_non_retrieval_config(tmp_path):
    cfg = Config.fromfile(TOY_CFG)
    cfg.test_cfg = dict(type='TestLoop')
    with pytest.raises(ValueError, match='gallery_dataloader'):
        LPRInferencer(cfg)
    with pytest.raises(ValueError, match='neither a config file'):
        LPRInferencer('no-such-model')


def test_malformed_indexes_galleries_and_clips(inferencer, toy_live,
                                               tmp_path):
    emb = torch.nn.functional.normalize(torch.randn(2, 4), dim=1)
    for kwargs, match in [
        (dict(image_ids=['a']), 'embeddings of shape'),
        (dict(tokens=torch.zeros(3, 1, 4)), 'tokens of shape'),
        (dict(sources=['x']), '1 sources for 2 images'),
    ]:
        args = dict(image_ids=['a', 'b'], embeddings=emb,
                    weights_sha256='h')
        args.update(kwargs)
        with pytest.raises(ValueError, match=match):
            GalleryIndex(**args)
    future = str(tmp_path / 'v2.pth')
    torch.save(dict(format='lpr-gallery-index', version=2), future)
    with pytest.raises(ValueError, match='version 2'):
        GalleryIndex.load(future)
    other = str(tmp_path / 'other.pth')
    torch.save(dict(state_dict={}), other)
    with pytest.raises(ValueError, match='not a gallery index'):
        GalleryIndex.load(other)
    with pytest.raises(ValueError, match='does not exist'):
        GalleryIndex.load(str(tmp_path / 'none.pth'))

    corrupt = tmp_path / 'corrupt.jpg'
    corrupt.write_bytes(b'\xff\xd8 not really a jpeg')
    for images, kwargs, match in [
        ([], {}, 'no image'),
        (str(tmp_path / 'nope'), {}, 'does not exist'),
        ([str(corrupt)], {}, 'not a readable image'),
        (toy_live['images'][:1], dict(ids=['a', 'b']), '2 ids for 1'),
    ]:
        with pytest.raises(ValueError, match=match):
            inferencer.build_gallery(images, **kwargs)
    with pytest.raises(ValueError, match='a gallery is'):
        inferencer(toy_live['clip_dir'], gallery=3)
    # A gallery of arrays: generated ids, no source files.
    frames = _rgb_frames(toy_live['clip_dir'])
    arrays = inferencer.build_gallery(frames[:2])
    assert arrays.image_ids == ['image_0000', 'image_0001']
    assert arrays.sources == [None, None]

    # A clip whose only frame is corrupt; mismatched frame ids and ASR.
    clip = tmp_path / 'clip'
    clip.mkdir()
    shutil.copy(corrupt, clip / '0000.jpg')
    with pytest.raises(ValueError, match='no readable frame'):
        inferencer.encode_clip(str(clip))
    with pytest.raises(ValueError, match='2 frame ids for 1 frames'):
        ClipReader(frames[:1], frame_ids=['a', 'b'])
    with pytest.raises(ValueError, match='2 ASR texts for 1 clips'):
        inferencer(toy_live['clip_dir'], gallery=arrays, asr=['a', 'b'])
    # A corrupt frame among readable ones is skipped, as the loaders do.
    shutil.copy(toy_live['images'][0], clip / '0001.jpg')
    sample = inferencer.encode_clip(str(clip))
    assert sample.metainfo['frame_ids'] == ['0001']
    assert sample.metainfo['num_skipped_frames'] == 1


def test_inferencer_refuses_a_model_without_rank():
    cfg = Config.fromfile(TOY_CFG)
    cfg.model = dict(
        type='ImageClassifier',
        backbone=dict(type='ResNet', depth=18, base_channels=8),
        neck=dict(type='GlobalAveragePooling'))
    with pytest.raises(TypeError, match='not a retriever'):
        LPRInferencer(cfg)
