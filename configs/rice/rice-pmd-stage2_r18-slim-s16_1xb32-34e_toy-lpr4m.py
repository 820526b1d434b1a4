# Second stage of a two-stage toy recipe: the encoder (and ICL head) of a
# trained rice_r18-slim-s16_1xb32-18e_toy-lpr4m.py model stay frozen (no
# gradient, batch-norm statistics fixed) while PMD and PFR keep training on
# the tokens it gives, with PMD's negatives drawn from the 8 most similar.
# Trained jointly, PMD chases an encoder that moves at every step and ends
# near ln 4; on fixed tokens it learns to rank. Start from the first stage:
#   python tools/train.py configs/rice/rice-pmd-stage2_r18-slim-s16_1xb32-34e_toy-lpr4m.py \
#       --cfg-options load_from=work_dirs/rice_r18-slim-s16_1xb32-18e_toy-lpr4m/epoch_18.pth
# 34 epochs of the demo set = 612 iterations; only the decoder learns, so
# an iteration costs the encoder's forward pass and PMD/PFR's.
_base_ = ['./rice_r18-slim-s16_1xb32-18e_toy-lpr4m.py']

model = dict(
    frozen_modules=('encoder', 'icl_head'),
    pmd_head=dict(negative_pool=8),
    # This stage exists to re-rank: PMD re-scores the embedding top-5.
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
