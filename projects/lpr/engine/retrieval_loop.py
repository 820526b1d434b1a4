"""Validation/test loops for clip-to-shop retrieval: every gallery image and
every query is encoded once, then each query is ranked against its own
livestream's gallery (optionally re-ranked by the matching decoder)."""
from collections import defaultdict
from typing import Callable, Dict, List, Optional, Sequence, Union

import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.runner import BaseLoop, autocast
from mmpretrain.registry import LOOPS
from torch.utils.data import DataLoader

SPLIT_KEYS = ('category_id', 'product_scale', 'visible_duration',
              'product_number')


def _zscore(x: torch.Tensor) -> torch.Tensor:
    if x.numel() < 2:
        return torch.zeros_like(x)
    return (x - x.mean()) / x.std().clamp(min=1e-6)


def rank_queries(queries: Sequence[dict],
                 gallery: Sequence[dict],
                 pair_scorer: Optional[Callable] = None,
                 rerank_top_k: int = 0,
                 rerank_weight: float = 0.5) -> List[dict]:
    """Rank each query's livestream gallery.

    Args:
        queries: per query, ``clip_emb`` (E,), ``live_id``,
            ``gt_image_ids``, ``has_frames`` and, to re-rank,
            ``clip_tokens`` / ``clip_valid``.
        gallery: per image, ``image_emb`` (E,), ``image_id``, ``live_id``
            and, to re-rank, ``image_tokens``.
        pair_scorer: ``f(image_tokens, clip_tokens, clip_valid) -> scores``
            for re-ranking (the PMD decoder).
        rerank_top_k: re-score this many top embedding matches (0: off).
        rerank_weight: weight of the decoder's z-scored score against the
            embedding's z-scored cosine in the fused score.

    Returns:
        list[dict]: per query its ``clip_id``, ``gt_image_ids``,
        ``pred_ranking`` (gallery ids, best first; empty for a query without
        frames), ``pred_scores`` and the split fields.
    """
    by_live: Dict[str, List[int]] = defaultdict(list)
    for i, g in enumerate(gallery):
        by_live[g['live_id']].append(i)
    live_emb = {
        live: torch.stack([gallery[i]['image_emb'].float() for i in idx])
        for live, idx in by_live.items()
    }
    results = []
    for q in queries:
        out = dict(
            clip_id=q.get('clip_id'),
            gt_image_ids=list(q['gt_image_ids']),
            pred_ranking=[],
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
                fused = (1 - rerank_weight) * _zscore(
                    torch.tensor(scores[:k])) + rerank_weight * _zscore(pmd)
                fscores, forder = torch.sort(fused, descending=True,
                                             stable=True)
                order = [top[i] for i in forder.tolist()] + order[k:]
                scores = fscores.tolist() + scores[k:]
            out['pred_ranking'] = [gallery[i]['image_id'] for i in order]
            out['pred_scores'] = scores
        results.append(out)
    return results


class _RetrievalLoopMixin:
    """Shared by the val and test loops."""

    def _build_gallery(self, runner, gallery_dataloader):
        if isinstance(gallery_dataloader, dict):
            return runner.build_dataloader(
                gallery_dataloader, seed=runner.seed)
        return gallery_dataloader

    def _encode(self, loader, keep_tokens: bool) -> List[dict]:
        out = []
        for data_batch in loader:
            with autocast(enabled=self.fp16):
                outputs = self.runner.model.test_step(data_batch)
            for o in outputs:
                item = {}
                for k, v in o.items():
                    if k.endswith(('_tokens', '_valid')) and not keep_tokens:
                        continue
                    item[k] = v.detach().cpu() if torch.is_tensor(v) else v
                out.append(item)
        # Every rank gets everything (ranking needs whole galleries).
        if get_world_size() > 1:
            parts = all_gather_object(out)
            seen, merged = set(), []
            for part in parts:
                for item in part:
                    key = (item.get('sample_idx'), item.get('clip_id'),
                           item.get('image_id'))
                    if key not in seen:  # samplers may pad with repeats
                        seen.add(key)
                        merged.append(item)
            merged.sort(key=lambda x: x.get('sample_idx', 0))
            out = merged
        return out

    def _evaluate(self) -> dict:
        model = self.runner.model
        module = model.module if hasattr(model, 'module') else model
        rerank = getattr(module, 'rerank', None) or {}
        keep = bool(rerank.get('top_k', 0))
        model.eval()
        with torch.no_grad():
            gallery = self._encode(self.gallery_dataloader, keep)
            queries = self._encode(self.dataloader, keep)
            preds = rank_queries(
                queries,
                gallery,
                pair_scorer=module.pair_scores if keep else None,
                rerank_top_k=rerank.get('top_k', 0),
                rerank_weight=rerank.get('weight', 0.5))
        rank, world = get_rank(), get_world_size()
        self.evaluator.process(data_samples=preds[rank::world])
        return self.evaluator.evaluate(len(preds))


@LOOPS.register_module()
class LPRRetrievalValLoop(_RetrievalLoopMixin, BaseLoop):
    """Validation: ``dataloader`` holds the queries, ``gallery_dataloader``
    the shop images.

    Args:
        runner: the runner.
        dataloader: query dataloader (config or object).
        evaluator: e.g. ``dict(type='LPRRetrievalMetric')``.
        gallery_dataloader: gallery dataloader (config or object).
        fp16: encode under autocast.
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 evaluator: Union[Dict, List],
                 gallery_dataloader: Union[DataLoader, Dict],
                 fp16: bool = False) -> None:
        super().__init__(runner, dataloader)
        self.evaluator = runner.build_evaluator(evaluator)
        self.gallery_dataloader = self._build_gallery(runner,
                                                      gallery_dataloader)
        self.fp16 = fp16

    def run(self) -> dict:
        self.runner.call_hook('before_val')
        self.runner.call_hook('before_val_epoch')
        metrics = self._evaluate()
        self.runner.call_hook('after_val_epoch', metrics=metrics)
        self.runner.call_hook('after_val')
        return metrics


@LOOPS.register_module()
class LPRRetrievalTestLoop(LPRRetrievalValLoop):
    """Test: as validation, with the test hooks; ``tools/test.py --out``
    dumps each query's ranking."""

    def run(self) -> dict:
        self.runner.call_hook('before_test')
        self.runner.call_hook('before_test_epoch')
        metrics = self._evaluate()
        self.runner.call_hook('after_test_epoch', metrics=metrics)
        self.runner.call_hook('after_test')
        return metrics
