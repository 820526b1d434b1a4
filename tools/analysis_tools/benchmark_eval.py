"""Benchmark LPR4M-scale evaluation with PMD re-ranking: memory and time of
the test loop's per-livestream ranking path, on synthetic encoder outputs.

The LPR4M test set has 110 livestreams with 66,358 gallery images and
20,079 queries; a query has 10 frames of 50 tokens of 768 dims. This tool
makes livestreams of those sizes (seeded), produces each livestream's
gallery and query outputs lazily, batch by batch, as the encoder would
(fp16 tokens), and ranks them with the real loop core
(:func:`lpr.engine.retrieval_loop.rank_livestream`) and ``RICE.rank`` with
a randomly initialised 768-wide, 8-head PMD head (the released layout,
``MMFPMDHead``) re-ranking the top-K. Livestreams are spread over the ranks
as the test loop does; it runs once per world size (gloo processes) and
checks that every world size gives identical rankings.

It reports, per world size, every rank's peak resident memory, the seconds
spent and the ranking seconds per query. On a few CPU cores use
``--lives`` / ``--queries-scale`` to run a subset (the largest galleries
first, so the largest livestream is always in at full size and the peak
memory is that of the full run) and extrapolate the time from the seconds
per query.

Example::

    python tools/analysis_tools/benchmark_eval.py --lives 2 \\
        --queries-scale 0.02 --world-sizes 1 2
"""
import argparse
import json
import os
import os.path as osp
import resource
import socket
import sys
import time
from typing import Dict, Iterator, List, Tuple

import numpy as np
import torch

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))), 'projects'))

LPR4M = dict(lives=110, gallery=66358, queries=20079)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--num-lives', type=int, default=LPR4M['lives'])
    parser.add_argument('--num-gallery', type=int, default=LPR4M['gallery'],
                        help='gallery images over all livestreams')
    parser.add_argument('--num-queries', type=int, default=LPR4M['queries'],
                        help='queries over all livestreams')
    parser.add_argument('--lives', type=int, default=None,
                        help='run only the N largest galleries')
    parser.add_argument('--queries-scale', type=float, default=1.0,
                        help='run this fraction of each livestream\'s '
                        'queries (at least one)')
    parser.add_argument('--frames', type=int, default=10)
    parser.add_argument('--tokens', type=int, default=50,
                        help='tokens per image / frame')
    parser.add_argument('--dims', type=int, default=768, help='token width')
    parser.add_argument('--emb-dims', type=int, default=512)
    parser.add_argument('--heads', type=int, default=8)
    parser.add_argument('--top-k', type=int, default=5)
    parser.add_argument('--batch-size', type=int, default=32,
                        help='queries per encoder batch')
    parser.add_argument('--gallery-batch-size', type=int, default=128)
    parser.add_argument('--world-sizes', type=int, nargs='+', default=[1, 2])
    parser.add_argument('--device', default='cpu',
                        help='cpu or cuda (every rank uses the same GPU)')
    parser.add_argument('--fp16', action='store_true',
                        help='rank under autocast (as test_cfg.fp16=True)')
    parser.add_argument('--threads', type=int, default=None,
                        help='CPU threads per rank (default: the CPU count '
                        'divided by the world size)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--max-rss-gb', type=float, default=None,
                        help='exit with an error if a rank\'s peak RSS is '
                        'above this')
    parser.add_argument('--out', help='write the report (JSON) here')
    return parser.parse_args(argv)


def split_total(total: int, n: int, rng: np.random.Generator,
                sigma: float = 0.6) -> np.ndarray:
    """``n`` positive sizes summing to ``total`` (log-normal shares)."""
    w = rng.lognormal(0.0, sigma, n)
    sizes = np.maximum(1, np.floor(w / w.sum() * total)).astype(int)
    while sizes.sum() < total:
        sizes[np.argmax(w * total - sizes)] += 1
    while sizes.sum() > total:
        sizes[np.argmax(sizes)] -= 1
    return sizes


def live_sizes(args) -> List[Dict[str, int]]:
    """Per livestream (largest gallery first) its gallery size and the
    number of queries run."""
    rng = np.random.default_rng(args.seed)
    gallery = split_total(args.num_gallery, args.num_lives, rng)
    queries = split_total(args.num_queries, args.num_lives, rng)
    lives = [
        dict(live=i, gallery=int(g), queries=int(q), full_queries=int(q))
        for i, (g, q) in enumerate(zip(gallery, queries))
    ]
    lives.sort(key=lambda x: (-x['gallery'], x['live']))
    lives = lives[:args.lives] if args.lives else lives
    for x in lives:
        x['queries'] = max(1, int(round(x['queries'] * args.queries_scale)))
    return lives


