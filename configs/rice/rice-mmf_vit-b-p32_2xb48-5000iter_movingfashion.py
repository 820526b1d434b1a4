# RICE on MovingFashion, the released recipe: global batch 96 (2 GPUs x 48),
# AdamW (0.9, 0.98), lr 1e-6 encoder / x100 heads, 500 warmup iterations
# then cosine to 0 at 5,000, fp16, MMF heads (the model is
# _base_/models/rice-mmf_vit-b-p32.py).
#   bash tools/dist_train.sh \
#       configs/rice/rice-mmf_vit-b-p32_2xb48-5000iter_movingfashion.py 2
_base_ = [
    '../_base_/models/rice-mmf_vit-b-p32.py',
    '../_base_/datasets/movingfashion_retrieval.py',
    '../_base_/schedules/rice_mmf_5000iter.py',
    '../_base_/default_runtime.py'
]
optim_wrapper = dict(optimizer=dict(betas=(0.9, 0.98)))
auto_scale_lr = dict(base_batch_size=96, enable=False)
# OpenAI CLIP weights and the MMF decoder initialisation (CLIP visual blocks
# 10 and 11), converted by
#   python tools/model_converters/openai_clip_to_lpr.py ViT-B-32.pt \
#       checkpoints/clip_vit-b-p32_lpr-pmd-mmf.pth --pmd mmf
load_from = 'checkpoints/clip_vit-b-p32_lpr-pmd-mmf.pth'
default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False,
                                     interval=1000, max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
