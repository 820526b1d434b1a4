"""Validation/test loops for clip-to-shop retrieval.

Queries are only ever ranked against the gallery of their own livestream,
so the loops work livestream by livestream: the livestreams are spread over
the ranks, and each rank, per livestream, encodes its gallery images and
then its queries batch by batch, ranks each query batch with the model's
``rank`` (cosine, optionally re-ranked by the matching decoder) and keeps
only the rankings. Tokens never outlive their livestream and only the
rankings (gallery row indices and scores) are gathered across ranks, so
memory is bounded by the largest livestream, not by the test set.
"""
from collections import defaultdict
from typing import (Any, Callable, Dict, Hashable, Iterable, Iterator, List,
                    Optional, Sequence, Tuple, Union)

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.runner import BaseLoop, autocast
from mmpretrain.registry import LOOPS
from torch.utils.data import DataLoader, Dataset

from ..models.retrievers.rice import cosine_ranking
from ..utils.progress import ProgressBar

SPLIT_KEYS = ('category_id', 'product_scale', 'visible_duration',
              'product_number')
# Encoding cost of a query relative to a gallery image (a query encodes up
# to 10 frames), for spreading livestreams over ranks.
QUERY_COST = 10

# ``ranker(clip_emb (Q,E), image_emb (N,E), clip_tokens (Q,Lk,D) | None,
# clip_valid (Q,Lk) | None, image_tokens (N,Lq,D) | None)
# -> (scores (Q,N), order (Q,N))``, e.g. ``RICE.rank``.
Ranker = Callable[..., Tuple[torch.Tensor, torch.Tensor]]


def embedding_ranker(clip_emb: torch.Tensor, image_emb: torch.Tensor,
                     *tokens) -> Tuple[torch.Tensor, torch.Tensor]:
    """A :data:`Ranker` for models without ``rank``: cosine only."""
    return cosine_ranking(clip_emb, image_emb)


def field(sample: Any, key: str) -> Any:
    """``sample``'s ``key`` (a ``DataSample`` field or a dict item).

    Raises:
        KeyError: the sample has no such field.
    """
    if key not in sample:
        raise KeyError(f'the model output has no {key!r}')
    return sample.get(key)


def rank_livestream(ranker: Ranker,
                    gallery_batches: Iterable[List[dict]],
                    query_batches: Iterable[List[dict]],
                    keep_tokens: bool = False
                    ) -> Tuple[List[Any], List[dict]]:
    """Rank one livestream's queries against its gallery.

    The gallery batches are consumed first (their embeddings, and tokens
    when ``keep_tokens``, are kept on their device), then each query batch
    is ranked as it comes and only its rankings are kept.

    Args:
        ranker: see :data:`Ranker` (e.g. ``RICE.rank``).
        gallery_batches: per batch, the model's per-sample outputs
            (``DataSample``\ s of ``RICE.predict``, or dicts with the same
            keys): ``image_emb`` (E,), ``image_id`` and, with
            ``keep_tokens``, ``image_tokens`` (Lq, D).
        query_batches: per batch, per-sample outputs (``clip_emb`` (E,),
            ``has_frames``, ``gt_image_ids``, ``clip_id``, the split keys
            and, with ``keep_tokens``, ``clip_tokens`` (Lk, D) and
            ``clip_valid`` (Lk,)).
        keep_tokens: pass tokens to the ranker (re-ranking).

    Returns:
        tuple: the gallery's image ids (gallery rows, in order) and, per
        query in order, a compact result: ``order`` (N,) int32 gallery rows
        (best first; empty for a query without frames or a livestream
        without gallery), ``scores`` (N,) float32, ``clip_id``,
        ``gt_image_ids`` and the split fields.
    """
    emb, tok, ids = [], [], []
    for outs in gallery_batches:
        emb.append(torch.stack([field(o, 'image_emb') for o in outs]))
        if keep_tokens:
            tok.append(torch.stack([field(o, 'image_tokens') for o in outs]))
        ids += [o.get('image_id') for o in outs]
    image_emb = torch.cat(emb) if emb else None
    image_tokens = torch.cat(tok) if tok else None
    del emb, tok
    results = []
    for outs in query_batches:
        rows = [i for i, o in enumerate(outs) if o.get('has_frames', True)]
        order = scores = None
        if rows and image_emb is not None:
            args = [torch.stack([field(outs[i], 'clip_emb') for i in rows]),
                    image_emb]
            if keep_tokens:
                args += [
                    torch.stack([field(outs[i], 'clip_tokens')
                                 for i in rows]),
                    torch.stack([field(outs[i], 'clip_valid')
                                 for i in rows]),
                    image_tokens
                ]
            s, o = ranker(*args)
            # One host copy per batch.
            order = o.cpu().numpy().astype(np.int32)
            scores = s.float().cpu().numpy()
            del args, s, o
        ranked = dict(zip(rows, range(len(rows)))) if order is not None \
            else {}
        for i, q in enumerate(outs):
            r = dict(
                clip_id=q.get('clip_id'),
                gt_image_ids=list(q.get('gt_image_ids', [])),
                order=np.zeros(0, np.int32),
                scores=np.zeros(0, np.float32))
            r.update({k: q.get(k) for k in SPLIT_KEYS
                      if q.get(k) is not None})
            if i in ranked:
                r['order'] = order[ranked[i]].copy()
                r['scores'] = scores[ranked[i]].copy()
            results.append(r)
    return ids, results


