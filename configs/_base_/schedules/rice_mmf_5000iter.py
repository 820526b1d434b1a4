# The released (MMF) optimisation: AdamW, lr 1e-6 for the encoder and the
# ICL scale, x100 for the heads, weight decay 0.2 except biases, 500 warmup
# iterations then cosine to 0 at 5,000 updates, fp16, no clipping.
max_iters = 5000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=1000)
optim_wrapper = dict(
    type='AmpOptimWrapper',
    dtype='float16',
    optimizer=dict(type='AdamW', lr=1e-6, betas=(0.9, 0.999), eps=1e-6,
                   weight_decay=0.2),
    paramwise_cfg=dict(
        bias_decay_mult=0.0,
        custom_keys={
            'pmd_head': dict(lr_mult=100.0),
            'pfr_head': dict(lr_mult=100.0),
            'text_encoder': dict(lr_mult=100.0),
            'text_proj': dict(lr_mult=100.0),
        }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=500),
    dict(type='CosineAnnealingLR', T_max=max_iters - 500, eta_min=0.0,
         by_epoch=False, begin=500, end=max_iters),
]
