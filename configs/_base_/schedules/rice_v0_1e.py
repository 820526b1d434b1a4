# The paper-era (V0) optimisation: decoupled AdamW, lr 3e-4 for the new
# modules and 3e-7 (x1e-3) for the CLIP encoder, weight decay 0.2 except
# biases and norms, gradient clipping 1.0, linear warmup over the first 10%
# then cosine, one epoch over LPR4M at global batch 256 (8 GPUs x 32).
max_epochs = 1
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
optim_wrapper = dict(
    type='AmpOptimWrapper',
    dtype='float16',
    optimizer=dict(
        type='AdamW', lr=3e-4, betas=(0.9, 0.98), eps=1e-6,
        weight_decay=0.2),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={'encoder': dict(lr_mult=1e-3)}),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0,
         end=0.1 * max_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=0.9 * max_epochs, eta_min=0.0,
         by_epoch=True, begin=0.1 * max_epochs, end=max_epochs,
         convert_to_iter_based=True),
]
# The recipe's global batch; --auto-scale-lr rescales lr to yours.
auto_scale_lr = dict(base_batch_size=256, enable=False)
