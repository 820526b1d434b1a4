# MovingFashion: videos (mp4, decoded at 1 fps, <=10 frames by the floor
# rule) matched to shop images; every query ranked against the whole test
# gallery (one group), duplicates kept as in the official protocol.
# Use frame_root='frames' in the datasets for pre-extracted PNG frames.
data_root = 'data/movingfashion'
input_size = 224

train_pipeline = [
    dict(type='LoadVideoFrames', backend='opencv', num_frames=10, fps=1.0),
    dict(type='CutTail', prob=0.5),
    dict(type='LoadShopImage'),
    dict(type='ResizeCropFlipFrames', size=input_size, resize=256,
         random_crop=True, flip_prob=0.5),
    dict(type='PackLPRInputs', empty_frame_size=(input_size, input_size)),
]
eval_resize = dict(type='ResizeCropFlipFrames', size=input_size, resize=256,
                   random_crop=False, flip_prob=0.0)
query_pipeline = [
    dict(type='LoadVideoFrames', backend='opencv', num_frames=10, fps=1.0,
         on_empty='keep'),
    eval_resize,
    dict(type='PackLPRInputs', empty_frame_size=(input_size, input_size)),
]
gallery_pipeline = [
    dict(type='LoadShopImage'),
    eval_resize,
    dict(type='PackLPRInputs'),
]
train_dataloader = dict(
    batch_size=48,
    num_workers=8,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='MovingFashionDataset',
        ann_file='train.json',
        data_root=data_root,
        pipeline=train_pipeline))
query_dataloader = dict(
    batch_size=32,
    num_workers=8,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='MovingFashionDataset',
        ann_file='test.json',
        data_root=data_root,
        test_mode=True,
        pipeline=query_pipeline))
gallery_dataloader = dict(
    batch_size=128,
    num_workers=8,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='MovingFashionGalleryDataset',
        ann_file='test.json',
        data_root=data_root,
        pipeline=gallery_pipeline))
val_dataloader = query_dataloader
test_dataloader = query_dataloader
val_evaluator = dict(type='LPRRetrievalMetric', topk=(1, 5, 10, 20))
test_evaluator = val_evaluator
val_cfg = dict(
    type='LPRRetrievalValLoop', gallery_dataloader=gallery_dataloader)
test_cfg = dict(
    type='LPRRetrievalTestLoop', gallery_dataloader=gallery_dataloader)
