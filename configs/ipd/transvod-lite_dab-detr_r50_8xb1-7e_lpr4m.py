# Multi-frame intended-product detector (MD) on LPR4M: TransVOD Lite over
# the 34-category SD. The SD (DAB-DETR R-50, loaded from its LPR4M
# checkpoint) is frozen; SeqHQM stages keep 80 -> 50 -> 30 of its 300
# queries per frame and are trained on clips of 10 evenly spaced frames
# (1 clip per GPU, 8 GPUs), lr 2e-4, 7 epochs with drops at 5 and 6. At test
# the video dataset gives every frame of a clip, and the model runs them in
# consecutive groups of the training clip length (`frames_per_group`; the
# last group padded with copies of the clip's last frames, as TransVOD Lite
# tests), so memory grows with the group, not the clip.
# Evaluation on the release (as the SD's): the one-class test file,
# categories merged (class-agnostic AP on the top 100 boxes per frame;
# `top1/*` on each frame's best box).
#   bash tools/dist_train.sh configs/ipd/transvod-lite_dab-detr_r50_8xb1-7e_lpr4m.py 8
_base_ = ['./dab-detr_r50_8xb8-20e_lpr4m.py']
num_frames = 10  # per training clip, and per test group

model = dict(
    type='TransVODLite',
    stage_topk=(80, 50, 30),
    # Each stage (TransVOD Lite): temporal query encoder over the clip, then
    # a one-layer deformable frame decoder into the frame's memory, one
    # feature level (DAB-DETR's single-scale memory; the original's released
    # recipe also uses one level), 4 sampling points per head.
    # Every stage is anchored on the SD's final boxes of the queries it keeps
    # (TransVOD Lite); type='CascadeSeqHQMStage' anchors each stage on the
    # previous stage's refined boxes instead.
    stage_cfg=dict(
        type='SeqHQMStage',
        temporal_encoder=dict(
            self_attn_cfg=dict(
                embed_dims=256,
                num_heads=8,
                attn_drop=0.1,
                proj_drop=0.1,
                batch_first=True),
            cross_attn_cfg=dict(
                embed_dims=256,
                num_heads=8,
                attn_drop=0.1,
                proj_drop=0.1,
                batch_first=True),
            ffn_cfg=dict(
                embed_dims=256, feedforward_channels=1024, ffn_drop=0.1)),
        frame_decoder=dict(
            num_layers=1,
            layer_cfg=dict(
                self_attn_cfg=dict(
                    embed_dims=256,
                    num_heads=8,
                    attn_drop=0.1,
                    proj_drop=0.1,
                    batch_first=True),
                cross_attn_cfg=dict(
                    embed_dims=256,
                    num_heads=8,
                    num_levels=1,
                    num_points=4,
                    dropout=0.1,
                    batch_first=True),
                ffn_cfg=dict(
                    embed_dims=256, feedforward_channels=1024,
                    ffn_drop=0.1)))),
    freeze_detector=True,
    data_preprocessor=dict(type='TrackDataPreprocessor'),
    test_cfg=dict(frames_per_group=num_frames))
load_from = 'work_dirs/dab-detr_r50_8xb8-20e_lpr4m/epoch_20.pth'


train_pipeline = [
    dict(type='ClipFrameSample', num_frames=num_frames, rule='linspace'),
    dict(
        type='TransformBroadcaster',
        share_random_params=True,
        transforms=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadTrackAnnotations'),
            dict(type='RandomFlip', prob=0.5),
            dict(type='Resize', scale=(1333, 800), keep_ratio=True),
        ]),
    dict(type='PackTrackInputs'),
]
test_pipeline = [
    dict(
        type='TransformBroadcaster',
        transforms=[
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=(1333, 800), keep_ratio=True),
            dict(type='LoadTrackAnnotations'),
        ]),
    dict(type='PackTrackInputs'),
]


train_dataloader = dict(
    _delete_=True,
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='LPR4MVideoDetDataset',
        data_root={{_base_.data_root}},
        ann_file={{_base_.train_ann}},
        data_prefix=dict(img_path=''),
        pipeline=train_pipeline))
val_dataloader = dict(
    _delete_=True,
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='LPR4MVideoDetDataset',
        data_root={{_base_.data_root}},
        ann_file={{_base_.test_ann}},
        data_prefix=dict(img_path=''),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

max_epochs = 7
train_cfg = dict(max_epochs=max_epochs, val_interval=7)
optim_wrapper = dict(optimizer=dict(lr=2e-4))
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[5, 6], gamma=0.1)
]
auto_scale_lr = dict(base_batch_size=8, enable=False)
