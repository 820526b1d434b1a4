"""The per-livestream test loop: the same rankings as the former
encode-everything loop, the same for 1 and 2 ranks, every re-rank tensor on
the model's device, compact gathers, and livestream groups read from the
datasets' ``live_ids()`` without loading a sample."""
import os.path as osp
import pickle
from collections import defaultdict

import pytest
import torch
from mmengine.config import Config
from mmengine.fileio import load
from mmengine.runner import Runner

import lpr  # noqa: F401
from conftest import ROOT
from lpr.engine import retrieval_loop
from lpr.evaluation import LPRRetrievalMetric
from tiny_rice import build_tiny_rice, tiny_batch

TOY_CFG = osp.join(ROOT, 'configs/rice/rice_r18-slim_1xb32-18e_toy-lpr4m.py')
SPLIT_KEYS = retrieval_loop.SPLIT_KEYS


# ---------------------------------------------------------------------------
# The loop as it was before ranking moved into the model, kept verbatim as
# the reference: encode everything, keep every token on the CPU, rank per
# query with the decoder as a pair scorer.
def _legacy_encode(model, loader, keep_tokens):
    out = []
    for data_batch in loader:
        for o in model.test_step(data_batch):
            item = {}
            for k, v in o.all_items():
                if k.endswith(('_tokens', '_valid')) and not keep_tokens:
                    continue
                item[k] = v.detach().cpu() if torch.is_tensor(v) else v
            out.append(item)
    return out


def _legacy_zscore(x):
    if x.numel() < 2:
        return torch.zeros_like(x)
    return (x - x.mean()) / x.std().clamp(min=1e-6)


def _legacy_rank_queries(queries, gallery, pair_scorer=None, rerank_top_k=0,
                         rerank_weight=0.5):
    by_live = defaultdict(list)
    for i, g in enumerate(gallery):
        by_live[g['live_id']].append(i)
    live_emb = {
        live: torch.stack([gallery[i]['image_emb'].float() for i in idx])
        for live, idx in by_live.items()
    }
    results = []
    for q in queries:
        out = dict(clip_id=q.get('clip_id'),
                   gt_image_ids=list(q['gt_image_ids']), pred_ranking=[],
                   pred_scores=[])
        out.update({k: q[k] for k in SPLIT_KEYS if q.get(k) is not None})
        idx = by_live.get(q['live_id'], [])
        if q.get('has_frames', True) and idx:
            sims = live_emb[q['live_id']] @ q['clip_emb'].float()
            scores, order = torch.sort(sims, descending=True, stable=True)
            order = [idx[i] for i in order.tolist()]
            scores = scores.tolist()
            k = min(rerank_top_k, len(order))
            if k > 1 and pair_scorer is not None:
                top = order[:k]
                img_tok = torch.stack([gallery[i]['image_tokens']
                                       for i in top])
                clip_tok = q['clip_tokens'][None].expand(k, -1, -1)
                valid = q['clip_valid'][None].expand(k, -1)
                pmd = pair_scorer(img_tok, clip_tok, valid).float().cpu()
                fused = (1 - rerank_weight) * _legacy_zscore(
                    torch.tensor(scores[:k])) + rerank_weight * \
                    _legacy_zscore(pmd)
                fscores, forder = torch.sort(fused, descending=True,
                                             stable=True)
                order = [top[i] for i in forder.tolist()] + order[k:]
                scores = fscores.tolist() + scores[k:]
            out['pred_ranking'] = [gallery[i]['image_id'] for i in order]
            out['pred_scores'] = scores
        results.append(out)
    return results


def _legacy_predictions(runner):
    model = runner.model
    loop = runner.test_loop
    rerank = model.rerank or {}
    keep = bool(rerank.get('top_k', 0))
    model.eval()
    with torch.no_grad():
        gallery = _legacy_encode(model, loop.gallery_dataloader, keep)
        queries = _legacy_encode(model, loop.dataloader, keep)
        return _legacy_rank_queries(
            queries, gallery, model.pair_scores if keep else None,
            rerank.get('top_k', 0), rerank.get('weight', 0.5))


# ---------------------------------------------------------------------------
def toy_runner(toy_root, work_dir, dump, **model):
    cfg = Config.fromfile(TOY_CFG)
    for loader in (cfg.test_dataloader, cfg.test_cfg.gallery_dataloader):
        loader.dataset.data_root = toy_root
        loader.num_workers = 0
    cfg.model.update(model)
    cfg.work_dir = str(work_dir)
    cfg.test_evaluator = [
        dict(type='LPRRetrievalMetric', topk=(1, 3, 5, 10)),
        dict(type='DumpResults', out_file_path=str(dump))
    ]
    cfg.log_level = 'WARNING'
    return Runner.from_cfg(cfg)


def _recall(preds):
    return LPRRetrievalMetric.calculate(
        [p['pred_ranking'] for p in preds],
        [p['gt_image_ids'] for p in preds], topk=(1, 3, 5, 10))


@pytest.mark.parametrize('rerank', [dict(top_k=4, weight=0.5), None],
                         ids=['rerank', 'embedding'])
