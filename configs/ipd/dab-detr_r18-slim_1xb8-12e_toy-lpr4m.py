# Single-frame intended-product detector (SD) on the toy LPR4M set, on CPU:
# a small DAB-DETR (slim ResNet-18, 2+2 layers of width 128, 30 queries)
# trained from scratch; one "intended product" class. AP on every query's
# box per frame; the top-scoring one is the intended product (`top1/*`,
# tools/test.py --out-boxes).
_base_ = [
    '../_base_/models/dab-detr_r18-slim.py',
    '../_base_/datasets/toy-lpr4m_ipd.py',
    '../_base_/ipd_runtime.py'
]
custom_imports = dict(imports=['lpr'], allow_failed_imports=False)

max_epochs = 12
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=12)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=4e-4, weight_decay=1e-4),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[9], gamma=0.1)
]
auto_scale_lr = dict(base_batch_size=8, enable=False)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=12, max_keep_ckpts=1),
    logger=dict(type='LoggerHook', interval=50))
env_cfg = dict(dist_cfg=dict(backend='nccl'))
