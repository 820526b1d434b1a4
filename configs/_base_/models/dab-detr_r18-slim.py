# A small DAB-DETR for CPU runs on the toy set: slim ResNet-18, 2+2
# transformer layers of width 128, 30 queries, one class. Every query's box
# is a prediction (AP); the top-scoring one per frame is the intended
# product (the retriever's box input).
embed_dims = 128
model = dict(
    type='DABDETR',
    num_queries=30,
    with_random_refpoints=False,
    num_patterns=0,
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=1),
    backbone=dict(
        type='ResNet',
        depth=18,
        base_channels=32,
        num_stages=4,
        out_indices=(3, ),
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        style='pytorch'),
    neck=dict(
        type='ChannelMapper',
        in_channels=[256],
        kernel_size=1,
        out_channels=embed_dims,
        act_cfg=None,
        norm_cfg=None,
        num_outs=1),
    encoder=dict(
        num_layers=2,
        layer_cfg=dict(
            self_attn_cfg=dict(
                embed_dims=embed_dims, num_heads=4, dropout=0.,
                batch_first=True),
            ffn_cfg=dict(
                embed_dims=embed_dims,
                feedforward_channels=256,
                num_fcs=2,
                ffn_drop=0.,
                act_cfg=dict(type='PReLU')))),
    decoder=dict(
        num_layers=2,
        query_dim=4,
        query_scale_type='cond_elewise',
        with_modulated_hw_attn=True,
        layer_cfg=dict(
            self_attn_cfg=dict(
                embed_dims=embed_dims, num_heads=4, attn_drop=0.,
                proj_drop=0., cross_attn=False),
            cross_attn_cfg=dict(
                embed_dims=embed_dims, num_heads=4, attn_drop=0.,
                proj_drop=0., cross_attn=True),
            ffn_cfg=dict(
                embed_dims=embed_dims,
                feedforward_channels=256,
                num_fcs=2,
                ffn_drop=0.,
                act_cfg=dict(type='PReLU'))),
        return_intermediate=True),
    positional_encoding=dict(
        num_feats=embed_dims // 2, temperature=20, normalize=True),
    bbox_head=dict(
        type='DABDETRHead',
        num_classes=1,
        embed_dims=embed_dims,
        # Plain-PyTorch focal loss: identical on CPU and on any CUDA build.
        loss_cls=dict(
            type='TorchFocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
            loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=5.0),
        loss_iou=dict(type='GIoULoss', loss_weight=2.0)),
    train_cfg=dict(
        assigner=dict(
            type='HungarianAssigner',
            match_costs=[
                dict(type='FocalLossCost', weight=2., eps=1e-8),
                dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
                dict(type='IoUCost', iou_mode='giou', weight=2.0)
            ])),
    # All 30 queries x 1 class, for AP (COCO counts up to 100 per frame).
    test_cfg=dict(max_per_img=30))

