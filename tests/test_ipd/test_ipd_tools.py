"""SD and MD train and test through the standard tools on the toy set; the
test run writes the AP split table and the retriever's box file."""
import json
import os.path as osp
import shutil
import subprocess
import sys

from conftest import ROOT, run_env

from lpr.datasets import convert_test, convert_training, load_frame_boxes

SD = osp.join(ROOT, 'configs/ipd/dab-detr_r18-slim_1xb8-12e_toy-lpr4m.py')
MD = osp.join(ROOT, 'configs/ipd/transvod-lite_r18-slim_1xb2-3e_toy-lpr4m.py')


def _tool(name, *args):
    proc = subprocess.run([sys.executable, f'{ROOT}/tools/{name}', *args],
                          env=run_env(), capture_output=True, text=True,
                          timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


def test_sd_then_md_train_test_and_export_boxes(toy_root, tmp_path):
    root = str(tmp_path / 'toy')
    shutil.copytree(toy_root, root)
    ann = osp.join(root, 'annotations')
    convert_training(root, osp.join(ann, 'lpr_det_train_1cls.json'), 1,
                     frames_per_clip=2)
    convert_test(root, osp.join(ann, 'lpr_det_test_1cls.json'), 1)
    test_ann = osp.join(ann, 'lpr_det_test_1cls.json')
    common = [
        f'train_dataloader.dataset.data_root={root}',
        f'val_dataloader.dataset.data_root={root}',
        f'test_dataloader.dataset.data_root={root}',
        f'val_evaluator.ann_file={test_ann}',
        f'test_evaluator.ann_file={test_ann}',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers='
        'False', 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
        'default_hooks.checkpoint.interval=1'
    ]
    sd_dir = str(tmp_path / 'sd')
    out = _tool('train.py', SD, '--work-dir', sd_dir, '--cfg-options',
                *common)
    assert 'd0.loss_cls' in out and 'ipd/AP50' in out
    boxes_file = str(tmp_path / 'sd_boxes.json')
    out = _tool('test.py', SD, osp.join(sd_dir, 'epoch_1.pth'), '--work-dir',
                sd_dir, '--out-boxes', boxes_file, '--cfg-options', *common)
    assert '| AP | AP50 | AP75 | scale:small' in out
    # AP on every box per frame, and on the best box only.
    assert 'ipd/AP: ' in out and 'ipd/top1/AP: ' in out
    assert 'best box per frame only: AP' in out
    with open(test_ann) as f:
        n_frames = len(json.load(f)['images'])
    boxes = load_frame_boxes(boxes_file)
    # One box per frame (the retriever's input), normalised.
    assert len(boxes) == n_frames
    assert all(len(b) == 1 and 0 <= min(b[0]) <= max(b[0]) <= 1
               for b in boxes.values())

    md_dir = str(tmp_path / 'md')
    out = _tool('train.py', MD, '--work-dir', md_dir, '--cfg-options',
                *common, f'load_from={osp.join(sd_dir, "epoch_1.pth")}')
    assert 's0.loss_cls' in out and 's1.loss_iou' in out
    assert 'ipd/AP50' in out
    # Every box of each frame (max_per_img=10), the source of the
    # number-of-products split.
    md_boxes = str(tmp_path / 'md_boxes.json')
    out = _tool('test.py', MD, osp.join(md_dir, 'epoch_1.pth'), '--work-dir',
                md_dir, '--out-boxes', md_boxes, '--boxes-per-frame', '0',
                '--cfg-options', *common)
    boxes = load_frame_boxes(md_boxes)
    assert len(boxes) == n_frames
    assert all(1 < len(b) <= 10 for b in boxes.values())
    stats = convert_test(root, osp.join(ann, 'numbers.json'), 1,
                         product_number_boxes=md_boxes)
    with open(osp.join(ann, 'numbers.json')) as f:
        videos = json.load(f)['videos']
    assert stats['clips'] == len(videos)
    assert {v['product_number'] for v in videos} <= {'medium', 'abundant'}
