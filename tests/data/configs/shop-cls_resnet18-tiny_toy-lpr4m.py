# A tiny test config: classify toy LPR4M shop images into their 34
# categories with a slim ResNet-18. Used by the tests for train / resume /
# dist_train; set ``data_root`` with --cfg-options.
custom_imports = dict(imports=['lpr'], allow_failed_imports=False)
default_scope = 'mmpretrain'

data_root = 'data/toy_lpr4m_tests'
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=18,
        stem_channels=16,
        base_channels=16,
        out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=34,
        in_channels=128,
        loss=dict(type='CrossEntropyLoss')))
data_preprocessor = dict(
    num_classes=34,
    mean=[122.770938, 116.7460125, 104.09373615],
    std=[68.5005327, 66.6321579, 70.32316305],
    to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(48, 48)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='LPR4MShopImageDataset',
        data_root=data_root,
        ann_file='annotations/training_videoinfo_full_part_*.txt',
        data_prefix=dict(img_path='training_images'),
        pipeline=train_pipeline))
train_cfg = dict(by_epoch=True, max_epochs=2)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.02, momentum=0.9))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=2, by_epoch=True)]
auto_scale_lr = dict(base_batch_size=4)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=1),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)
