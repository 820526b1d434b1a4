# The toy recipe with an 8x8 token grid: the slim ResNet-18's last stage
# keeps stride 16 (128 px -> 8x8 cells + the global token), for box input
# (a 4x4 grid is too coarse for a box mask) and as its whole-frame
# counterpart. About 2x the compute of the stride-32 recipe.
_base_ = ['./rice_r18-slim_1xb32-18e_toy-lpr4m.py']

tokens_per_image = (128 // 16)**2 + 1
model = dict(
    encoder=dict(backbone=dict(strides=(1, 2, 2, 1))),
    pmd_head=dict(num_query_tokens=tokens_per_image),
    pfr_head=dict(tokens_per_frame=tokens_per_image))
