"""Test (evaluate) a trained model of the LPR plugin (mmdet's tools/test.py
conventions)."""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))),
                            'projects'))

import lpr  # noqa: E402,F401
from lpr.utils.tool_setup import (add_data_root_argument,  # noqa
                                  load_tool_config, set_local_rank)
from mmengine.config import DictAction  # noqa: E402
from mmengine.evaluator import DumpResults  # noqa: E402
from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir', help='the directory to save the evaluation metrics')
    parser.add_argument(
        '--out', type=str,
        help='dump predictions to a pickle file for offline evaluation')
    parser.add_argument(
        '--out-boxes', type=str,
        help='detectors: also write each frame\'s boxes as a JSON '
        '{frame_id: [[x1, y1, x2, y2], ...]} for the retriever\'s box input')
    parser.add_argument(
        '--boxes-per-frame', type=int, default=1,
        help='--out-boxes: best boxes kept per frame (1: the intended '
        'product, the retriever\'s input; 0: every box above '
        '--box-score-thr, for the number-of-products split)')
    parser.add_argument(
        '--box-score-thr', type=float, default=0.0,
        help='--out-boxes: keep boxes scoring at least this')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir', help='directory where painted predictions are saved '
        '(one picture per query, frame or clip); relative to '
        '<work_dir>/<timestamp>')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    add_data_root_argument(parser)
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value pairs in xxx=yyy format')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    set_local_rank(args)
    return args


def trigger_visualization_hook(cfg, args):
    hooks = cfg.get('default_hooks', {})
    if 'visualization' not in hooks:
        raise RuntimeError('--show/--show-dir need a "visualization" hook in '
                           'default_hooks of the config')
    hook = hooks['visualization']
    hook['draw'] = True
    if args.show:
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    if args.show_dir:
        hook['test_out_dir'] = args.show_dir
    return cfg


def main():
    args = parse_args()
    cfg = load_tool_config(args)
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)

    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    if args.out is not None:
        assert args.out.endswith(('.pkl', '.pickle')), \
            'The dump file must be a pkl file.'
        runner.test_evaluator.metrics.append(
            DumpResults(out_file_path=args.out))
    if args.out_boxes is not None:
        from lpr.evaluation import IPDBoxDumper
        dataset = cfg.test_dataloader.dataset
        runner.test_evaluator.metrics.append(
            IPDBoxDumper(
                ann_file=osp.join(dataset.get('data_root', ''),
                                  dataset.ann_file),
                out_file=args.out_boxes,
                score_thr=args.box_score_thr,
                max_per_frame=args.boxes_per_frame or None))
    runner.test()


if __name__ == '__main__':
    main()
