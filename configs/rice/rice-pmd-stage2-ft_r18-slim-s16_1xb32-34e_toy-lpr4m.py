# The second stage of rice-pmd-stage2_r18-slim-s16_1xb32-34e_toy-lpr4m.py,
# with the encoder's last stage (and its projection) fine-tuned at a tenth
# of the learning rate instead of frozen: ICL and PFR keep refining the
# embeddings while PMD learns on tokens that move slowly. The stem and the
# first three stages stay frozen (no gradient, batch-norm statistics fixed).
# Start from the first stage:
#   python tools/train.py configs/rice/rice-pmd-stage2-ft_r18-slim-s16_1xb32-34e_toy-lpr4m.py \
#       --cfg-options load_from=work_dirs/rice_r18-slim-s16_1xb32-18e_toy-lpr4m/epoch_18.pth
_base_ = ['./rice-pmd-stage2_r18-slim-s16_1xb32-34e_toy-lpr4m.py']

model = dict(
    frozen_modules=('icl_head', ),
    encoder=dict(backbone=dict(frozen_stages=3)))
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'encoder': dict(lr_mult=0.1)}))
