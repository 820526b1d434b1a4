"""Batching of packed LPR samples: both collate functions, normalisation."""
import numpy as np
import torch
from mmengine.dataset import default_collate, pseudo_collate

from lpr.datasets.transforms import PackLPRInputs
from lpr.models import CLIP_MEAN, CLIP_STD, LPRDataPreprocessor


def sample(n_frames, value):
    frames = [np.full((4, 4, 3), value, np.uint8)] * n_frames
    img = np.zeros((4, 4, 3), np.uint8)
    img[..., 0] = 255  # blue in BGR
    return PackLPRInputs()(dict(frames=frames, num_frames=3, img=img))


def test_both_collates_give_the_same_batch():
    batch = [sample(2, 10), sample(3, 20)]
    pre = LPRDataPreprocessor()
    a = pre(pseudo_collate(batch))
    b = pre(default_collate(batch))
    for key in ('frames', 'frame_mask', 'image'):
        assert torch.equal(a['inputs'][key], b['inputs'][key])
    frames = a['inputs']['frames']
    assert frames.shape == (2, 3, 3, 4, 4) and frames.dtype == torch.float32
    assert a['inputs']['frame_mask'].tolist() == [[True, True, False],
                                                  [True, True, True]]
    # BGR → RGB, then CLIP normalisation: blue is the last RGB channel.
    image = a['inputs']['image'][0]
    expected_blue = (255 - CLIP_MEAN[2]) / CLIP_STD[2]
    assert torch.allclose(image[2], torch.full((4, 4), expected_blue))
    assert torch.allclose(image[0], torch.full((4, 4),
                                               -CLIP_MEAN[0] / CLIP_STD[0]))
    assert len(a['data_samples']) == 2