def test_loop_matches_the_former_loop_and_two_ranks(toy_root, tmp_path,
                                                    rerank, monkeypatch):
    dump = tmp_path / 'preds.pkl'
    runner = toy_runner(toy_root, tmp_path, dump, rerank=rerank)
    metrics = runner.test()
    preds = load(str(dump))
    legacy = _legacy_predictions(runner)
    assert len(preds) == len(legacy) == len(runner.test_loop.dataloader.dataset)
    # Same order (the query dataset's), same rankings, same R@k.
    assert [p['clip_id'] for p in preds] == [p['clip_id'] for p in legacy]
    for p, q in zip(preds, legacy):
        assert p['pred_ranking'] == q['pred_ranking'], p['clip_id']
        assert p['pred_scores'] == pytest.approx(q['pred_scores'], abs=1e-4)
        assert {k: p.get(k) for k in SPLIT_KEYS} == \
            {k: q.get(k) for k in SPLIT_KEYS}
    assert _recall(preds) == _recall(legacy)
    assert metrics['retrieval/R@1'] == pytest.approx(_recall(legacy)['R@1'])
    assert any(p['pred_ranking'] for p in preds)
    if rerank:  # the re-rank changed something, or the test shows nothing
        base = _legacy_rank_queries(
            _legacy_encode(runner.model, runner.test_loop.dataloader, False),
            _legacy_encode(runner.model,
                           runner.test_loop.gallery_dataloader, False))
        assert any(p['pred_ranking'] != b['pred_ranking']
                   for p, b in zip(preds, base))

    # Two ranks: each ranks its own livestreams; together they give exactly
    # the one-rank results.
    loop = runner.test_loop
    runner.model.eval()

    def rank_as(rank, world):
        monkeypatch.setattr(retrieval_loop, 'get_rank', lambda: rank)
        monkeypatch.setattr(retrieval_loop, 'get_world_size', lambda: world)
        loop._plan_cache = None
        with torch.no_grad():
            return loop._rank_my_lives()

    one, _ = rank_as(0, 1)
    (r0, ids0), (r1, ids1) = rank_as(0, 2), rank_as(1, 2)
    assert r0 and r1 and not set(ids0) & set(ids1)
    two = sorted(r0 + r1, key=lambda r: r['sample_idx'])
    one = sorted(one, key=lambda r: r['sample_idx'])
    assert [r['sample_idx'] for r in one] == [r['sample_idx'] for r in two]
    for a, b in zip(one, two):
        assert a['order'].tolist() == b['order'].tolist()
        assert a['scores'].tolist() == b['scores'].tolist()


def test_rank_keeps_every_tensor_on_the_model_device():
    """Encode on the CPU, then move the model to the ``meta`` device: every
    tensor the re-rank touches must follow the model (on a GPU, CPU-held
    tokens met a CUDA decoder)."""
    model = build_tiny_rice(rerank=dict(top_k=2, weight=0.5))
    with torch.no_grad():
        outs = model.predict(tiny_batch(3))
    clip_emb = torch.stack([o.clip_emb for o in outs])
    clip_tok = torch.stack([o.clip_tokens for o in outs])
    clip_valid = torch.stack([o.clip_valid for o in outs])
    image_emb = torch.stack([o.image_emb for o in outs])
    image_tok = torch.stack([o.image_tokens for o in outs])
    cpu_scores, cpu_order = model.rank(clip_emb, image_emb, clip_tok,
                                       clip_valid, image_tok)
    assert cpu_order.shape == (3, 3)
    model.to('meta')
    scores, order = model.rank(clip_emb, image_emb, clip_tok, clip_valid,
                               image_tok)
    assert scores.device.type == order.device.type == 'meta'
    assert scores.shape == order.shape == (3, 3)
    # Half-precision tokens outside autocast: cast to the decoder's dtype.
    model = build_tiny_rice(rerank=dict(top_k=2, weight=0.5))
    s16, o16 = model.rank(clip_emb, image_emb, clip_tok.half(), clip_valid,
                          image_tok.half())
    assert s16.dtype == torch.float32 and o16.shape == (3, 3)
    assert torch.allclose(s16, cpu_scores, atol=0.05, equal_nan=True)


def test_gathered_results_ship_only_their_data():
    from lpr.models.utils.gather import compact
    batch = torch.randn(64, 50, 16)
    sample = dict(emb=batch[3], tokens=[batch[4, :2]], n=1, name='x')
    small = compact(sample)
    assert torch.equal(small['emb'], sample['emb'])
    assert small['n'] == 1 and small['name'] == 'x'
    own = len(pickle.dumps(batch[3].clone()))
    assert len(pickle.dumps(sample)) > 20 * own  # the whole batch
    assert len(pickle.dumps(small)) < 2 * own + 2000
    # A tensor that owns its storage is not copied.
    t = torch.randn(4)
    assert compact(t).data_ptr() == t.data_ptr()


