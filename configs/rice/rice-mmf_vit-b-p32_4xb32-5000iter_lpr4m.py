# RICE, the released (MMF) recipe on LPR4M: global batch 128 (4 GPUs x 32),
# AdamW (0.9, 0.999), lr 1e-6 for the encoder and the ICL scale, x100 for
# the heads, 500 warmup iterations then cosine to 0 at 5,000, fp16; MMF
# heads (clip vector = normalised mean of the raw frame embeddings; an
# 8-head, 768-wide decoder on the ViT tokens before ln_post, initialised from
# CLIP visual blocks 10 and 11, without query positions, 10*cos score;
# softmax PFR coefficients over all keys), learnable ICL scale s^2 = 16, unit
# loss weights; random crop + flip per frame; query frames by the floor rule
# of the official query list.
_base_ = [
    '../_base_/models/rice-mmf_vit-b-p32.py',
    '../_base_/datasets/lpr4m_retrieval.py',
    '../_base_/schedules/rice_mmf_5000iter.py',
    '../_base_/default_runtime.py'
]
train_pipeline = [
    dict(type='SampleClipFrames', num_frames=10, rule='linspace'),
    dict(type='CutTail', prob=0.5),
    dict(type='LoadClipFrames'),
    dict(type='LoadShopImage'),
    dict(type='ResizeCropFlipFrames', size=224, resize=256,
         random_crop=True, flip_prob=0.5, share_random_params=False),
    dict(type='PackLPRInputs', empty_frame_size=(224, 224)),
]
query_pipeline = [
    dict(type='SampleClipFrames', num_frames=10, rule='floor'),
    dict(type='LoadClipFrames', on_empty='keep'),
    dict(type='ResizeCropFlipFrames', size=224, resize=256,
         random_crop=False, flip_prob=0.0),
    dict(type='PackLPRInputs', empty_frame_size=(224, 224)),
]
gallery_pipeline = [
    dict(type='LoadShopImage'),
    dict(type='ResizeCropFlipFrames', size=224, resize=256,
         random_crop=False, flip_prob=0.0),
    dict(type='PackLPRInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=query_pipeline))
test_dataloader = val_dataloader
val_cfg = dict(gallery_dataloader=dict(dataset=dict(pipeline=gallery_pipeline)))
test_cfg = val_cfg

auto_scale_lr = dict(base_batch_size=128, enable=False)
# OpenAI CLIP weights and the MMF decoder initialisation (CLIP visual blocks
# 10 and 11), converted by
#   python tools/model_converters/openai_clip_to_lpr.py ViT-B-32.pt \
#       checkpoints/clip_vit-b-p32_lpr-pmd-mmf.pth --pmd mmf
load_from = 'checkpoints/clip_vit-b-p32_lpr-pmd-mmf.pth'
default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False,
                                     interval=1000, max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
