# The toy RICE recipe with a tiny ViT (4 layers, width 192, patch 16:
# 36 patch tokens + CLS) trained from scratch instead of the slim ResNet-18.
_base_ = ['./rice_r18-slim_1xb32-18e_toy-lpr4m.py']

tokens_per_image = (128 // 16)**2 + 1
model = dict(
    encoder=dict(
        in_channels=192,
        backbone=dict(
            _delete_=True,
            type='VisionTransformer',
            arch=dict(
                embed_dims=192,
                num_layers=4,
                num_heads=4,
                feedforward_channels=384),
            img_size=128,
            patch_size=16,
            pre_norm=True,
            out_type='raw',
            layer_cfgs=dict(act_cfg=dict(type='QuickGELU')))),
    pmd_head=dict(num_query_tokens=tokens_per_image),
    pfr_head=dict(tokens_per_frame=tokens_per_image))
