# The supplementary's MD recipe over the one-class SD: as
# transvod-lite_dab-detr_r50_8xb1-7e_lpr4m-1cls.py (TransVOD's 7-epoch
# recipe), but 20 epochs with a x0.1 lr drop at 15, 2 clips x 10 frames per
# GPU (8 GPUs: 16 clips per step, lr kept at 2e-4) and multi-scale training
# (shortest side 480-800, longest <= 1333, one scale per clip); tested at
# (1333, 800) in groups of 10 frames.
#   python tools/dataset_converters/lpr4m_to_coco.py data/lpr4m --classes 1
#   bash tools/dist_train.sh configs/ipd/transvod-lite_dab-detr_r50_8xb2-20e_lpr4m-1cls.py 8
# Fewer clips per step: add --auto-scale-lr to scale the lr linearly.
_base_ = ['./transvod-lite_dab-detr_r50_8xb1-7e_lpr4m-1cls.py']

train_pipeline = [
    dict(
        type='ClipFrameSample',
        num_frames={{_base_.num_frames}},
        rule='linspace'),
    dict(
        type='TransformBroadcaster',
        share_random_params=True,
        transforms=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadTrackAnnotations'),
            dict(type='RandomFlip', prob=0.5),
            dict(
                type='RandomChoiceResize',
                scales=[(1333, s) for s in range(480, 801, 32)],
                keep_ratio=True),
        ]),
    dict(type='PackTrackInputs'),
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))

max_epochs = 20
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[15], gamma=0.1)
]
# 16 clips per step (8 GPUs x 2).
auto_scale_lr = dict(base_batch_size=16, enable=False)