def to_prediction(result: dict, gallery_ids: Sequence) -> dict:
    """A compact result of :func:`rank_livestream` → the metric's sample:
    ``clip_id``, ``gt_image_ids``, ``pred_ranking`` (gallery ids, best
    first), ``pred_scores`` and the split fields."""
    out = {k: v for k, v in result.items()
           if k not in ('order', 'scores', 'sample_idx', 'live')}
    out['pred_ranking'] = [gallery_ids[j] for j in result['order'].tolist()]
    out['pred_scores'] = result['scores'].tolist()
    return out


def rank_queries(queries: Sequence[dict],
                 gallery: Sequence[dict],
                 ranker: Optional[Ranker] = None) -> List[dict]:
    """Rank each query against its livestream's gallery, from in-memory
    per-sample outputs (the same code path as the loops).

    Args:
        queries: per query (a ``DataSample`` of ``RICE.predict`` or a
            dict), ``clip_emb`` (E,), ``live_id``, ``gt_image_ids``,
            ``has_frames`` and, to re-rank, ``clip_tokens`` (Lk, D) /
            ``clip_valid`` (Lk,).
        gallery: per image, ``image_emb`` (E,), ``image_id``, ``live_id``
            and, to re-rank, ``image_tokens`` (Lq, D).
        ranker: e.g. a retriever's ``rank`` (default: cosine only). Tokens
            are passed when every query and image has them.

    Returns:
        list[dict]: per query (in order) its ``clip_id``, ``gt_image_ids``,
        ``pred_ranking`` (gallery ids, best first; empty for a query
        without frames or whose livestream has no gallery),
        ``pred_scores`` and the split fields.
    """
    ranker = ranker or embedding_ranker
    keep_tokens = all('clip_tokens' in q for q in queries) and all(
        'image_tokens' in g for g in gallery)
    gal: Dict[Hashable, List[dict]] = defaultdict(list)
    for g in gallery:
        gal[g.get('live_id')].append(g)
    by_live: Dict[Hashable, List[int]] = defaultdict(list)
    for i, q in enumerate(queries):
        by_live[q.get('live_id')].append(i)
    preds: List[Optional[dict]] = [None] * len(queries)
    for live, idx in by_live.items():
        images = gal.get(live, [])
        ids, results = rank_livestream(
            ranker, [images] if images else [],
            [[queries[i] for i in idx]], keep_tokens)
        for i, r in zip(idx, results):
            preds[i] = to_prediction(r, ids)
    return preds


