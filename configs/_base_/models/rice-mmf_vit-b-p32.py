# RICE with the CLIP ViT-B/32 tower and the released (MMF) heads: clip vector
# = normalised mean of the raw frame embeddings, learnable ICL scale
# s^2 = 16; an 8-head, 768-wide decoder on the ViT tokens before ln_post
# (initialised from CLIP visual blocks 10 and 11), without query positions,
# 10*cos score; softmax PFR coefficients over all keys; unit loss weights.
# CLIP weights, with the MMF decoder initialisation:
#   python tools/model_converters/openai_clip_to_lpr.py ViT-B-32.pt \
#       checkpoints/clip_vit-b-p32_lpr-pmd-mmf.pth --pmd mmf
# (loaded by `load_from` in the recipes).
_base_ = './rice_vit-b-p32.py'
model = dict(
    # The decoder reads the ViT's 768-d tokens before ln_post.
    pmd_tokens='hidden',
    # Clip vector: masked mean of the raw frame embeddings, then normalised.
    icl_head=dict(type='MMFICLHead', logit_scale=16.0, learnable_scale=True),
    pmd_head=dict(
        _delete_=True,
        type='MMFPMDHead',
        embed_dims=768,
        num_heads=8,
        num_negatives=3,
        attn_drop=0.1,
        score_scale=10.0,
        loss_weight=1.0),
    pfr_head=dict(
        _delete_=True,
        type='MMFPFRHead',
        num_heads=8,
        head_dims=768 // 8,
        loss_weight=1.0))