def _unit(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(x, dim=-1)


def gallery_outputs(args, live: dict, device: torch.device
                    ) -> Iterator[List[dict]]:
    """A livestream's gallery, batch by batch, as ``RICE.predict`` gives
    it (per-sample views of the batch's tensors)."""
    g = torch.Generator(device).manual_seed(args.seed * 1000003 +
                                            live['live'] * 2)
    n, bs = live['gallery'], args.gallery_batch_size
    for s in range(0, n, bs):
        b = min(bs, n - s)
        emb = _unit(torch.randn(b, args.emb_dims, generator=g,
                                device=device))
        tok = torch.randn(b, args.tokens, args.dims, generator=g,
                          device=device, dtype=torch.float16)
        yield [
            dict(image_id=f'{live["live"]}-{s + i}', image_emb=emb[i],
                 image_tokens=tok[i]) for i in range(b)
        ]


def query_outputs(args, live: dict, device: torch.device
                  ) -> Iterator[List[dict]]:
    """A livestream's queries, batch by batch (1 to ``frames`` valid
    frames each)."""
    g = torch.Generator(device).manual_seed(args.seed * 1000003 +
                                            live['live'] * 2 + 1)
    n, bs = live['queries'], args.batch_size
    length = args.frames * args.tokens
    for s in range(0, n, bs):
        b = min(bs, n - s)
        emb = _unit(torch.randn(b, args.emb_dims, generator=g,
                                device=device))
        tok = torch.randn(b, length, args.dims, generator=g, device=device,
                          dtype=torch.float16)
        frames = torch.randint(1, args.frames + 1, (b, 1), generator=g,
                               device=device)
        valid = torch.arange(length, device=device)[None] < \
            frames * args.tokens
        gt = torch.randint(0, live['gallery'], (b, ), generator=g,
                           device=device).tolist()
        yield [
            dict(clip_id=f'{live["live"]}-q{s + i}',
                 gt_image_ids=[f'{live["live"]}-{gt[i]}'],
                 has_frames=True, clip_emb=emb[i], clip_tokens=tok[i],
                 clip_valid=valid[i]) for i in range(b)
        ]


def build_model(args, device: torch.device):
    import lpr  # noqa: F401
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    torch.manual_seed(args.seed)
    cfg = dict(
        type='RICE',
        # Never run here: ``rank`` uses the PMD head only.
        encoder=dict(
            type='TokenEncoder',
            in_channels=16,
            embed_dims=args.emb_dims,
            backbone=dict(
                type='VisionTransformer',
                arch=dict(embed_dims=16, num_layers=1, num_heads=2,
                          feedforward_channels=32),
                img_size=16, patch_size=8, out_type='raw')),
        pmd_head=dict(type='MMFPMDHead', embed_dims=args.dims,
                      num_heads=args.heads),
        rerank=dict(top_k=args.top_k, weight=0.5))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg)
    return model.to(device).eval()