def test_rank_livestream_handles_no_gallery_and_no_frames():
    e = torch.eye(3)
    queries = [
        dict(clip_id='a', gt_image_ids=['x'], has_frames=True,
             clip_emb=e[1]),
        dict(clip_id='b', gt_image_ids=['x'], has_frames=False,
             clip_emb=e[0]),
    ]
    gallery = [dict(image_id=i, image_emb=e[j]) for j, i in
               enumerate('xyz')]
    ids, res = retrieval_loop.rank_livestream(
        retrieval_loop.embedding_ranker, [gallery[:2], gallery[2:]],
        [queries[:1], queries[1:]])
    assert ids == ['x', 'y', 'z']
    assert res[0]['order'].tolist() == [1, 0, 2]
    assert res[1]['order'].tolist() == []
    ids, res = retrieval_loop.rank_livestream(
        retrieval_loop.embedding_ranker, [], [queries])
    assert ids == [] and [r['order'].size for r in res] == [0, 0]
    pred = retrieval_loop.to_prediction(dict(res[0], live='L', sample_idx=0),
                                        ids)
    assert pred['pred_ranking'] == [] and 'order' not in pred


def test_assign_lives_is_balanced_and_deterministic():
    costs = {f'l{i}': c for i, c in enumerate([9, 1, 5, 5, 3, 2])}
    plan = retrieval_loop.assign_lives(costs, 2)
    assert sorted(sum(plan, [])) == sorted(costs)
    loads = [sum(costs[x] for x in p) for p in plan]
    assert abs(loads[0] - loads[1]) <= 1
    assert plan == retrieval_loop.assign_lives(dict(reversed(costs.items())),
                                               2)
    assert retrieval_loop.assign_lives(costs, 8)[7] == []


def _pixel_sets(toy_pixel_root):
    from mmpretrain.registry import DATASETS
    queries = DATASETS.build(
        dict(type='LPR4MQueryDataset', data_root=toy_pixel_root,
             pipeline=[]))
    gallery = DATASETS.build(
        dict(type='LPR4MGalleryDataset', data_root=toy_pixel_root,
             pipeline=[]))
    return queries, gallery


def test_live_ids_match_the_data_info(toy_pixel_root, monkeypatch):
    """``live_ids()`` gives every sample's ``live_id`` of the data info,
    without opening a frame (pixel boxes make get_data_info read each
    frame's size)."""
    queries, gallery = _pixel_sets(toy_pixel_root)
    assert queries.box_format_read == 'pixel'
    for ds in (queries, gallery):
        want = [ds.get_data_info(i)['live_id'] for i in range(len(ds))]
        assert len(set(want)) == 2
        monkeypatch.setattr(ds.frame_store or ds.image_store, 'get',
                            _fail('a file was read'))
        monkeypatch.setattr(ds.frame_store or ds.image_store, 'size',
                            _fail('a file was read'))
        assert ds.live_ids() == want
    with pytest.raises(AssertionError, match='a file was read'):
        for i in range(len(queries)):  # the pixel boxes need frame sizes
            queries.get_data_info(i)
    # A subset gives the ids of its own samples.
    ids = queries.live_ids()
    assert queries.get_subset([3, 1]).live_ids() == [ids[3], ids[1]]


def _fail(message):
    def raise_(*args, **kwargs):
        raise AssertionError(message)
    return raise_


def test_loop_plan_uses_live_ids_not_the_data_info(toy_pixel_root,
                                                   monkeypatch):
    queries, gallery = _pixel_sets(toy_pixel_root)
    want_q = retrieval_loop.live_groups(queries)
    want_g = retrieval_loop.live_groups(gallery)
    assert sum(len(v) for v in want_q.values()) == len(queries) == 8
    for ds in (queries, gallery):
        monkeypatch.setattr(ds, 'get_data_info', _fail('get_data_info'))
    loop = retrieval_loop.LPRRetrievalValLoop.__new__(
        retrieval_loop.LPRRetrievalValLoop)
    loop.dataloader = torch.utils.data.DataLoader(queries)
    loop.gallery_dataloader = torch.utils.data.DataLoader(gallery)
    plan = loop._plan()
    assert plan['queries'] == want_q and plan['gallery'] == want_g
    assert sorted(plan['queries']) == sorted(plan['gallery'])
    for live, idx in plan['queries'].items():
        assert [queries.live_ids()[i] for i in idx] == [live] * len(idx)
    assert plan['num_queries'] == 8
    assert sorted(sum(plan['ranks'], [])) == sorted(want_q)


class _Samples(torch.utils.data.Dataset):
    """Samples with ``live_id`` in their data info and no ``live_ids()``."""

    def __init__(self, lives):
        self.lives = lives

    def __len__(self):
        return len(self.lives)

    def get_data_info(self, idx):
        return dict(live_id=self.lives[idx]) if self.lives[idx] else {}


def test_live_groups_without_live_ids_and_a_wrong_count():
    groups = retrieval_loop.live_groups(_Samples(['b', 'a', None, 'b']))
    assert groups == {'b': [0, 3], 'a': [1], None: [2]}
    assert list(groups) == ['b', 'a', None]  # first appearance
    wrong = _Samples(['a', 'b'])
    wrong.live_ids = lambda: ['a']
    with pytest.raises(ValueError,
                       match=r'_Samples.live_ids\(\) gave 1 ids for 2'):
        retrieval_loop.live_groups(wrong)
