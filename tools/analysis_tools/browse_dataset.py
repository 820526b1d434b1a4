"""Draw the samples of a config's dataset, as annotated (before the
pipeline), as mmdet's and mmpretrain's browse_dataset tools do.

* retrieval configs: training pairs (the clip's frames with their boxes, the
  positive shop image, its title and the clip's ASR) for ``--phase train``;
  test queries with their GT shop images for ``--phase val|test``;
* detection configs: frames with their GT boxes (single-frame detector) or
  whole clips as strips (multi-frame detector).

    python tools/analysis_tools/browse_dataset.py CONFIG \\
        [--output-dir DIR] [--phase train|val|test] [--max N] [--show] \\
        [--data-root PATH]

Without ``--output-dir`` and ``--show`` the pictures go to
``work_dirs/<config name>/browse_<phase>/``.
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional, Tuple

sys.path.insert(
    0,
    osp.join(
        osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
        'projects'))

import mmcv  # noqa: E402
import numpy as np  # noqa: E402
from mmengine.config import Config, ConfigDict, DictAction  # noqa: E402
from mmengine.registry import (DATASETS, VISUALIZERS,  # noqa: E402
                               init_default_scope)
from mmengine.utils import mkdir_or_exist  # noqa: E402

import lpr  # noqa: E402,F401
from lpr.utils import ProgressBar, load_tool_config  # noqa: E402
from lpr.utils.tool_setup import add_data_root_argument  # noqa: E402
from lpr.visualization import LPRVisualizer  # noqa: E402

PHASES = ('train', 'val', 'test')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Browse a dataset')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--output-dir', help='where to write the pictures (default: '
        'work_dirs/<config name>/browse_<phase> unless --show)')
    parser.add_argument(
        '--phase', choices=PHASES, default='train',
        help='which dataloader\'s dataset to draw')
    parser.add_argument(
        '--max', type=int, default=20,
        help='the most samples to draw, evenly spaced over the dataset '
        '(0: all)')
    parser.add_argument(
        '--show', action='store_true', help='display each picture')
    parser.add_argument(
        '--show-interval', type=float, default=2,
        help='how long each picture is displayed (s)')
    add_data_root_argument(parser)
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value pairs in xxx=yyy format')
    args = parser.parse_args(argv)
    args.launcher, args.work_dir = 'none', None
    if args.max < 0:
        parser.error('--max must be >= 0')
    return args


def dataset_cfg(cfg: Config, phase: str) -> ConfigDict:
    """The dataset config of ``<phase>_dataloader``, dataset wrappers
    removed, without its pipeline (the raw annotations are drawn)."""
    loader = cfg.get(f'{phase}_dataloader')
    if not loader or 'dataset' not in loader:
        raise ValueError(f'the config has no {phase}_dataloader.dataset')
    ds = loader.dataset
    while 'dataset' in ds:
        ds = ds.dataset
    ds = ds.copy()
    ds.pipeline = []
    return ds


def gallery_store(cfg: Config, phase: str):
    """The image store of the retrieval gallery of ``phase`` (``None``
    when the config has no gallery)."""
    loop = cfg.get('test_cfg' if phase == 'test' else 'val_cfg') or {}
    gallery = loop.get('gallery_dataloader')
    if not gallery:
        return None
    ds = gallery.dataset.copy()
    ds.pipeline = []
    ds.lazy_init = True  # the store is all that is needed
    return getattr(DATASETS.build(ds), 'image_store', None)


def decode(store, item_id: str) -> Optional[np.ndarray]:
    data = store.get(item_id) if store is not None else None
    if data is None:
        return None
    return mmcv.imfrombytes(data, channel_order='rgb')


def clip_frames(info: dict) -> Tuple[List[np.ndarray], List]:
    """The readable frames (RGB) of a retrieval sample and their boxes."""
    store = info.get('frame_store')
    boxes = info.get('frame_boxes')
    frames, kept = [], []
    for i, fid in enumerate(info.get('frame_ids') or []):
        img = decode(store, fid)
        if img is None:
            continue
        frames.append(img)
        kept.append(np.asarray(boxes[i], np.float32).reshape(-1, 4)
                    if boxes is not None else None)
    return frames, kept


def instance_boxes(info: dict) -> np.ndarray:
    """(K, 4) pixel boxes of an mmdet data info's ``instances``."""
    boxes = [i['bbox'] for i in info.get('instances', []) if 'bbox' in i]
    return np.asarray(boxes, np.float32).reshape(-1, 4)


