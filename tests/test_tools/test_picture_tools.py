"""tools/test.py --show-dir writes one picture per query (RICE) or per
frame/clip (SD/MD), and browse_dataset.py draws retrieval pairs/queries and
detection frames/clips. Untrained tiny models on the toy ``tests`` preset;
all tools run once, in one subprocess."""
import glob
import json
import os.path as osp
import subprocess
import sys
import textwrap

import mmcv
import numpy as np
import pytest
from mmengine.fileio import load

from conftest import ROOT, run_env

RICE = osp.join(ROOT, 'configs/rice/rice_vit-tiny-p16_1xb32-18e_toy-lpr4m.py')
SD = osp.join(ROOT, 'configs/ipd/dab-detr_r18-slim_1xb8-12e_toy-lpr4m.py')
MD = osp.join(ROOT, 'configs/ipd/transvod-lite_r18-slim_1xb2-3e_toy-lpr4m.py')
TEST_TOOL = osp.join(ROOT, 'tools/test.py')
BROWSE = osp.join(ROOT, 'tools/analysis_tools/browse_dataset.py')

# Runs in the subprocess: save randomly initialised checkpoints, then each
# tool as ``python TOOL ARGS`` would.
DRIVER = textwrap.dedent('''
    import json, runpy, sys
    import torch
    import lpr
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    jobs = json.loads(sys.argv[1])
    for config, scope, path in jobs['checkpoints']:
        cfg = Config.fromfile(config)
        if scope == 'mmdet':
            from mmdet.registry import MODELS
        else:
            from mmpretrain.registry import MODELS
        torch.manual_seed(0)
        with DefaultScope.overwrite_default_scope(scope):
            model = MODELS.build(cfg.model)
        torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    for argv in jobs['tools']:
        sys.argv = argv
        runpy.run_path(argv[0], run_name='__main__')
''')


