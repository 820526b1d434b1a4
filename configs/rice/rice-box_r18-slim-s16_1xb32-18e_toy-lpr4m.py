# Toy ablation: + boxes, on the 8x8 token grid. Each frame's encoder pools
# its global token (GeM) only over the feature-map cells inside the
# intended-product box (a cell is kept when IoU(box, cell) >= 0.02, as in
# the paper-era code), and PMD/PFR ignore the frame tokens outside it. GT
# boxes in training; at test the GT boxes of test_frameid2gtbox, or a
# detector's with --cfg-options test_dataloader.dataset.box_file=boxes.json.
_base_ = ['./rice_r18-slim-s16_1xb32-18e_toy-lpr4m.py']
model = dict(use_boxes=True)
box_mask = dict(type='BoxToPatchMask', input_size=128, patch_size=16)
train_pipeline = [
    dict(type='SampleClipFrames', num_frames=3, rule='random_chunk'),
    dict(type='CutTail', prob=0.5),
    dict(type='LoadClipFrames'),
    dict(type='LoadShopImage'),
    # No flip: the patch mask follows the unflipped box.
    dict(type='ResizeCropFlipFrames', size=128, resize=146, random_crop=True,
         flip_prob=0.0),
    box_mask,
    dict(type='PackLPRInputs', empty_frame_size=(128, 128)),
]
query_pipeline = [
    dict(type='SampleClipFrames', num_frames=8, rule='floor'),
    dict(type='LoadClipFrames', on_empty='keep'),
    dict(type='ResizeCropFlipFrames', size=128, resize=146, random_crop=False,
         flip_prob=0.0),
    box_mask,
    dict(type='PackLPRInputs', empty_frame_size=(128, 128)),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=query_pipeline))
test_dataloader = val_dataloader
