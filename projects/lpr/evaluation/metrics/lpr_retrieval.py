"""Rank-k accuracy of LPR retrieval (the official protocol)."""
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

from mmengine.evaluator import BaseMetric
from mmpretrain.registry import METRICS

DEFAULT_SPLITS = ('category_id', 'product_scale', 'visible_duration',
                  'product_number')


@METRICS.register_module()
class LPRRetrievalMetric(BaseMetric):
    """Hit rate at k (R@k) of clip-to-shop retrieval.

    Each query carries its gallery ids ranked by score (``pred_ranking``,
    already restricted to its livestream's gallery) and its GT ids
    (``gt_image_ids``, any match counts). R@k = 100 · (queries with a GT id
    in their top k) / (all queries); a query without a prediction (e.g. no
    readable frame) is a miss. With ``splits``, R@k is also reported per
    value of those sample fields (category, diversity types).

    Examples:
        >>> LPRRetrievalMetric.calculate([['a', 'b'], ['c', 'd'], []],
        ...                              [['b'], ['x'], ['y']], topk=(1, 2))
        {'R@1': 0.0, 'R@2': 33.333333333333336}

    Use in configs::

        test_evaluator = dict(type='LPRRetrievalMetric', topk=(1, 5, 10))

    Args:
        topk: the k values. Defaults to (1, 3, 5, 10).
        splits: fields to break R@k down by.
        collect_device, prefix: see :class:`mmengine.evaluator.BaseMetric`.
    """
    default_prefix = 'retrieval'

    def __init__(self,
                 topk: Sequence[int] = (1, 3, 5, 10),
                 splits: Sequence[str] = DEFAULT_SPLITS,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.topk = tuple(sorted(topk))
        self.splits = tuple(splits)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        kmax = self.topk[-1]
        for sample in data_samples:
            self.results.append(
                dict(
                    ranking=list(sample.get('pred_ranking', []))[:kmax],
                    gt=list(sample['gt_image_ids']),
                    groups={
                        k: sample.get(k)
                        for k in self.splits if sample.get(k) is not None
                    }))

    @staticmethod
    def calculate(rankings: Sequence[Sequence[str]],
                  gts: Sequence[Sequence[str]],
                  topk: Sequence[int] = (1, 3, 5, 10)) -> Dict[str, float]:
        """R@k over all queries.

        Args:
            rankings: per query, gallery ids best first (may be empty).
            gts: per query, its GT ids.
            topk: the k values.

        Returns:
            dict: ``R@k`` in percent.
        """
        if len(rankings) != len(gts):
            raise ValueError(f'{len(rankings)} rankings for {len(gts)} '
                             'queries')
        if not gts:
            return {f'R@{k}': 0.0 for k in topk}
        first_hit = []
        for ranking, gt in zip(rankings, gts):
            gt = set(gt)
            first_hit.append(
                next((i for i, g in enumerate(ranking) if g in gt), None))
        return {
            f'R@{k}': 100.0 * sum(h is not None and h < k
                                  for h in first_hit) / len(gts)
            for k in topk
        }

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        metrics = self.calculate([r['ranking'] for r in results],
                                 [r['gt'] for r in results], self.topk)
        metrics['num_queries'] = len(results)
        by_split: Dict[str, Dict[str, List[dict]]] = defaultdict(
            lambda: defaultdict(list))
        for r in results:
            for key, value in r['groups'].items():
                by_split[key][str(value)].append(r)
        for key, groups in by_split.items():
            for value, members in sorted(groups.items()):
                sub = self.calculate([m['ranking'] for m in members],
                                     [m['gt'] for m in members], self.topk)
                for k, v in sub.items():
                    metrics[f'{key}/{value}/{k}'] = v
                metrics[f'{key}/{value}/num'] = len(members)
        return metrics
