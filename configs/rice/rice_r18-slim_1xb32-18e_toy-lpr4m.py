# RICE (ICL + PMD + PFR) on the toy LPR4M set, on CPU, with a slim ResNet-18
# trained from scratch at 128 px (a CNN backbone: its 4x4 feature map gives
# the patch tokens, their GeM pooling the global token). Paper-era (V0) head
# semantics and loss weights, plus PMD's clip -> image listwise term. About
# 10 minutes on 2 CPU cores; the README's main command.
_base_ = [
    '../_base_/datasets/toy-lpr4m_retrieval.py',
    '../_base_/default_runtime.py'
]

embed_dims = 128
tokens_per_image = (128 // 32)**2 + 1
model = dict(
    type='RICE',
    encoder=dict(
        type='TokenEncoder',
        in_channels=256,
        embed_dims=embed_dims,
        backbone=dict(
            type='ResNet',
            depth=18,
            stem_channels=32,
            base_channels=32,
            out_indices=(3, )),
        # GeM: the product is a small part of a livestream frame; a plain
        # mean of the cells is dominated by the room around it.
        gem_p=3.0),
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
        score_scale=1.0,
        loss_weight=1.0,
        # Also rank, for every clip, its image against the 3 hardest wrong
        # images: without it a per-image offset of the scores is left free,
        # and that offset decides clip -> image re-ranking.
        v2i_weight=1.0),
    pfr_head=dict(
        type='PFRHead',
        num_heads=4,
        tokens_per_frame=tokens_per_image,
        loss_weight=0.05),
    # Re-score the embedding ranking's top-K with PMD at test time (0: off).
    rerank=dict(top_k=0, weight=0.5),
)

max_epochs = 18
warmup_epochs = 2
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=6)
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05,
                   betas=(0.9, 0.98), eps=1e-6),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs,
         by_epoch=True, begin=warmup_epochs, end=max_epochs,
         convert_to_iter_based=True),
]
# Global batch 32 on 1 process (used by --auto-scale-lr).
auto_scale_lr = dict(base_batch_size=32, enable=False)
default_hooks = dict(checkpoint=dict(interval=6))
