# Toy ablation: + boxes. Each frame's global token pools only the 3x3
# feature-map cells inside the intended-product box (GT boxes in training;
# at test the GT boxes of test_frameid2gtbox, or a detector's with
# --cfg-options test_dataloader.dataset.box_file=boxes.json).
_base_ = ['./rice_r18-slim_1xb32-20e_toy-lpr4m.py']
model = dict(use_boxes=True)
box_mask = dict(type='BoxToPatchMask', input_size=96, patch_size=32)
train_pipeline = [
    dict(type='SampleClipFrames', num_frames=4, rule='chunk'),
    dict(type='CutTail', prob=0.5),
    dict(type='LoadClipFrames'),
    dict(type='LoadShopImage'),
    # No flip: the patch mask follows the unflipped box.
    dict(type='ResizeCropFlipFrames', size=96, resize=109, random_crop=True,
         flip_prob=0.0),
    box_mask,
    dict(type='PackLPRInputs', empty_frame_size=(96, 96)),
]
query_pipeline = [
    dict(type='SampleClipFrames', num_frames=8, rule='floor'),
    dict(type='LoadClipFrames', on_empty='keep'),
    dict(type='ResizeCropFlipFrames', size=96, resize=109, random_crop=False,
         flip_prob=0.0),
    box_mask,
    dict(type='PackLPRInputs', empty_frame_size=(96, 96)),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=query_pipeline))
test_dataloader = val_dataloader
