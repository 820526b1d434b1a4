"""Clip sampling, cut-tail, loading with skips, box masks and packing."""
import numpy as np
import pytest
import torch

from lpr.datasets.frame_store import FolderStore
from lpr.datasets.transforms import (SKIPPED, BoxToPatchMask, CutTail,
                                     LoadClipFrames, LoadShopImage,
                                     PackLPRInputs, SampleClipFrames,
                                     box_patch_mask, uniform_indices)


def test_uniform_rules_match_the_official_ones():
    # chunk: first frame of each np.array_split chunk
    n = 23
    expected = [int(c[0]) for c in np.array_split(np.arange(n), 10)]
    assert uniform_indices(n, 10, 'chunk').tolist() == expected
    # floor: linspace(0, n, 10, endpoint=False) floored
    assert uniform_indices(n, 10, 'floor').tolist() == [
        int(x) for x in np.floor(np.linspace(0, n, 10, endpoint=False))
    ]
    assert uniform_indices(n, 10, 'linspace').tolist() == np.linspace(
        0, n - 1, 10).astype(int).tolist()
    for rule in ('chunk', 'floor', 'linspace'):
        assert uniform_indices(7, 10, rule).tolist() == list(range(7))
        inds = uniform_indices(118, 10, rule)
        assert len(inds) == 10 and len(set(inds.tolist())) == 10
    with pytest.raises(ValueError):
        uniform_indices(20, 10, 'random')


def test_sample_clip_frames_keeps_boxes_aligned():
    ids = [f'f{i}' for i in range(25)]
    boxes = [[[i / 100, 0, 1, 1]] for i in range(25)]
    out = SampleClipFrames(10, 'floor')(dict(frame_ids=ids, frame_boxes=boxes))
    assert out['num_frames'] == 10
    assert len(out['frame_ids']) == 10
    for fid, b in zip(out['frame_ids'], out['frame_boxes']):
        assert b[0][0] == int(fid[1:]) / 100
    again = SampleClipFrames(10, 'floor')(
        dict(frame_ids=ids, frame_boxes=boxes))
    assert again['frame_ids'] == out['frame_ids'], 'deterministic'


def test_cut_tail_keeps_a_prefix():
    np.random.seed(0)
    ids = [f'f{i}' for i in range(10)]
    lengths = set()
    for _ in range(300):
        out = CutTail(prob=0.5)(dict(frame_ids=list(ids)))
        k = len(out['frame_ids'])
        assert 1 <= k <= 10 and out['frame_ids'] == ids[:k]
        lengths.add(k)
    assert lengths == set(range(1, 11))
    never = CutTail(prob=0.0)
    assert never(dict(frame_ids=list(ids)))['frame_ids'] == ids


def test_box_patch_mask_official_rule():
    # A box covering the top-left cell of a 7x7 grid exactly.
    m = box_patch_mask([[0, 0, 1 / 7, 1 / 7]], 7)
    assert m.shape == (50, ) and m[0]
    assert m[1:].sum() == 1 and m[1]
    # IoU threshold 0.02: a tiny box inside one cell keeps only that cell
    # when its IoU with the cell reaches the threshold.
    tiny = box_patch_mask([[0.5, 0.5, 0.51, 0.51]], 7)
    assert tiny.all(), 'below threshold everywhere → keep all'
    # No box → keep all; several boxes → union of cells.
    assert box_patch_mask([], 7).all()
    two = box_patch_mask([[0, 0, 1 / 7, 1 / 7], [6 / 7, 6 / 7, 1, 1]], 7)
    assert two[1:].sum() == 2 and two[1] and two[-1]
    out = BoxToPatchMask(64, 16)(
        dict(frame_ids=['a', 'b'], frame_boxes=[[[0, 0, 0.5, 0.5]], []]))
    assert out['patch_masks'].shape == (2, 17)
    assert out['patch_masks'][0, 1:].reshape(4, 4)[:2, :2].all()
    assert out['patch_masks'][0, 1:].sum() == 4
    assert out['patch_masks'][1].all()


