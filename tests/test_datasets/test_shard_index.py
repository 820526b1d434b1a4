"""The shard id index is built once per shard root, also when several
dataloader workers open a root without one at the same time."""
import multiprocessing as mp
import os
import os.path as osp

import numpy as np
import pytest

from lpr.datasets.frame_store import (INDEX_KEYS, INDEX_NAME, ShardStore,  # noqa
                                      build_shard_index, index_complete,
                                      save_shard_index)


@pytest.fixture(scope='module')
def shard_root(tmp_path_factory):
    from lpr.toy import generate, make_config
    out = str(tmp_path_factory.mktemp('shards'))
    generate(out, make_config(
        'tests', train_lives=2, test_lives=1, products_per_live=2,
        train_clips_per_product=1, test_clips_per_product=1, resolution=48,
        image_size=32, shards=True, workers=1), progress=False)
    shards = osp.join(out, 'shards')
    name = sorted(n for n in os.listdir(shards)
                  if n.startswith('training_frame_url'))[0]
    return osp.join(shards, name)


def _open_and_read(root, ids, barrier, queue):
    barrier.wait()  # every process finds no index and builds it
    store = ShardStore(root)
    try:
        queue.put(sum(store.size(i) is not None for i in ids))
    except Exception as err:  # reported to the test
        queue.put(repr(err))


def test_processes_building_one_index_at_once_all_succeed(shard_root):
    import shutil
    shutil.rmtree(osp.join(shard_root, INDEX_NAME), ignore_errors=True)
    index = build_shard_index(shard_root)
    ids = [str(k) for k in range(3)]  # ids are looked up, found or not
    ctx = mp.get_context('fork')
    barrier, queue = ctx.Barrier(6), ctx.Queue()
    procs = [
        ctx.Process(target=_open_and_read,
                    args=(shard_root, ids, barrier, queue))
        for _ in range(6)
    ]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert all(isinstance(r, int) for r in results), results
    assert len(set(results)) == 1
    path = osp.join(shard_root, INDEX_NAME)
    assert index_complete(path)
    assert np.array_equal(np.load(osp.join(path, 'hash.npy')), index['hash'])
    leftovers = [n for n in os.listdir(shard_root) if '.tmp' in n]
    assert leftovers == []


def test_a_complete_index_is_kept_and_an_outdated_one_replaced(
        shard_root, tmp_path):
    index = build_shard_index(shard_root)
    path = str(tmp_path / INDEX_NAME)
    os.makedirs(path)
    np.save(osp.join(path, 'hash.npy'), index['hash'])  # no sizes: old
    assert not index_complete(path)
    save_shard_index(index, path)
    assert index_complete(path)
    marker = osp.join(path, 'marker')
    open(marker, 'w').close()
    save_shard_index(index, path)  # another process's index is in place
    assert osp.exists(marker) and index_complete(path)
    assert sorted(os.listdir(tmp_path)) == [INDEX_NAME]
    assert set(INDEX_KEYS) <= {n[:-4] for n in os.listdir(path)}