def live_groups(dataset: Dataset) -> Dict[Hashable, List[int]]:
    """Sample indices of each livestream, in order of first appearance.

    The livestream of a sample is what the dataset's ``live_ids()`` gives
    (read from its annotations, no sample loaded) or, for datasets without
    it, the ``live_id`` of its data info; samples without one form one
    group.
    """
    live_ids = getattr(dataset, 'live_ids', None)
    if callable(live_ids):
        lives = list(live_ids())
        if len(lives) != len(dataset):
            raise ValueError(
                f'{type(dataset).__name__}.live_ids() gave {len(lives)} ids '
                f'for {len(dataset)} samples')
    else:
        lives = [
            dataset.get_data_info(i).get('live_id')
            for i in range(len(dataset))
        ]
    groups: Dict[Hashable, List[int]] = defaultdict(list)
    for i, live in enumerate(lives):
        groups[live].append(i)
    return dict(groups)


def assign_lives(costs: Dict[Hashable, float],
                 world_size: int) -> List[List[Hashable]]:
    """Spread livestreams over ranks, largest first to the least loaded
    rank (deterministic: every rank computes the same plan).

    Returns:
        list: per rank, its livestreams in processing order.
    """
    loads = [0.0] * world_size
    plan: List[List[Hashable]] = [[] for _ in range(world_size)]
    for live in sorted(costs, key=lambda x: (-costs[x], str(x))):
        r = min(range(world_size), key=lambda i: (loads[i], i))
        plan[r].append(live)
        loads[r] += costs[live]
    return plan


def _chunks(idx: Sequence[int], size: int) -> List[List[int]]:
    return [list(idx[i:i + size]) for i in range(0, len(idx), size)]


class _GalleryAndQueries(Dataset):
    """Gallery samples, then query samples, each tagged with its role."""

    def __init__(self, gallery: Dataset, queries: Dataset) -> None:
        self.gallery, self.queries = gallery, queries
        self.offset = len(gallery)

    def __len__(self) -> int:
        return self.offset + len(self.queries)

    def __getitem__(self, idx: int) -> Tuple[str, Any]:
        if idx < self.offset:
            return 'gallery', self.gallery[idx]
        return 'query', self.queries[idx - self.offset]


class _TaggedCollate:
    """Collate a one-role batch with that role's collate function."""

    def __init__(self, gallery_collate: Callable,
                 query_collate: Callable) -> None:
        self.fns = dict(gallery=gallery_collate, query=query_collate)

    def __call__(self, items: List[Tuple[str, Any]]) -> Tuple[str, Any]:
        role = items[0][0]
        return role, self.fns[role]([x for _, x in items])


