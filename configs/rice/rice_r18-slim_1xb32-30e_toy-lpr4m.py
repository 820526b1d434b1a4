# RICE on the toy LPR4M set with a slim ResNet-18 (a CNN backbone: its 2×2
# feature map gives the patch tokens, their mean the global token).
_base_ = ['./rice_vit-tiny-p16_1xb32-30e_toy-lpr4m.py']

embed_dims = 128
model = dict(
    encoder=dict(
        _delete_=True,
        type='TokenEncoder',
        in_channels=256,
        embed_dims=embed_dims,
        backbone=dict(
            type='ResNet',
            depth=18,
            stem_channels=32,
            base_channels=32,
            out_indices=(3, ))),
    pmd_head=dict(num_query_tokens=5),
    pfr_head=dict(tokens_per_frame=5),
)