def test_box_patch_mask_by_hand_for_an_off_grid_box():
    """A box that is neither square nor cell-aligned, on a 4x4 grid (cells
    of 0.25): x 0.1-0.3 touches columns 0 (0.15 wide) and 1 (0.05), y
    0.55-0.9 rows 2 (0.2 high) and 3 (0.15). Box area 0.07, cell area
    0.0625; IoU = inter / (0.0625 + 0.07 - inter):
    (row 2, col 0) 0.03 / 0.1025 = 0.293, (2, 1) 0.01 / 0.1225 = 0.082,
    (3, 0) 0.0225 / 0.11 = 0.205, (3, 1) 0.0075 / 0.125 = 0.06.
    Patches are row-major after CLS: (r, c) is index 1 + 4 r + c."""
    box = [[0.1, 0.55, 0.3, 0.9]]
    for thr, cells in ((0.02, [(2, 0), (2, 1), (3, 0), (3, 1)]),
                       (0.07, [(2, 0), (2, 1), (3, 0)]),
                       (0.1, [(2, 0), (3, 0)]),
                       (0.25, [(2, 0)])):
        mask = box_patch_mask(box, 4, iou_thr=thr)
        assert mask[0]
        assert np.flatnonzero(mask[1:]).tolist() == [
            4 * r + c for r, c in cells], thr
    # The transform lays the same mask out per frame; a frame without a box
    # keeps everything.
    out = BoxToPatchMask(input_size=64, patch_size=16, iou_thr=0.07)(
        dict(frame_ids=['a', 'b'], frame_boxes=[box, []]))
    grid = out['patch_masks'][0, 1:].reshape(4, 4)
    assert grid.tolist() == [[False] * 4, [False] * 4,
                             [True, True, False, False],
                             [True, False, False, False]]
    assert out['patch_masks'][1].all()


def test_box_patch_mask_threshold_is_inclusive():
    # [0, 0, 0.5, 0.25] on a 2x2 grid: IoU with the top-left cell is
    # 0.125 / 0.25 = 0.5 exactly, 0 with the others.
    box = [[0.0, 0.0, 0.5, 0.25]]
    assert box_patch_mask(box, 2, iou_thr=0.5).tolist() == [
        True, True, False, False, False]
    # Above it no cell is kept, so the frame keeps every patch.
    assert box_patch_mask(box, 2, iou_thr=0.51).all()


def _write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)


def test_load_clip_frames_skips_missing_and_corrupt(tmp_path):
    import cv2
    ok = cv2.imencode('.jpg', np.full((8, 6, 3), 100, np.uint8))[1].tobytes()
    _write(tmp_path, 'c-0000.jpg', ok)
    _write(tmp_path, 'c-0002.jpg', b'not a jpeg')
    _write(tmp_path, 'c-0003.jpg', ok)
    store = FolderStore(str(tmp_path), 'flat')
    before = dict(SKIPPED)
    out = LoadClipFrames()(
        dict(
            clip_id='c',
            frame_store=store,
            frame_ids=['c-0000', 'c-0001', 'c-0002', 'c-0003'],
            frame_boxes=[[[0, 0, 1, 1]], [], [], [[0, 0, 0.5, 0.5]]]))
    assert out['frame_ids'] == ['c-0000', 'c-0003']
    assert out['frame_boxes'] == [[[0, 0, 1, 1]], [[0, 0, 0.5, 0.5]]]
    assert [f.shape for f in out['frames']] == [(8, 6, 3)] * 2
    assert out['num_skipped_frames'] == 2
    assert SKIPPED['missing frame'] == before.get('missing frame', 0) + 1
    assert SKIPPED['corrupt frame'] == before.get('corrupt frame', 0) + 1
    # No readable frame: excluded in training, kept (empty) at test time.
    empty = dict(clip_id='c', frame_store=store, frame_ids=['c-0001'])
    assert LoadClipFrames(on_empty='skip')(dict(empty)) is None
    kept = LoadClipFrames(on_empty='keep')(dict(empty))
    assert kept['frames'] == []
    packed = PackLPRInputs(empty_frame_size=(5, 5))(dict(kept, num_frames=4))
    assert packed['inputs']['frames'].shape == (4, 3, 5, 5)
    assert not packed['inputs']['frame_mask'].any()
    assert LoadShopImage()(dict(image_id='nope', image_store=store)) is None


