# LPR4M retrieval: training pairs from the videoinfo part files, test
# queries ranked within their livestream's gallery. Frames and images are
# img2dataset shards (run img2dataset with --output_folder
# <data_root>/training_frames, training_images, test_frames, test_images).
# The paper-era (V0) spatial pipeline: resize straight to 224 (aspect not
# kept), no random augmentation; <=10 frames per clip; cut-tail in
# training only. Query frames: floor(i * n / 10), i = 0..9, of the sorted
# frames when n > 10 (the official evaluator's rule for the test folders and
# the presumable origin of query_tenframes.json).
# Boxes: box_format='auto' tells pixel boxes (the release) from normalised
# ones per file; pixel boxes are divided by the frame's original size
# (original_width/height in the shards' JSON). More than max_drop_ratio of a
# file's rows or boxes dropped is an error (strict=False accepts any loss).
data_root = 'data/lpr4m'
box_format = 'auto'
max_drop_ratio = 0.01
input_size = 224
num_frames = 10


train_pipeline = [
    dict(type='SampleClipFrames', num_frames=num_frames, rule='chunk'),
    dict(type='CutTail', prob=0.5),
    dict(type='LoadClipFrames'),
    dict(type='LoadShopImage'),
    dict(type='ResizeCropFlipFrames', size=input_size, resize=input_size,
         random_crop=False, flip_prob=0.0,
         interpolation='bicubic'),
    dict(type='PackLPRInputs', empty_frame_size=(input_size, input_size)),
]
eval_resize = dict(type='ResizeCropFlipFrames', size=input_size,
                   resize=input_size, random_crop=False, flip_prob=0.0,
         interpolation='bicubic')
query_pipeline = [
    dict(type='SampleClipFrames', num_frames=num_frames, rule='floor'),
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
    num_workers=8,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='LPR4MPairDataset',
        data_root=data_root,
        frame_store=dict(type='shards', root='training_frames'),
        image_store=dict(type='shards', root='training_images'),
        box_format=box_format,
        max_drop_ratio=max_drop_ratio,
        pipeline=train_pipeline))
query_dataloader = dict(
    batch_size=32,
    num_workers=8,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='LPR4MQueryDataset',
        data_root=data_root,
        frame_store=dict(type='shards', root='test_frames'),
        box_format=box_format,
        max_drop_ratio=max_drop_ratio,
        pipeline=query_pipeline))
gallery_dataloader = dict(
    batch_size=128,
    num_workers=8,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='LPR4MGalleryDataset',
        data_root=data_root,
        image_store=dict(type='shards', root='test_images'),
        pipeline=gallery_pipeline))

val_dataloader = query_dataloader
test_dataloader = query_dataloader
val_evaluator = dict(type='LPRRetrievalMetric', topk=(1, 3, 5, 10))
test_evaluator = val_evaluator
val_cfg = dict(
    type='LPRRetrievalValLoop', gallery_dataloader=gallery_dataloader)
test_cfg = dict(
    type='LPRRetrievalTestLoop', gallery_dataloader=gallery_dataloader)
