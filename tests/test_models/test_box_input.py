"""Box input end to end: a box drawn in frame coordinates hides exactly
the pixels outside it from the ViT (the mask and the patch order agree on
which axis is x)."""
import torch

from lpr.datasets.transforms import BoxToPatchMask
from tiny_rice import build_tiny_rice


def test_pixels_outside_the_box_do_not_change_the_clip():
    # 16x16 frames, 8x8 patches: a 2x2 grid. The box covers most of the
    # bottom-left cell (x 0.05-0.45, y 0.55-0.95) and nothing else.
    masks = BoxToPatchMask(input_size=16, patch_size=8)(
        dict(frame_ids=['f'], frame_boxes=[[[0.05, 0.55, 0.45, 0.95]]]))
    mask = torch.from_numpy(masks['patch_masks'])  # (1, 5)
    assert mask.tolist() == [[True, False, False, True, False]]
    model = build_tiny_rice(use_boxes=True)
    frames = torch.randn(1, 1, 3, 16, 16, generator=torch.Generator()
                         .manual_seed(0))
    frame_mask = torch.ones(1, 1, dtype=torch.bool)

    def clip_emb(x):
        with torch.no_grad():
            return model.extract_clip(x, frame_mask, mask[None])[0]

    base = clip_emb(frames)
    inside = frames.clone()
    inside[..., 8:, :8] += 1.0  # rows (y) 8-15, columns (x) 0-7
    for rows, cols in ((slice(0, 8), slice(0, 8)), (slice(0, 8), slice(8, 16)),
                       (slice(8, 16), slice(8, 16))):
        outside = frames.clone()
        outside[..., rows, cols] += 1.0
        assert torch.allclose(clip_emb(outside), base, atol=1e-5), (rows,
                                                                   cols)
    assert not torch.allclose(clip_emb(inside), base, atol=1e-3)
