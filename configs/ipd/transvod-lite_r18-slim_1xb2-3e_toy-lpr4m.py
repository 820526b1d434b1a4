# Multi-frame intended-product detector (MD, TransVOD Lite) on the toy
# LPR4M set: the toy SD (frozen, loaded from its checkpoint) + SeqHQM
# stages keeping 20 -> 15 -> 10 of its 30 queries per frame, trained on
# clips of 10 evenly spaced frames.
#   python tools/train.py configs/ipd/transvod-lite_r18-slim_1xb2-3e_toy-lpr4m.py \
#       --cfg-options load_from=work_dirs/dab-detr_r18-slim_1xb8-12e_toy-lpr4m/epoch_12.pth
_base_ = [
    '../_base_/models/dab-detr_r18-slim.py',
    '../_base_/datasets/toy-lpr4m_ipd-clips.py',
    '../_base_/ipd_runtime.py'
]
custom_imports = dict(imports=['lpr'], allow_failed_imports=False)

model = dict(
    type='TransVODLite',
    stage_topk=(20, 15, 10),
    # Each stage: temporal query encoder over the clip, then a one-layer
    # deformable frame decoder into the frame's (single-level) memory.
    # Every stage is anchored on the SD's final boxes of the queries it keeps
    # (TransVOD Lite); type='CascadeSeqHQMStage' anchors each stage on the
    # previous stage's refined boxes instead.
    stage_cfg=dict(
        type='SeqHQMStage',
        temporal_encoder=dict(
            self_attn_cfg=dict(
                embed_dims=128,
                num_heads=4,
                attn_drop=0.1,
                proj_drop=0.1,
                batch_first=True),
            cross_attn_cfg=dict(
                embed_dims=128,
                num_heads=4,
                attn_drop=0.1,
                proj_drop=0.1,
                batch_first=True),
            ffn_cfg=dict(
                embed_dims=128, feedforward_channels=256, ffn_drop=0.1)),
        frame_decoder=dict(
            num_layers=1,
            layer_cfg=dict(
                self_attn_cfg=dict(
                    embed_dims=128,
                    num_heads=4,
                    attn_drop=0.1,
                    proj_drop=0.1,
                    batch_first=True),
                cross_attn_cfg=dict(
                    embed_dims=128,
                    num_heads=4,
                    num_levels=1,
                    num_points=4,
                    dropout=0.1,
                    batch_first=True),
                ffn_cfg=dict(
                    embed_dims=128, feedforward_channels=256,
                    ffn_drop=0.1)))),
    freeze_detector=True,
    data_preprocessor=dict(type='TrackDataPreprocessor'),
    # Every box of the last stage (10 queries x 1 class), for AP; test
    # clips in groups of the training clip length.
    test_cfg=dict(max_per_img=10, frames_per_group={{_base_.num_frames}}))
load_from = 'work_dirs/dab-detr_r18-slim_1xb8-12e_toy-lpr4m/epoch_12.pth'

max_epochs = 3
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=3)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, weight_decay=1e-4),
    clip_grad=dict(max_norm=0.1, norm_type=2))
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[2], gamma=0.1)
]
auto_scale_lr = dict(base_batch_size=2, enable=False)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=3, max_keep_ckpts=1),
    logger=dict(type='LoggerHook', interval=50))