def peak_rss_gb() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run_rank(rank: int, world: int, args, port: int, out_dir: str) -> None:
    """One rank: rank its livestreams, gather the rankings to rank 0."""
    import torch.distributed as dist
    from mmengine.runner import autocast

    from lpr.engine.retrieval_loop import (QUERY_COST, assign_lives,
                                           rank_livestream)
    torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 1) //
                                              world))
    if world > 1:
        os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
        dist.init_process_group('gloo', rank=rank, world_size=world)
    device = torch.device(args.device)
    model = build_model(args, device)
    lives = {x['live']: x for x in live_sizes(args)}
    plan = assign_lives(
        {k: QUERY_COST * x['queries'] + x['gallery']
         for k, x in lives.items()}, world)[rank]
    rank_seconds = [0.0]

    def ranker(*a):
        if device.type == 'cuda':
            torch.cuda.synchronize()
        t = time.perf_counter()
        with autocast(enabled=args.fp16, device_type=device.type):
            out = model.rank(*a)
        if device.type == 'cuda':
            torch.cuda.synchronize()
        rank_seconds[0] += time.perf_counter() - t
        return out

    start = time.perf_counter()
    orders = {}
    with torch.no_grad():
        for live in plan:
            x = lives[live]
            _, results = rank_livestream(
                ranker, gallery_outputs(args, x, device),
                query_outputs(args, x, device), keep_tokens=True)
            for r in results:
                orders[r['clip_id']] = r['order']
    seconds = time.perf_counter() - start
    n_queries = sum(lives[k]['queries'] for k in plan)
    report = dict(
        rank=rank,
        lives=len(plan),
        queries=n_queries,
        gallery=sum(lives[k]['gallery'] for k in plan),
        seconds=round(seconds, 2),
        rank_seconds=round(rank_seconds[0], 2),
        peak_rss_gb=round(peak_rss_gb(), 3))
    if device.type == 'cuda':
        report['peak_gpu_gb'] = round(
            torch.cuda.max_memory_allocated() / 2**30, 3)
    parts = [(report, orders)]
    if world > 1:
        parts = [None] * world
        dist.all_gather_object(parts, (report, orders))
        dist.destroy_process_group()
    if rank == 0:
        merged = {}
        for _, o in parts:
            merged.update(o)
        torch.save(dict(reports=[p for p, _ in parts], orders=merged),
                   osp.join(out_dir, f'world{world}.pt'))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def main(argv=None) -> dict:
    args = parse_args(argv)
    import tempfile

    import torch.multiprocessing as mp
    lives = live_sizes(args)
    summary = dict(
        device=args.device,
        fp16=args.fp16,
        top_k=args.top_k,
        lives=len(lives),
        queries=sum(x['queries'] for x in lives),
        gallery=sum(x['gallery'] for x in lives),
        largest_gallery=max(x['gallery'] for x in lives),
        largest_query_count=max(x['full_queries'] for x in lives),
        shapes=dict(
            query_tokens=[args.frames * args.tokens, args.dims],
            image_tokens=[args.tokens, args.dims],
            storage='float16'),
        runs=[])
    reference = None
    # Every world size runs in fresh processes, so each rank's peak RSS is
    # its own. On the CPU they are forked from this process once it has
    # imported the plugin (and before it runs anything): a rank starts
    # from the same baseline as a freshly started one, without paying the
    # imports again. CUDA does not survive a fork: spawn there.
    method = 'spawn'
    if args.device == 'cpu' and 'fork' in mp.get_all_start_methods():
        import lpr  # noqa: F401
        method = 'fork'
    with tempfile.TemporaryDirectory() as tmp:
        for world in args.world_sizes:
            mp.start_processes(run_rank, args=(world, args, free_port(), tmp),
                               nprocs=world, join=True, start_method=method)
            got = torch.load(osp.join(tmp, f'world{world}.pt'),
                             weights_only=False)
            reports = got['reports']
            n = sum(r['queries'] for r in reports)
            rank_s = max(r['rank_seconds'] for r in reports)
            run = dict(
                world_size=world,
                seconds=max(r['seconds'] for r in reports),
                rank_seconds=rank_s,
                peak_rss_gb_per_rank=[r['peak_rss_gb'] for r in reports],
                ranks=reports)
            # Ranking seconds per query on one rank, and the full test set
            # at that rate spread over this many ranks.
            per_query = sum(r['rank_seconds'] for r in reports) / max(n, 1)
            run['rank_seconds_per_query'] = round(per_query, 5)
            run['full_rank_seconds_estimate'] = round(
                per_query * args.num_queries / world, 1)
            orders = got['orders']
            if reference is None:
                reference = orders
            else:
                run['identical_to_world_%d' % args.world_sizes[0]] = (
                    orders.keys() == reference.keys() and all(
                        np.array_equal(orders[k], reference[k])
                        for k in orders))
            summary['runs'].append(run)
    text = json.dumps(summary, indent=1)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text)
    identical = all(v for run in summary['runs']
                    for k, v in run.items() if k.startswith('identical'))
    too_big = args.max_rss_gb is not None and any(
        m > args.max_rss_gb for run in summary['runs']
        for m in run['peak_rss_gb_per_rank'])
    if not identical or too_big:
        raise SystemExit(
            f'rankings identical: {identical}; peak RSS over '
            f'{args.max_rss_gb} GB: {too_big}')
    return summary


if __name__ == '__main__':
    main()
