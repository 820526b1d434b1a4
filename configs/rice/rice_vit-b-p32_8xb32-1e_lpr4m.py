# RICE (ICL + PMD + PFR), CLIP ViT-B/32, the paper-era recipe on LPR4M:
# 10 frames at 224, global batch 256 (8 GPUs x 32), decoupled AdamW
# (3e-4 new modules / 3e-7 encoder), 10% warmup + cosine, fp16.
#   bash tools/dist_train.sh configs/rice/rice_vit-b-p32_8xb32-1e_lpr4m.py 8
_base_ = [
    '../_base_/models/rice_vit-b-p32.py',
    '../_base_/datasets/lpr4m_retrieval.py',
    '../_base_/schedules/rice_v0_1e.py',
    '../_base_/default_runtime.py'
]
# OpenAI CLIP weights and the V0 decoder initialisation, converted by
#   python tools/model_converters/openai_clip_to_lpr.py ViT-B-32.pt \
#       checkpoints/clip_vit-b-p32_lpr-pmd-v0.pth --pmd v0
load_from = 'checkpoints/clip_vit-b-p32_lpr-pmd-v0.pth'
default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False,
                                     interval=2000, max_keep_ckpts=3))