class _RetrievalLoopMixin:
    """Shared by the val and test loops.

    Attributes:
        keep_predictions: when set (e.g. by
            :class:`~lpr.engine.RetrievalVisualizationHook` before the loop
            runs), each run leaves this rank's per-query predictions in
            ``predictions``.
        predictions: the metric's samples of this rank's queries, each with
            its query dataset index ``sample_idx``; ``None`` unless
            ``keep_predictions``.
    """

    keep_predictions: bool = False
    predictions: Optional[List[dict]] = None

    def _build_gallery(self, runner, gallery_dataloader):
        if isinstance(gallery_dataloader, dict):
            return runner.build_dataloader(
                gallery_dataloader, seed=runner.seed)
        return gallery_dataloader

    def _plan(self) -> dict:
        """Livestream groups and their split over ranks (computed once)."""
        if getattr(self, '_plan_cache', None) is None:
            queries = live_groups(self.dataloader.dataset)
            gallery = live_groups(self.gallery_dataloader.dataset)
            costs = {
                live: QUERY_COST * len(idx) + len(gallery.get(live, []))
                for live, idx in queries.items()
            }
            self._plan_cache = dict(
                queries=queries,
                gallery=gallery,
                ranks=assign_lives(costs, get_world_size()),
                num_queries=len(self.dataloader.dataset))
        return self._plan_cache

    def _live_loader(self, lives: List[Hashable],
                     plan: dict) -> Tuple[DataLoader, Dict[Hashable, Tuple]]:
        """One loader over this rank's livestreams: per livestream its
        gallery batches, then its query batches (a batch never mixes
        livestreams)."""
        qload, gload = self.dataloader, self.gallery_dataloader
        dataset = _GalleryAndQueries(gload.dataset, qload.dataset)
        batches, layout = [], {}
        for live in lives:
            g = _chunks(plan['gallery'].get(live, []), gload.batch_size)
            q = _chunks(plan['queries'][live], qload.batch_size)
            batches += g + [[dataset.offset + i for i in b] for b in q]
            layout[live] = (len(g), q)
        workers = max(qload.num_workers, gload.num_workers)
        kwargs = dict(
            batch_sampler=batches,
            num_workers=workers,
            collate_fn=_TaggedCollate(gload.collate_fn, qload.collate_fn),
            pin_memory=qload.pin_memory,
            worker_init_fn=qload.worker_init_fn)
        if workers:
            kwargs['multiprocessing_context'] = \
                qload.multiprocessing_context
        return DataLoader(dataset, **kwargs), layout

    def _predict(self, batches: Iterator, n: int) -> Iterator[List[dict]]:
        for _ in range(n):
            _, data = next(batches)
            with autocast(enabled=self.fp16):
                outputs = self.runner.model.test_step(data)
            yield outputs

    def _rank_my_lives(self) -> Tuple[List[dict], Dict[Hashable, List]]:
        """Encode and rank this rank's livestreams.

        Returns:
            tuple: compact results (with ``sample_idx`` and ``live``) and
            each livestream's gallery ids.
        """
        model = self.runner.model
        module = model.module if hasattr(model, 'module') else model
        keep_tokens = getattr(module, 'rerank_top_k', 0) > 1
        model_rank = getattr(module, 'rank', embedding_ranker)

        def ranker(*args):
            with autocast(enabled=self.fp16):
                return model_rank(*args)

        plan = self._plan()
        lives = plan['ranks'][get_rank()]
        results, gallery_ids = [], {}
        if not lives:
            return results, gallery_ids
        loader, layout = self._live_loader(lives, plan)

        def size(live):  # gallery images + queries of a livestream
            return len(plan['gallery'].get(live, [])) + len(
                plan['queries'][live])

        bar = ProgressBar(
            sum(size(live) for live in lives),
            desc='encoding and ranking gallery images + queries',
            unit='samples')
        batches = iter(loader)
        for live in lives:
            n_gallery, query_idx = layout[live]
            ids, res = rank_livestream(
                ranker, self._predict(batches, n_gallery),
                self._predict(batches, len(query_idx)), keep_tokens)
            for i, r in zip((i for b in query_idx for i in b), res):
                r.update(sample_idx=i, live=live)
            results += res
            gallery_ids[live] = ids
            bar.update(size(live))
        return results, gallery_ids

    def _evaluate(self) -> dict:
        model = self.runner.model
        model.eval()
        with torch.no_grad():
            results, gallery_ids = self._rank_my_lives()
        rank, world = get_rank(), get_world_size()
        if world > 1:  # only the rankings travel, never tokens
            parts = all_gather_object((results, gallery_ids))
            results, gallery_ids = [], {}
            for res, ids in parts:
                results += res
                gallery_ids.update(ids)
        results.sort(key=lambda r: r['sample_idx'])
        mine = results[rank::world]
        preds = [to_prediction(r, gallery_ids[r['live']]) for r in mine]
        if self.keep_predictions:
            self.predictions = [
                dict(p, sample_idx=r['sample_idx'])
                for p, r in zip(preds, mine)
            ]
        self.evaluator.process(data_samples=preds)
        return self.evaluator.evaluate(len(results))


@LOOPS.register_module()
class LPRRetrievalValLoop(_RetrievalLoopMixin, BaseLoop):
    """Validation: ``dataloader`` holds the queries, ``gallery_dataloader``
    the shop images; both datasets give each sample's livestream, by
    ``live_ids()`` or as ``live_id`` in its data info. Their batch sizes, workers and collate functions are used
    for the per-livestream batches.

    Args:
        runner: the runner.
        dataloader: query dataloader (config or object).
        evaluator: e.g. ``dict(type='LPRRetrievalMetric')``.
        gallery_dataloader: gallery dataloader (config or object).
        fp16: encode and rank under autocast.
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
