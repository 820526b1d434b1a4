# Ablation: + boxes. Frames attend only to the patches of the intended-
# product box (training: the videoinfo boxes; test: the GT boxes of
# test_frameid2gtbox, or a detector's boxes with
# --cfg-options test_dataloader.dataset.box_file=boxes.json).
_base_ = ['./rice_vit-b-p32_8xb32-1e_lpr4m.py']
model = dict(use_boxes=True)
_box_mask = dict(type='BoxToPatchMask', input_size=224, patch_size=32)
train_pipeline = [
    dict(type='SampleClipFrames', num_frames=10, rule='chunk'),
    dict(type='CutTail', prob=0.5),
    dict(type='LoadClipFrames'),
    dict(type='LoadShopImage'),
    dict(type='ResizeCropFlipFrames', size=224, resize=224,
         random_crop=False, flip_prob=0.0,
         interpolation='bicubic'),
    _box_mask,
    dict(type='PackLPRInputs', empty_frame_size=(224, 224)),
]
query_pipeline = [
    dict(type='SampleClipFrames', num_frames=10, rule='floor'),
    dict(type='LoadClipFrames', on_empty='keep'),
    dict(type='ResizeCropFlipFrames', size=224, resize=224,
         random_crop=False, flip_prob=0.0,
         interpolation='bicubic'),
    _box_mask,
    dict(type='PackLPRInputs', empty_frame_size=(224, 224)),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=query_pipeline))
test_dataloader = val_dataloader
