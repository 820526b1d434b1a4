# RICE with the CLIP ViT-B/32 image tower shared by shop images and frames
# (mmpretrain VisionTransformer, arch b, patch 32, pre-norm, QuickGELU;
# ln_post + proj give 512-d global embeddings and 50 tokens per image).
# Heads: the paper-era (V0) semantics (PMDHead, PFRHead; the released ones
# are MMFPMDHead, MMFPFRHead, MMFICLHead) and loss weights 1 / 1 / 0.05.
# CLIP weights, with the V0 decoder initialisation (self-attention block and
# query positions from CLIP's text tower):
#   python tools/model_converters/openai_clip_to_lpr.py ViT-B-32.pt \
#       checkpoints/clip_vit-b-p32_lpr-pmd-v0.pth --pmd v0
# (loaded by `load_from` in the recipes).
embed_dims = 512
tokens_per_image = (224 // 32)**2 + 1
model = dict(
    type='RICE',
    data_preprocessor=dict(type='LPRDataPreprocessor'),
    encoder=dict(
        type='TokenEncoder',
        in_channels=768,
        embed_dims=embed_dims,
        backbone=dict(
            type='VisionTransformer',
            arch='b',
            img_size=224,
            patch_size=32,
            drop_rate=0.0,
            pre_norm=True,
            final_norm=True,
            out_type='raw',
            layer_cfgs=dict(act_cfg=dict(type='QuickGELU')))),
    # Fixed logit scale 100 (tau = 0.01); same-product clips are not
    # negatives (set False to reproduce the official code).
    icl_head=dict(
        type='ICLHead',
        logit_scale=100.0,
        learnable_scale=False,
        mask_same_product=True),
    pmd_head=dict(
        type='PMDHead',
        embed_dims=embed_dims,
        num_heads=8,
        num_query_tokens=tokens_per_image,
        num_negatives=3,
        attn_drop=0.1,
        query_pos_drop=0.1,
        score_scale=100.0,
        loss_weight=1.0),
    pfr_head=dict(
        type='PFRHead',
        num_heads=8,
        tokens_per_frame=tokens_per_image,
        loss_weight=0.05),
    # The official protocol ranks by embeddings only; top_k > 0 re-scores
    # the top-K with PMD and fuses the scores.
    rerank=dict(top_k=0, weight=0.5),
)
