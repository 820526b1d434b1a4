"""Per-query hit tables, paired bootstrap intervals and the training-free
baselines."""
from math import comb

import numpy as np
import pytest


def test_hit_table_and_chance():
    from lpr.evaluation.bootstrap import chance_table, hit_table
    hits = hit_table(np.array([0, 3, np.inf, 9, 10]), (1, 5, 10))
    assert hits.tolist() == [[1, 1, 1], [0, 1, 1], [0, 0, 0], [0, 0, 1],
                             [0, 0, 0]]
    table = chance_table([12, 3], [2, 1], (1, 5))
    assert table[0, 0] == pytest.approx(2 / 12)
    assert table[0, 1] == pytest.approx(1 - comb(10, 5) / comb(12, 5))
    assert table[1].tolist() == [pytest.approx(1 / 3), 1.0]


def test_paired_bootstrap_interval_covers_and_pairs():
    from lpr.evaluation.bootstrap import bootstrap_indices, compare, interval
    rng = np.random.default_rng(0)
    a = (rng.random((1000, 1)) < 0.3).astype(float)
    est, lo, hi = interval(a, bootstrap_indices(1000, 1000, seed=1))
    assert lo[0] < est[0] < hi[0]
    # binomial standard error at p=0.3, n=1000 is 1.45 points
    assert 4.0 < hi[0] - lo[0] < 7.5
    # b = a with 30 extra hits: the paired interval is far tighter than the
    # unpaired ones and excludes zero
    b = a.copy()
    b[np.nonzero(a[:, 0] == 0)[0][:30]] = 1
    d = compare(b, a, bootstrap_indices(1000, 1000, seed=1))
    assert d['diff'][0] == pytest.approx(3.0)
    assert d['lo'][0] > 1.0 and d['hi'][0] < 5.0
    with pytest.raises(ValueError):
        compare(a, a[:10], bootstrap_indices(1000, 10))


def test_baselines_rank_each_query_within_its_live(toy_root):
    from lpr.datasets import LPR4MGalleryDataset, LPR4MQueryDataset
    from lpr.datasets.ids import live_id_of
    from lpr.evaluation.baselines import (SiftMatcher,
                                          colour_histogram_predictions,
                                          first_hits, sift_predictions)
    queries = LPR4MQueryDataset(data_root=toy_root, pipeline=[])
    gallery = LPR4MGalleryDataset(data_root=toy_root, pipeline=[])
    live_of = {}
    for i in range(len(gallery)):
        info = gallery.get_data_info(i)
        live_of[info['image_id']] = info['live_id']
    for fn in (colour_histogram_predictions, sift_predictions):
        preds = fn(queries, gallery, num_frames=4, show_progress=False)
        assert len(preds) == len(queries)
        for p in preds:
            assert p['pred_ranking']
            assert {live_of[g] for g in p['pred_ranking']} == {
                live_id_of(p['clip_id'])}
            assert p['pred_scores'] == sorted(p['pred_scores'],
                                              reverse=True)
        hits = first_hits(preds)
        assert np.isfinite(hits).all()  # every GT is in its live's gallery
    # SIFT: an image matches a shifted copy of itself far better than a
    # different image
    def blocks(seed):
        rng = np.random.default_rng(seed)
        img = (rng.random((14, 14, 3)) * 255).astype(np.uint8)
        return np.kron(img, np.ones((8, 8, 1), np.uint8))

    img, other = blocks(0), blocks(1)
    shifted = np.ascontiguousarray(np.roll(img, 5, axis=1))
    m = SiftMatcher()
    d = m.describe(img)
    assert m.count(d, m.describe(shifted)) > 2 * max(
        1, m.count(d, m.describe(other)))
    assert m.count(None, d) == 0
