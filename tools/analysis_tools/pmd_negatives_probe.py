"""How should PMD's negatives be mined?  With a trained RICE's encoder
frozen, train fresh PMD heads on the training pairs' tokens with the
hardest negatives or with negatives drawn from a pool of the most similar
ones, and rank the test queries with each head (PMD re-ranking of the top 5
and PMD alone), next to the checkpoint's own head.

    python tools/analysis_tools/pmd_negatives_probe.py CONFIG CHECKPOINT \\
        --data-root data/toy_lpr4m [--pools 0 8] [--steps 600] \\
        [--cfg-options KEY=VALUE ...]

R@1 differences to the embedding ranking come with 95 % paired-bootstrap
intervals over the test queries.
"""
import argparse
import os.path as osp
import sys
from collections import defaultdict

import numpy as np
import torch
from mmengine.config import DictAction

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))), 'projects'))


def encode(model, dataset, fn, batch_size=32):
    from mmengine.dataset import default_collate
    out = []
    with torch.no_grad():
        for i in range(0, len(dataset), batch_size):
            batch = default_collate([
                dataset[j]
                for j in range(i, min(i + batch_size, len(dataset)))
            ])
            out.append(fn(model.data_preprocessor(batch, False)))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--data-root', required=True)
    parser.add_argument('--pools', type=int, nargs='+', default=[0, 8],
                        help='negative_pool values (0: the hardest)')
    parser.add_argument('--steps', type=int, default=600)
    parser.add_argument('--lives-per-batch', type=int, default=4)
    parser.add_argument('--clips-per-live', type=int, default=8)
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, default={},
        help='override config settings (e.g. an 8x8-grid model trained '
        'with model.pmd_head.negative_pool=8), as in tools/test.py')
    args = parser.parse_args()

    import lpr  # noqa: F401
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmpretrain.registry import DATASETS, MODELS

    from lpr.evaluation.bootstrap import (bootstrap_indices, compare,
                                          hit_table)
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    model = MODELS.build(cfg.model)
    load_checkpoint(model, args.checkpoint, map_location='cpu',
                    logger='silent')
    model.eval()
    if model.pmd_head is None:
        raise SystemExit('the config has no PMD head')

    # Training pairs with the test-time spatial transform (no augmentation).
    resize = next(t for t in cfg.test_dataloader.dataset.pipeline
                  if t['type'] == 'ResizeCropFlipFrames')
    pack = next(t for t in cfg.test_dataloader.dataset.pipeline
                if t['type'] == 'PackLPRInputs')
    sample = next(t for t in cfg.train_dataloader.dataset.pipeline
                  if t['type'] == 'SampleClipFrames')
    pairs = DATASETS.build(
        dict(type='LPR4MPairDataset', data_root=args.data_root, pipeline=[
            dict(sample, rule='chunk'), dict(type='LoadClipFrames'),
            dict(type='LoadShopImage'), resize, pack
        ]))
    parts = encode(
        model, pairs, lambda d: model.extract_pair(
            d['inputs']['image'], d['inputs']['frames'],
            d['inputs']['frame_mask']) + (
                [s.image_id for s in d['data_samples']], ))
    img_g, img_t, clip_g, vid_t, valid = (
        torch.cat([p[i] for p in parts]) for i in range(5))
    ids = sum((p[5] for p in parts), [])
    lives = np.asarray(pairs.live_ids())
    groups = [np.nonzero(lives == live)[0] for live in np.unique(lives)]

    queries = DATASETS.build(
        dict(cfg.test_dataloader.dataset, data_root=args.data_root))
    gallery = DATASETS.build(
        dict(cfg.test_cfg.gallery_dataloader.dataset,
             data_root=args.data_root))
    predict = lambda d: model.predict(d['inputs'], d['data_samples'])  # noqa
    qs = sum(encode(model, queries, predict), [])
    gs = sum(encode(model, gallery, predict), [])
    by_live = defaultdict(list)
    for i, g in enumerate(gs):
        by_live[g.live_id].append(i)
    print(f'{len(ids)} training pairs, {len(qs)} queries, {len(gs)} shop '
          'images encoded', flush=True)

    def evaluate(head, top_k, weight):
        model.pmd_head = head.eval()
        model.rerank = dict(top_k=top_k, weight=weight)
        first = []
        with torch.no_grad():
            for q in qs:
                idx = by_live[q.live_id]
                _, order = model.rank(
                    q.clip_emb[None],
                    torch.stack([gs[i].image_emb for i in idx]),
                    q.clip_tokens[None], q.clip_valid[None],
                    torch.stack([gs[i].image_tokens for i in idx]))
                ranked = [gs[idx[j]].image_id for j in order[0].tolist()]
                gt = set(q.gt_image_ids)
                first.append(next(
                    (r for r, g in enumerate(ranked) if g in gt), np.inf))
        return hit_table(np.array(first), (1, ))

    boot = bootstrap_indices(len(qs), 1000)
    own = model.pmd_head
    base = evaluate(own, 0, 0.5)
    print(f'embeddings: R@1 {100 * base.mean():.1f}')

    def report(label, head):
        for top_k, weight, how in ((5, 0.5, 're-rank top-5'),
                                   (10**6, 1.0, 'PMD alone')):
            hits = evaluate(head, top_k, weight)
            d = compare(hits, base, boot)
            print(f'{label:34s} {how:14s} R@1 {100 * hits.mean():5.1f}  '
                  f'vs embeddings {d["diff"][0]:+.1f} '
                  f'[{d["lo"][0]:+.1f}, {d["hi"][0]:+.1f}]', flush=True)

    report("checkpoint's head", own)
    b = args.lives_per_batch * args.clips_per_live
    for pool in args.pools:
        torch.manual_seed(0)
        rng = np.random.default_rng(0)
        head_cfg = dict(cfg.model.pmd_head, negative_pool=pool)
        head = MODELS.build(head_cfg).train()
        opt = torch.optim.AdamW(head.parameters(), 1e-3, weight_decay=0.05)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.steps)
        for _ in range(args.steps):
            chosen = rng.choice(len(groups), args.lives_per_batch,
                                replace=False)
            rows = torch.as_tensor(np.concatenate([
                rng.choice(groups[g], args.clips_per_live,
                           replace=len(groups[g]) < args.clips_per_live)
                for g in chosen
            ]))
            rid = [ids[j] for j in rows.tolist()]
            same = torch.tensor([[x == y for y in rid] for x in rid])
            same.fill_diagonal_(False)
            sim = img_g[rows] @ clip_g[rows].t()
            mining = dict(sim=sim, sim_v2i=sim.t().contiguous(),
                          targets=torch.arange(b), same=same)
            losses, _ = head.loss_and_predict(
                img_t[rows], vid_t[rows], valid[rows], mining, same,
                all_image_tokens=img_t[rows])
            loss = sum(losses.values())
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        label = 'fresh head, hardest negatives' if pool <= \
            head.num_negatives else f'fresh head, negatives of top {pool}'
        report(label + f' (loss {losses["loss_pmd"].item():.2f})', head)


if __name__ == '__main__':
    main()
