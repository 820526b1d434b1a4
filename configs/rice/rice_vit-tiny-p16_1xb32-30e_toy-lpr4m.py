# RICE (ICL + PMD + PFR) with a tiny ViT trained from scratch on the toy
# LPR4M set, on CPU. The paper-era (V0) head semantics and loss weights.
_base_ = [
    '../_base_/datasets/toy-lpr4m_retrieval.py',
    '../_base_/default_runtime.py'
]

embed_dims = 128
tokens_per_image = (64 // 16)**2 + 1
model = dict(
    type='RICE',
    encoder=dict(
        type='TokenEncoder',
        in_channels=192,
        embed_dims=embed_dims,
        backbone=dict(
            type='VisionTransformer',
            arch=dict(
                embed_dims=192,
                num_layers=4,
                num_heads=4,
                feedforward_channels=384),
            img_size=64,
            patch_size=16,
            pre_norm=True,
            out_type='raw',
            layer_cfgs=dict(act_cfg=dict(type='QuickGELU')))),
    icl_head=dict(
        type='ICLHead',
        logit_scale=1 / 0.07,
        learnable_scale=True,
        mask_same_product=True),
    pmd_head=dict(
        type='PMDHead',
        embed_dims=embed_dims,
        num_heads=4,
        num_query_tokens=tokens_per_image,
        num_negatives=3,
        variant='v0',
        score_scale=1.0,
        loss_weight=1.0),
    pfr_head=dict(
        type='PFRHead',
        num_heads=4,
        tokens_per_frame=tokens_per_image,
        head_dims=embed_dims // 4,
        variant='v0',
        loss_weight=0.05),
    # Re-score the embedding ranking's top-K with PMD at test time (0: off).
    rerank=dict(top_k=0, weight=0.5),
)

max_epochs = 30
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=10)
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05,
                   betas=(0.9, 0.98), eps=1e-6),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0,
         end=3, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 3, by_epoch=True,
         begin=3, end=max_epochs, convert_to_iter_based=True),
]
# Global batch 32 on 1 process; do not change (used by --auto-scale-lr).
auto_scale_lr = dict(base_batch_size=32, enable=False)
default_hooks = dict(checkpoint=dict(interval=10))