def run_jobs(checkpoints, tools):
    proc = subprocess.run(
        [sys.executable, '-c', DRIVER,
         json.dumps(dict(checkpoints=checkpoints, tools=tools))],
        env=run_env(), capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


def has_color(img, color, tol=60, min_pixels=20):
    close = (np.abs(img.astype(int) - np.array(color)).max(axis=2) <= tol)
    return int(close.sum()) >= min_pixels


@pytest.fixture(scope='module')
def pictures(toy_root, tmp_path_factory):
    """Run every tool once; returns the folders and files they wrote."""
    from lpr.datasets import convert_test
    tmp = tmp_path_factory.mktemp('pictures')
    ann = str(tmp / 'lpr_det_test_1cls.json')
    convert_test(toy_root, ann, 1)
    d = {k: str(tmp / k) for k in (
        'rice', 'sd', 'md', 'sd_show', 'md_show', 'pairs', 'queries',
        'clips', 'frames')}
    d.update(ann=ann, preds=str(tmp / 'preds.pkl'))
    ckpt = {k: str(tmp / f'{k}.pth') for k in ('rice', 'sd', 'md')}
    ropts = [
        '--data-root', toy_root, '--cfg-options',
        'test_dataloader.num_workers=0',
        'test_cfg.gallery_dataloader.num_workers=0'
    ]
    dopts = [
        f'test_dataloader.dataset.data_root={toy_root}',
        f'test_dataloader.dataset.ann_file={ann}',
        f'test_evaluator.ann_file={ann}', 'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False'
    ]
    d['log'] = run_jobs(
        [[RICE, 'mmpretrain', ckpt['rice']], [SD, 'mmdet', ckpt['sd']],
         [MD, 'mmdet', ckpt['md']]],
        [[TEST_TOOL, RICE, ckpt['rice'], '--work-dir', d['rice'],
          '--show-dir', 'show', '--out', d['preds'], *ropts],
         [BROWSE, RICE, '--output-dir', d['pairs'], '--max', '2', *ropts],
         [BROWSE, RICE, '--phase', 'test', '--output-dir', d['queries'],
          '--max', '2', *ropts],
         [TEST_TOOL, SD, ckpt['sd'], '--work-dir', d['sd'], '--show-dir',
          d['sd_show'], '--cfg-options', *dopts,
          'test_dataloader.dataset.indices=3'],
         [TEST_TOOL, MD, ckpt['md'], '--work-dir', d['md'], '--show-dir',
          d['md_show'], '--cfg-options', *dopts,
          'test_dataloader.dataset.indices=2'],
         [BROWSE, MD, '--phase', 'test', '--output-dir', d['clips'],
          '--max', '2', '--cfg-options', *dopts],
         [BROWSE, SD, '--phase', 'test', '--output-dir', d['frames'],
          '--max', '2', '--cfg-options', *dopts]])
    return d


def test_rice_show_dir_draws_every_query(pictures, toy_root):
    assert 'retrieval/R@1' in pictures['log']
    preds = load(pictures['preds'])
    # One picture per query, named by its clip id, under
    # <work_dir>/<timestamp>/show as mmdet's --show-dir.
    files = glob.glob(osp.join(pictures['rice'], '*', 'show', '*.jpg'))
    clip_ids = [p['clip_id'] for p in preds]
    with open(osp.join(toy_root, 'meta.json')) as f:
        assert len(clip_ids) == json.load(f)['stats']['test']['clips']
    assert sorted(osp.basename(f)[:-4] for f in files) == sorted(clip_ids)
    assert f'{len(clip_ids)} ranking pictures in' in pictures['log']
    assert any(
        set(p['pred_ranking'][:5]) & set(p['gt_image_ids']) for p in preds)
    # Under the frames, the top-5 cells (128 px, 8 apart, above two caption
    # lines); the cells of GT images are framed in green.
    for f in files:
        img = mmcv.imread(f, channel_order='rgb').astype(int)
        pred = next(p for p in preds if p['clip_id'] == osp.basename(f)[:-4])
        assert img.shape[1] >= 8 + 5 * 136
        y0 = img.shape[0] - 8 - 2 * 15 - 128
        for r, image_id in enumerate(pred['pred_ranking'][:5]):
            x0 = 8 + r * 136
            border = img[y0 + 10:y0 + 118, x0:x0 + 3].reshape(-1, 3)
            is_green = (np.abs(border - (0, 200, 0)).max(axis=1) < 50
                        ).mean() > 0.9
            assert is_green == (image_id in pred['gt_image_ids']), (f, r)


def test_browse_retrieval_pairs_and_queries(pictures):
    pairs = sorted(glob.glob(osp.join(pictures['pairs'], 'train_*.jpg')))
    queries = sorted(glob.glob(osp.join(pictures['queries'], 'test_*.jpg')))
    assert len(pairs) == 2 and len(queries) == 2
    assert '2 pictures of the train set in' in pictures['log']
    for f in pairs + queries:
        # The matching shop image is framed in green (an annotation).
        assert has_color(mmcv.imread(f, channel_order='rgb'), (0, 200, 0),
                         tol=50, min_pixels=400)


def test_sd_show_dir_draws_frames_as_mmdet(pictures):
    coco = load(pictures['ann'])
    # One picture per frame, GT | prediction side by side.
    sd = sorted(glob.glob(osp.join(pictures['sd_show'], '*.jpg')))
    assert len(sd) == 3
    first = coco['images'][0]
    pic = mmcv.imread(
        osp.join(pictures['sd_show'], osp.basename(first['file_name'])))
    assert pic.shape[:2] == (first['height'], 2 * first['width'])


def test_md_show_dir_draws_each_clip_as_a_strip(pictures):
    coco = load(pictures['ann'])
    videos = [v['id'] for v in coco['videos'][:2]]
    clips = sorted({
        osp.basename(osp.dirname(i['file_name']))
        for i in coco['images'] if i['video_id'] in videos
    })
    md = sorted(glob.glob(osp.join(pictures['md_show'], '*.jpg')))
    # One strip per clip, named by the clip (its frame folder): frames
    # 128 px high with their GT boxes in green.
    assert [osp.basename(f)[:-4] for f in md] == clips
    for f in md:
        img = mmcv.imread(f, channel_order='rgb')
        assert img.shape[0] >= 128 + 2 * 8
        assert has_color(img, (0, 200, 0), tol=60, min_pixels=30)


def test_browse_detection_clips_and_frames(pictures):
    clips = glob.glob(osp.join(pictures['clips'], 'test_*.jpg'))
    assert len(clips) == 2
    for f in clips:  # GT boxes in green
        assert has_color(mmcv.imread(f, channel_order='rgb'), (0, 200, 0),
                         tol=60, min_pixels=30)
    assert len(glob.glob(osp.join(pictures['frames'], 'test_*.jpg'))) == 2


@pytest.fixture(scope='module')
def browse():
    import runpy
    return runpy.run_path(BROWSE, run_name='browse_dataset')


def test_browse_rejects_bad_arguments_and_samples(browse):
    from mmengine.config import Config
    with pytest.raises(SystemExit):
        browse['parse_args'](['cfg.py', '--max', '-1'])
    with pytest.raises(ValueError, match='no val_dataloader.dataset'):
        browse['dataset_cfg'](Config(dict(train_dataloader=dict())), 'val')
    from lpr.visualization import LPRVisualizer
    vis = LPRVisualizer.get_instance('test_browse_rejects')
    with pytest.raises(ValueError, match='cannot draw a sample with keys'):
        browse['draw_sample'](vis, dict(image_id='x'), None, None)


def test_browse_dataset_cfg_unwraps_and_drops_the_pipeline(browse):
    from mmengine.config import Config
    cfg = Config(
        dict(train_dataloader=dict(dataset=dict(
            type='RepeatDataset', times=2,
            dataset=dict(type='X', pipeline=[dict(type='T')])))))
    ds = browse['dataset_cfg'](cfg, 'train')
    assert ds.type == 'X' and ds.pipeline == []