def draw_sample(vis: LPRVisualizer, info: dict, store,
                out_file: Optional[str]) -> np.ndarray:
    """Draw one data info (to ``out_file`` when given).

    Args:
        vis: the visualizer.
        info: the dataset's data info of the sample.
        store: the gallery's image store (test queries' GT images).
        out_file: where to write the picture.

    Returns:
        np.ndarray: the (H, W, 3) RGB picture.
    """
    if 'frame_ids' in info:  # retrieval: a pair or a query
        frames, boxes = clip_frames(info)
        name = str(info.get('clip_id', info.get('sample_idx')))
        if 'image_store' in info and info.get('image_id'):
            ids = [info['image_id']]
            images = [decode(info['image_store'], ids[0])]
        else:
            ids = list(info.get('gt_image_ids', []))
            images = [decode(store, i) for i in ids]
        kept = [(i, img) for i, img in zip(ids, images) if img is not None]
        return vis.draw_pair(
            frames, [img for _, img in kept], frame_boxes=boxes,
            image_ids=[i for i, _ in kept], title=info.get('title', ''),
            asr=info.get('asr', ''), header=name, out_file=out_file)
    if 'images' in info:  # a detection clip (CocoVID video)
        frames = [mmcv.imread(f['img_path'], channel_order='rgb')
                  for f in info['images']]
        name = osp.basename(osp.dirname(info['images'][0]['img_path'])) \
            if info['images'] else str(info.get('video_id'))
        return vis.draw_clip(
            frames, gt_boxes=[instance_boxes(f) for f in info['images']],
            frame_names=[str(i) for i in range(len(frames))], title=name,
            out_file=out_file)
    if 'img_path' in info:  # a detection frame
        name = osp.splitext(osp.basename(info['img_path']))[0]
        return vis.draw_clip(
            [mmcv.imread(info['img_path'], channel_order='rgb')],
            gt_boxes=[instance_boxes(info)], title=name, out_file=out_file)
    raise ValueError(f'cannot draw a sample with keys {sorted(info)}: '
                     'expected frame_ids (retrieval), images (detection '
                     'clips) or img_path (frames)')


def main(argv: Optional[List[str]] = None) -> List[str]:
    """Run the tool; returns the written files."""
    args = parse_args(argv)
    cfg = load_tool_config(args)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    dataset = DATASETS.build(dataset_cfg(cfg, args.phase))
    store = gallery_store(cfg, args.phase) if args.phase != 'train' else None

    vis_cfg = dict(cfg.get('visualizer') or dict(type='LPRVisualizer'))
    vis_cfg.update(name='browse_dataset', vis_backends=None)
    vis = VISUALIZERS.build(vis_cfg)
    if not isinstance(vis, LPRVisualizer):
        vis = LPRVisualizer.get_instance('browse_dataset_lpr')

    out_dir = args.output_dir
    if out_dir is None and not args.show:
        name = osp.splitext(osp.basename(args.config))[0]
        out_dir = osp.join('work_dirs', name, f'browse_{args.phase}')
    if out_dir:
        mkdir_or_exist(out_dir)
    n = len(dataset)
    count = n if args.max == 0 else min(args.max, n)
    indices = np.unique(np.linspace(0, n - 1, count).astype(int)) \
        if count else []
    written = []
    bar = ProgressBar(len(indices), desc=f'drawing {args.phase} samples',
                      unit='pictures')
    for idx in indices:
        info = dataset.get_data_info(int(idx))
        out_file = osp.join(out_dir, f'{args.phase}_{idx:06d}.jpg') \
            if out_dir else None
        drawn = draw_sample(vis, info, store, out_file)
        if args.show:
            vis.show(drawn, win_name=f'{args.phase} {idx}',
                     wait_time=args.show_interval)
        if out_file:
            written.append(out_file)
        bar.update()
    if out_dir:
        print(f'\n{len(written)} pictures of the {args.phase} set in '
              f'{out_dir}')
    return written


if __name__ == '__main__':
    main()
