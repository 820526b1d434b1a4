# The toy LPR4M detection set as clips (CocoVID videos) for the multi-frame
# detector: T evenly spaced frames per clip in training, every frame of a
# clip at test.
data_root = 'data/toy_lpr4m'
num_classes = 1
num_frames = 10
train_ann = f'annotations/lpr_det_train_{num_classes}cls.json'
test_ann = f'annotations/lpr_det_test_{num_classes}cls.json'
scale = (228, 128)

train_pipeline = [
    dict(type='ClipFrameSample', num_frames=num_frames, rule='linspace'),
    dict(
        type='TransformBroadcaster',
        share_random_params=True,
        transforms=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadTrackAnnotations'),
            dict(type='RandomFlip', prob=0.5),
            dict(type='Resize', scale=scale, keep_ratio=True),
        ]),
    dict(type='PackTrackInputs'),
]
# In test mode the video dataset itself gives every frame of a clip.
test_pipeline = [
    dict(
        type='TransformBroadcaster',
        transforms=[
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=scale, keep_ratio=True),
            dict(type='LoadTrackAnnotations'),
        ]),
    dict(type='PackTrackInputs'),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='LPR4MVideoDetDataset',
        data_root=data_root,
        ann_file=train_ann,
        data_prefix=dict(img_path=''),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='LPR4MVideoDetDataset',
        data_root=data_root,
        ann_file=test_ann,
        data_prefix=dict(img_path=''),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='IntendedProductMetric', ann_file=f'{data_root}/{test_ann}')
test_evaluator = val_evaluator
