# The toy LPR4M set (tools/dataset_converters/make_toy_lpr4m.py), small
# frames for CPU training: 128x128 inputs (the toy frames are 128 px wide;
# fewer pixels lose the patterns and logos that tell look-alike products
# apart), 3 frames per clip in training (a random frame of each third of
# the clip, re-drawn every epoch, + cut-tail), 8 at test. Queries are ranked
# within their live's gallery.
data_root = 'data/toy_lpr4m'
input_size = 128
num_frames = 3
num_test_frames = 8

train_pipeline = [
    dict(type='SampleClipFrames', num_frames=num_frames, rule='random_chunk'),
    dict(type='CutTail', prob=0.5),
    dict(type='LoadClipFrames'),
    dict(type='LoadShopImage'),
    dict(
        type='ResizeCropFlipFrames',
        size=input_size,
        resize=input_size * 8 // 7,
        random_crop=True,
        flip_prob=0.5),
    dict(type='PackLPRInputs', empty_frame_size=(input_size, input_size)),
]
# Test time: resize, centre crop, no flip (deterministic).
eval_resize = dict(
    type='ResizeCropFlipFrames',
    size=input_size,
    resize=input_size * 8 // 7,
    random_crop=False,
    flip_prob=0.0)
query_pipeline = [
    dict(type='SampleClipFrames', num_frames=num_test_frames, rule='floor'),
    dict(type='LoadClipFrames', on_empty='keep'),
    eval_resize,
    dict(type='PackLPRInputs', empty_frame_size=(input_size, input_size)),
]
gallery_pipeline = [
    dict(type='LoadShopImage'),
    eval_resize,
    dict(type='PackLPRInputs'),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    drop_last=True,
    # 4 livestreams x 8 clips per batch: in-batch negatives from the same shop.
    sampler=dict(
        type='LiveGroupedSampler', batch_size=32, clips_per_live=8,
        shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='LPR4MPairDataset',
        data_root=data_root,
        pipeline=train_pipeline))
query_dataloader = dict(
    batch_size=32,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='LPR4MQueryDataset',
        data_root=data_root,
        pipeline=query_pipeline))
gallery_dataloader = dict(
    batch_size=64,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='LPR4MGalleryDataset',
        data_root=data_root,
        pipeline=gallery_pipeline))

val_dataloader = query_dataloader
test_dataloader = query_dataloader
val_evaluator = dict(type='LPRRetrievalMetric', topk=(1, 3, 5, 10))
test_evaluator = val_evaluator
val_cfg = dict(
    type='LPRRetrievalValLoop', gallery_dataloader=gallery_dataloader)
test_cfg = dict(
    type='LPRRetrievalTestLoop', gallery_dataloader=gallery_dataloader)