def test_pack_pads_frames_and_masks():
    frames = [np.full((4, 5, 3), i, np.uint8) for i in range(3)]
    out = PackLPRInputs()(
        dict(
            frames=frames,
            num_frames=5,
            img=np.zeros((6, 6, 3), np.uint8),
            patch_masks=np.zeros((3, 2), bool),
            clip_id='x',
            gt_image_ids=['a', 'b']))
    inputs, sample = out['inputs'], out['data_samples']
    assert inputs['frames'].shape == (5, 3, 4, 5)
    assert inputs['frame_mask'].tolist() == [True] * 3 + [False] * 2
    assert torch.equal(inputs['frames'][2, 0], torch.full((4, 5), 2,
                                                          dtype=torch.uint8))
    assert inputs['frames'][3:].sum() == 0
    assert inputs['image'].shape == (3, 6, 6)
    assert sample.patch_masks.shape == (5, 2)
    assert sample.patch_masks[3:].all() and not sample.patch_masks[:3].any()
    assert sample.clip_id == 'x' and sample.gt_image_ids == ['a', 'b']
    with pytest.raises(ValueError, match='different shapes'):
        PackLPRInputs()(
            dict(
                frames=[frames[0], np.zeros((2, 2, 3), np.uint8)],
                num_frames=5))


def test_resize_crop_flip_frames_matches_resize_then_crop():
    from lpr.datasets.transforms import ResizeCropFlipFrames
    rng = np.random.default_rng(0)
    # A smooth image, so interpolation differences stay small.
    yy, xx = np.mgrid[0:90, 0:60]
    img = np.stack([xx * 4, yy * 2, (xx + yy) * 2], -1).astype(np.uint8)
    t = ResizeCropFlipFrames(size=28, resize=32, random_crop=False,
                             flip_prob=0.0)
    out = t(dict(frames=[img, img], num_frames=4, img=img))
    ref = cv2_resize_then_crop(img, 32, 28)
    for f in out['frames'] + [out['img']]:
        assert f.shape == (28, 28, 3)
        assert np.abs(f.astype(int) - ref.astype(int)).mean() < 3
    buf = out['frames_buffer']
    assert buf.shape == (4, 28, 28, 3) and not buf[2:].any()
    packed = PackLPRInputs()(out)
    assert packed['inputs']['frames'].data_ptr() == buf.ctypes.data, \
        'packing reuses the buffer'
    flipped = ResizeCropFlipFrames(28, 32, False, flip_prob=1.0)(
        dict(frames=[img], num_frames=1))['frames'][0]
    np.testing.assert_array_equal(flipped, out['frames'][0][:, ::-1])
    # Random crops differ per frame unless shared.
    np.random.seed(1)
    frames = [rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)] * 6
    ind = ResizeCropFlipFrames(24, 32)(dict(frames=list(frames)))['frames']
    assert any(not np.array_equal(ind[0], f) for f in ind[1:])
    shared = ResizeCropFlipFrames(24, 32, share_random_params=True)(
        dict(frames=list(frames)))['frames']
    assert all(np.array_equal(shared[0], f) for f in shared[1:])


def cv2_resize_then_crop(img, resize, size):
    import cv2
    big = cv2.resize(img, (resize, resize))
    m = (resize - size) // 2
    return big[m:m + size, m:m + size]


def test_random_chunk_draws_one_frame_per_chunk():
    n = 23
    chunks = np.array_split(np.arange(n), 10)
    np.random.seed(0)
    seen = set()
    for _ in range(200):
        inds = uniform_indices(n, 10, 'random_chunk')
        assert len(inds) == 10
        for i, c in zip(inds.tolist(), chunks):
            assert c[0] <= i <= c[-1]
        seen.add(tuple(inds.tolist()))
    assert len(seen) > 50  # it does vary
    # every frame of every chunk can be drawn
    drawn = {i for s in seen for i in s}
    assert drawn == set(range(n))
    assert uniform_indices(7, 10, 'random_chunk').tolist() == list(range(7))
