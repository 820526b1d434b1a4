"""Every toy RICE variant trains one step and predicts + ranks (re-ranking
on) under bfloat16 autocast: the re-ranking decoder must accept the
reduced-precision tokens the encoder produced."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import default_collate
from mmengine.registry import DefaultScope
from mmpretrain.registry import DATASETS, MODELS

import lpr  # noqa: F401
from conftest import ROOT
from lpr.engine.retrieval_loop import rank_livestream

TOY_CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs/rice/*toy-lpr4m.py')))


def _build(cfg, root):
    cfg = dict(cfg, data_root=root)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return DATASETS.build(cfg)


def _live_samples(dataset, live, n):
    idx = [i for i in range(len(dataset))
           if dataset.get_data_info(i)['live_id'] == live][:n]
    return default_collate([dataset[i] for i in idx])


@pytest.mark.parametrize('path', TOY_CONFIGS, ids=osp.basename)
def test_bf16_train_step_and_ranking(path, toy_root):
    cfg = Config.fromfile(path)
    rerank = cfg.model.get('pmd_head') is not None
    cfg.model.rerank = dict(top_k=3, weight=0.5) if rerank else None
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    pairs = _build(cfg.train_dataloader.dataset, toy_root)
    batch = default_collate([pairs[i] for i in range(6)])
    optim = torch.optim.SGD(model.parameters(), lr=1e-3)
    model.train()
    data = model.data_preprocessor(batch, True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = model(**data, mode='loss')
    total = sum(losses.values())
    assert torch.isfinite(total), losses
    total.backward()
    optim.step()

    model.eval()
    queries = _build(cfg.test_dataloader.dataset, toy_root)
    gallery = _build(cfg.test_cfg.gallery_dataloader.dataset, toy_root)
    live = queries.get_data_info(0)['live_id']

    def ranker(*args):
        with torch.autocast('cpu', dtype=torch.bfloat16):
            return model.rank(*args)

    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        g_out = model.test_step(_live_samples(gallery, live, 6))
        q_out = model.test_step(_live_samples(queries, live, 4))
    assert g_out[0].image_tokens.dtype == torch.bfloat16
    ids, results = rank_livestream(ranker, [g_out], [q_out],
                                   keep_tokens=rerank)
    assert len(ids) == len(g_out) and len(results) == len(q_out)
    assert any(q.has_frames for q in q_out)
    for r, q in zip(results, q_out):
        if q.has_frames:
            assert sorted(r['order'].tolist()) == list(range(len(ids)))
            assert all(abs(s) < 1e4 for s in r['scores'].tolist())
