# Second stage of the box recipe (see rice-pmd-stage2_...py): the encoder
# and ICL head of a trained rice-box_r18-slim-s16_1xb32-18e_toy-lpr4m.py
# model stay frozen while PMD and PFR train on its box-masked tokens.
#   python tools/train.py configs/rice/rice-box-pmd-stage2_r18-slim-s16_1xb32-34e_toy-lpr4m.py \
#       --cfg-options load_from=work_dirs/rice-box_r18-slim-s16_1xb32-18e_toy-lpr4m/epoch_18.pth
_base_ = ['./rice-box_r18-slim-s16_1xb32-18e_toy-lpr4m.py']

model = dict(
    frozen_modules=('encoder', 'icl_head'),
    pmd_head=dict(negative_pool=8),
    rerank=dict(top_k=5, weight=0.5))

max_epochs = 34
warmup_epochs = 2
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs,
         by_epoch=True, begin=warmup_epochs, end=max_epochs,
         convert_to_iter_based=True),
]
default_hooks = dict(checkpoint=dict(interval=max_epochs))
