"""Benchmark the LPR4M training index at full scale.

Writes a training videoinfo file in the official format (10 part files,
4,013,617 rows by default, 34 categories, ~12 clips per shop image, random
ASR), builds the compact clip index once, then measures what every training
job pays: loading the index, and the memory of the parent and of dataloader
workers that read samples from it.

    python tools/analysis_tools/benchmark_index.py --work-dir /tmp/lpr_index
    python tools/analysis_tools/benchmark_index.py --rows 200000 --frames 118

RSS counts shared, memory-mapped pages of every process that touched them;
PSS divides shared pages among the processes and ``private`` is what each
process owns alone, so ``private`` is the memory a worker adds.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time
import uuid

import numpy as np

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))), 'projects'))


def memory(pid: int = 0) -> dict:
    """RSS / PSS / private memory (MB) of a process from /proc."""
    pid = pid or os.getpid()
    out = {}
    with open(f'/proc/{pid}/smaps_rollup') as f:
        for line in f:
            key, _, rest = line.partition(':')
            if key in ('Rss', 'Pss', 'Private_Clean', 'Private_Dirty'):
                out[key] = int(rest.split()[0]) / 1024
    return dict(
        rss=out['Rss'],
        pss=out['Pss'],
        private=out['Private_Clean'] + out['Private_Dirty'])


def write_files(out_dir: str, rows: int, frames: int, parts: int,
                seed: int) -> list:
    rng = np.random.default_rng(seed)
    n_images = max(1, -(-rows // 12))
    n_lives = max(1, n_images // 50)
    lives = [str(uuid.UUID(bytes=rng.bytes(16), version=1))
             for _ in range(n_lives)]
    images = [str(uuid.UUID(bytes=rng.bytes(16), version=4))
              for _ in range(n_images)]
    words = ['家人们', '上链接', 'red', 'dress', '新款', 'link', '库存', '宝宝们']
    paths = []
    bounds = np.linspace(0, rows, parts + 1).astype(int)
    row = 0
    for p in range(parts):
        path = osp.join(out_dir, f'training_videoinfo_full_part_{p:02d}.txt')
        paths.append(path)
        with open(path, 'w', encoding='utf-8') as f:
            buf = []
            for _ in range(bounds[p], bounds[p + 1]):
                img = row // 12
                live = lives[img % n_lives]
                start = 1_660_000_000_000 + row * 200_000
                clip = f'{live}-{start}-{start + frames * 1000 - 1}'
                fids = ', '.join(f'"{clip}-{i:04d}"' for i in range(frames))
                x = (row % 50) / 100
                boxes = ', '.join(
                    f'[{x:.4f}, 0.2000, {x + 0.4:.4f}, 0.7000]'
                    if i % 7 else '[0, 0, 0, 0]' for i in range(frames))
                asr = ' '.join(words[(row + k) % len(words)]
                               for k in range(12))
                buf.append(
                    f'{clip}\t[{fids}]\t[{boxes}]\t{images[img]}\t'
                    f'title {img}\t{row % 34}\t类目{row % 34}\t{asr}\t'
                    f'small\tlong\tfew\n')
                row += 1
                if len(buf) >= 10000:
                    f.write(''.join(buf))
                    buf = []
            f.write(''.join(buf))
    return paths


def worker_probe(dataset, conn, n: int) -> None:
    """Read ``n`` samples the way a dataloader worker does, then report."""
    rng = np.random.default_rng(os.getpid())
    for i in rng.integers(0, len(dataset), n):
        dataset.get_data_info(int(i))
    conn.send(memory())
    conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='/tmp/lpr_index_benchmark')
    parser.add_argument('--rows', type=int, default=4_013_617)
    parser.add_argument(
        '--frames', type=int, default=20,
        help='frame ids per row (the release averages ~118, ~50 GB)')
    parser.add_argument('--parts', type=int, default=10)
    parser.add_argument('--workers', type=int, default=2,
                        help='dataloader workers to probe')
    parser.add_argument('--build-workers', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--samples', type=int, default=20000,
                        help='samples each probed worker reads')
    parser.add_argument('--keep', action='store_true',
                        help='reuse files already in --work-dir')
    args = parser.parse_args()

    import multiprocessing as mp

    import lpr  # noqa: F401
    from lpr.datasets import LPR4MPairDataset

    ann = osp.join(args.work_dir, 'annotations')
    os.makedirs(ann, exist_ok=True)
    result = dict(rows=args.rows, frames_per_row=args.frames)
    if not (args.keep and os.listdir(ann)):
        t = time.perf_counter()
        write_files(ann, args.rows, args.frames, args.parts, seed=0)
        result['write_s'] = round(time.perf_counter() - t, 1)
    result['file_gb'] = round(
        sum(osp.getsize(osp.join(ann, f)) for f in os.listdir(ann)
            if f.endswith('.txt')) / 1e9, 2)
    for d in os.listdir(ann):
        if d.startswith('lpr_clip_index_'):
            import shutil
            shutil.rmtree(osp.join(ann, d))

    def build():
        return LPR4MPairDataset(
            data_root=args.work_dir, index_workers=args.build_workers,
            pipeline=[])

    t = time.perf_counter()
    build()
    result['first_build_s'] = round(time.perf_counter() - t, 1)

    # Each measurement runs in a fresh process, as a training job would:
    # load the cached index, read samples, fork dataloader workers.
    ctx = mp.get_context('spawn')
    runs = []
    for _ in range(args.repeats):
        parent, child = ctx.Pipe()
        proc = ctx.Process(
            target=_job, args=(args.work_dir, args.workers, args.samples,
                               child))
        proc.start()
        runs.append(parent.recv())
        proc.join()
    result['load_s_median'] = round(
        float(np.median([r['load_s'] for r in runs])), 2)
    result['load_s_all'] = [round(r['load_s'], 2) for r in runs]
    result['get_data_info_us_median'] = round(
        float(np.median([r['get_us'] for r in runs])), 1)
    last = runs[-1]
    result['parent_before_load_mb'] = {
        k: round(v) for k, v in last['baseline'].items()}
    result['parent_mb'] = {k: round(v) for k, v in last['parent'].items()}
    result['workers_mb'] = [{k: round(v)
                             for k, v in w.items()} for w in last['workers']]
    result['samples'] = last['n']
    print(json.dumps(result, indent=1))


def _job(work_dir, workers, samples, conn):
    import multiprocessing as mp

    import lpr  # noqa: F401
    from lpr.datasets import LPR4MPairDataset
    baseline = memory()  # interpreter + torch + OpenMMLab imports
    t = time.perf_counter()
    ds = LPR4MPairDataset(data_root=work_dir, pipeline=[])
    load = time.perf_counter() - t
    t = time.perf_counter()
    for i in np.random.default_rng(0).integers(0, len(ds), 20000):
        ds.get_data_info(int(i))
    get_us = (time.perf_counter() - t) / 20000 * 1e6
    parent_mem = memory()
    fork = mp.get_context('fork')
    pipes, procs = [], []
    for _ in range(workers):
        parent, child = fork.Pipe()
        proc = fork.Process(target=worker_probe, args=(ds, child, samples))
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    worker_mem = [p.recv() for p in pipes]
    for proc in procs:
        proc.join()
    conn.send(
        dict(
            load_s=load,
            get_us=get_us,
            n=len(ds),
            baseline=baseline,
            parent=parent_mem,
            workers=worker_mem))
    conn.close()


if __name__ == '__main__':
    main()
