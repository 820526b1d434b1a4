"""R@k on hand-made rankings: multi-GT, missing predictions, splits, and
ranking restricted to each query's own livestream."""
import pytest
import torch

import lpr  # noqa: F401
from lpr.engine import rank_queries
from lpr.evaluation import LPRRetrievalMetric


def test_calculate_multi_gt_and_missing():
    rankings = [['a', 'b', 'c'], ['x', 'y', 'z'], [], ['q', 'r', 's']]
    gts = [['c'], ['y', 'nope'], ['a'], ['s', 'r']]
    m = LPRRetrievalMetric.calculate(rankings, gts, topk=(1, 2, 3))
    # query 1: hit at 3; query 2: hit at 2 (any GT); query 3: no
    # prediction → miss; query 4: first GT at rank 2.
    assert m == {'R@1': 0.0, 'R@2': 50.0, 'R@3': 75.0}
    with pytest.raises(ValueError):
        LPRRetrievalMetric.calculate([['a']], [['a'], ['b']])


def test_metric_splits_and_all_queries_in_the_denominator():
    metric = LPRRetrievalMetric(topk=(1, 5))
    metric.process({}, [
        dict(pred_ranking=['g1', 'g2'], gt_image_ids=['g1'],
             product_scale='small', category_id=3),
        dict(pred_ranking=['g2', 'g1'], gt_image_ids=['g1'],
             product_scale='large', category_id=3),
        dict(pred_ranking=[], gt_image_ids=['g9'], product_scale='small'),
    ])
    out = metric.compute_metrics(metric.results)
    assert out['R@1'] == pytest.approx(100 / 3)
    assert out['R@5'] == pytest.approx(200 / 3)
    assert out['num_queries'] == 3
    assert out['product_scale/small/R@1'] == 50.0
    assert out['product_scale/large/R@5'] == 100.0
    assert out['category_id/3/num'] == 2


def test_rank_queries_only_within_the_livestream():
    e = torch.eye(3)
    gallery = [
        dict(image_id='a1', live_id='A', image_emb=e[0]),
        dict(image_id='a2', live_id='A', image_emb=e[1]),
        dict(image_id='b1', live_id='B', image_emb=e[0]),  # best overall
    ]
    queries = [
        dict(clip_id='q1', live_id='A', gt_image_ids=['a2'],
             clip_emb=torch.tensor([0.9, 0.1, 0.0]), has_frames=True),
        dict(clip_id='q2', live_id='B', gt_image_ids=['b1'],
             clip_emb=torch.tensor([0.0, 1.0, 0.0]), has_frames=True),
        dict(clip_id='q3', live_id='A', gt_image_ids=['a1'],
             clip_emb=torch.zeros(3), has_frames=False),
    ]
    preds = rank_queries(queries, gallery)
    assert preds[0]['pred_ranking'] == ['a1', 'a2']
    assert preds[1]['pred_ranking'] == ['b1']
    assert preds[2]['pred_ranking'] == []
    m = LPRRetrievalMetric.calculate([p['pred_ranking'] for p in preds],
                                     [p['gt_image_ids'] for p in preds],
                                     topk=(1, 2))
    assert m == {'R@1': pytest.approx(100 / 3), 'R@2': pytest.approx(200 / 3)}


def test_rerank_reorders_only_the_top_k():
    """``RICE.rank`` re-sorts only the top-K by the fused score, through
    ``rank_queries`` too (the loop's code path)."""
    from tiny_rice import build_tiny_rice, stub_pmd

    # PMD strongly prefers the image whose first token value is 1 (g1).
    model = build_tiny_rice(rerank=dict(top_k=2, weight=0.9))
    model.pmd_head = stub_pmd(lambda img, clip, valid: (
        img[:, 0, 0] == 1).float() * 10)
    e = torch.eye(4)
    gallery = [dict(image_id=f'g{i}', live_id='A', image_emb=e[i],
                    image_tokens=torch.full((2, 4), float(i)))
               for i in range(4)]
    q = dict(clip_id='q', live_id='A', gt_image_ids=['g1'], has_frames=True,
             clip_emb=torch.tensor([0.4, 0.3, 0.2, 0.1]),
             clip_tokens=torch.zeros(3, 4), clip_valid=torch.ones(3).bool())

    base = rank_queries([q], gallery)[0]['pred_ranking']
    assert base == ['g0', 'g1', 'g2', 'g3']
    fused = rank_queries([q], gallery, model.rank)[0]
    assert fused['pred_ranking'] == ['g1', 'g0', 'g2', 'g3']
    # The tail keeps its cosine scores; the top-K gets the fused ones.
    assert fused['pred_scores'][2:] == pytest.approx([0.2, 0.1])
    scores, order = model.rank(q['clip_emb'][None], e,
                               q['clip_tokens'][None], q['clip_valid'][None],
                               torch.stack([g['image_tokens']
                                            for g in gallery]))
    assert order.tolist() == [[1, 0, 2, 3]]
    assert scores.shape == (1, 4) and scores.dtype == torch.float32
    # top_k <= 1: the cosine ranking, and no tokens needed.
    model.rerank = dict(top_k=1)
    assert model.rank(q['clip_emb'][None], e)[1].tolist() == [[0, 1, 2, 3]]
    model.rerank = dict(top_k=3)
    with pytest.raises(ValueError, match='tokens'):
        model.rank(q['clip_emb'][None], e)
