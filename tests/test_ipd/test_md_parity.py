"""The MD (TransVOD Lite over DAB-DETR) against a forward written here
from the TransVOD Lite paper and code semantics.

A small MD with seeded random weights runs on two clips of three frames
(the second clip smaller, so its frames are padded). The reference below
takes the single-frame detector's outputs (mmdet's DAB-DETR, not under
test) and rebuilds every SeqHQM stage by hand from the stage weights:

- query selection: per frame, the top-k queries by the maximum over
  classes of the sigmoid class score (stage 1: the SD head's, later
  stages: the previous stage's);
- temporal query encoder: over the kept queries of all frames of one clip,
  self-attention, then attention whose keys and values are the layer's
  input, then an FFN, each with a residual and a post-LayerNorm;
- frame decoder: self-attention among a frame's kept queries, deformable
  cross-attention into that frame's encoder memory (one level; padded
  entries zeroed; 4-d reference boxes scaled by the valid ratios; sampling
  points at the box centre plus offsets / points · half the box size;
  softmax over levels × points), FFN, post-LayerNorms, no query positional
  embedding;
- heads: class logits, and boxes as sigmoid(box delta + logit(reference));
- reference handling: every stage anchored on the SD's final boxes of its
  kept queries (TransVOD Lite), or, for the cascade, on the previous
  stage's refined boxes.

Only the bilinear sampling kernel is mmcv's
(``multi_scale_deformable_attn_pytorch``).
"""
import math
from typing import Dict, List, Tuple

import pytest
import torch
import torch.nn.functional as F
from md_fixtures import build_md, preprocess
from mmcv.ops.multi_scale_deform_attn import multi_scale_deformable_attn_pytorch
from mmdet.structures import DetDataSample, TrackDataSample
from torch import Tensor

NUM_CLASSES = 3
FRAMES = 3
SIZES = ((128, 192), (96, 160))  # clip 2 is padded to clip 1's size
TOP_K = (20, 15, 10)  # the toy config's stages
HEADS = 4  # the toy config's stage heads
POINTS = 4  # sampling points per head and level

# --------------------------------------------------------------- the model


def _small_md(stage_type: str):
    """The toy MD with 3 classes, its stages' weights seeded away from their
    initialisation (zero sampling offsets and box deltas, uniform attention
    weights), so that every path counts."""
    model = build_md(
        seed=0,
        bbox_head=dict(num_classes=NUM_CLASSES),
        stage_cfg=dict(type=stage_type))
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.stages.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if '.norms.' in name and name.endswith('weight'):
                p.copy_(1 + 0.1 * noise)
            else:
                p.copy_(0.1 * noise)
    return model


def _inputs(model) -> Tuple[Tensor, List[TrackDataSample]]:
    g = torch.Generator().manual_seed(2)
    clips = []
    for c, (h, w) in enumerate(SIZES):
        track = TrackDataSample()
        track.video_data_samples = [
            DetDataSample(
                metainfo=dict(
                    img_shape=(h, w),
                    ori_shape=(h, w),
                    scale_factor=(1.0, 1.0),
                    img_id=10 * c + t,
                    frame_id=t,
                    video_id=c)) for t in range(FRAMES)
        ]
        clips.append((torch.randint(0, 255, (FRAMES, 3, h, w),
                                    generator=g), track))
    return preprocess(model, clips)


def _sd_outputs(model, inputs: Tensor,
                clips: List[TrackDataSample]) -> Dict[str, Tensor]:
    """The single-frame detector (mmdet's DAB-DETR) on the B·T frames."""
    frames = inputs.flatten(0, 1)
    samples = [s for clip in clips for s in clip.video_data_samples]
    img_feats = model.extract_feat(frames)
    enc_in, dec_in = model.pre_transformer(img_feats, samples)
    enc_out = model.forward_encoder(**enc_in)
    query, _ = model.pre_decoder(**enc_out)
    dec_in.update(query)
    dec_out = model.forward_decoder(**dec_in)
    hidden = dec_out['hidden_states'][-1]
    cls, boxes = model.bbox_head(hidden[None],
                                 dec_out['references'][-1][None])
    h, w = img_feats[-1].shape[-2:]
    return dict(
        query=hidden,
        cls=cls[0],
        boxes=boxes[0],
        memory=enc_out['memory'],
        mask=dec_in['memory_mask'].bool().view(-1, h, w))


# ----------------------------------------------------------- the reference


def _linear(x: Tensor, w: Dict[str, Tensor], name: str) -> Tensor:
    return x @ w[f'{name}.weight'].t() + w[f'{name}.bias']


def _layer_norm(x: Tensor, w: Dict[str, Tensor], name: str) -> Tensor:
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean)**2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5) * w[f'{name}.weight'] + \
        w[f'{name}.bias']


def _attention(q: Tensor, kv: Tensor, w: Dict[str, Tensor],
               name: str) -> Tensor:
    """Multi-head attention of q (L, D) over kv (S, D), keys = values."""
    d = q.shape[-1]
    dh = d // HEADS
    in_w, in_b = w[f'{name}.in_proj_weight'], w[f'{name}.in_proj_bias']
    heads = []
    for i in range(HEADS):
        rows = slice(i * dh, (i + 1) * dh)
        qi = q @ in_w[rows].t() + in_b[rows]
        ki = kv @ in_w[d:2 * d][rows].t() + in_b[d:2 * d][rows]
        vi = kv @ in_w[2 * d:][rows].t() + in_b[2 * d:][rows]
        heads.append(torch.softmax(qi @ ki.t() / math.sqrt(dh), -1) @ vi)
    return _linear(torch.cat(heads, -1), w, f'{name}.out_proj')


def _ffn(x: Tensor, w: Dict[str, Tensor], name: str) -> Tensor:
    return _linear(F.relu(_linear(x, w, f'{name}.layers.0.0')), w,
                   f'{name}.layers.1')


def _temporal_encoder(x: Tensor, w: Dict[str, Tensor]) -> Tensor:
    """TransVOD Lite's temporal query encoder layer on one clip's (T·k, D)
    queries: keys/values of the second attention are the input ``x``."""
    p = 'temporal_encoder'
    h = _layer_norm(x + _attention(x, x, w, f'{p}.self_attn.attn'), w,
                    f'{p}.norms.0')
    h = _layer_norm(h + _attention(h, x, w, f'{p}.cross_attn.attn'), w,
                    f'{p}.norms.1')
    return _layer_norm(h + _ffn(h, w, f'{p}.ffn'), w, f'{p}.norms.2')


def _valid_ratio(mask: Tensor) -> Tensor:
    """(w, h) fractions of the unpadded feature map of one frame."""
    h, w = mask.shape
    valid_h = (~mask[:, 0]).sum().float()
    valid_w = (~mask[0, :]).sum().float()
    return torch.stack([valid_w / w, valid_h / h])


def _deformable_attention(q: Tensor, ref: Tensor, memory: Tensor,
                          mask: Tensor, w: Dict[str, Tensor],
                          name: str) -> Tensor:
    """One frame: q (k, D), ref (k, 4) sigmoid boxes, memory (H·W, D),
    mask (H, W) True at padding → (k, D)."""
    k, d = q.shape
    fh, fw = mask.shape
    value = _linear(memory, w, f'{name}.value_proj')
    value = value.masked_fill(mask.flatten()[:, None], 0.0)
    offsets = _linear(q, w, f'{name}.sampling_offsets').view(
        k, HEADS, 1, POINTS, 2)
    weights = torch.softmax(
        _linear(q, w, f'{name}.attention_weights').view(k, HEADS, POINTS),
        -1).view(k, HEADS, 1, POINTS)
    ratio = _valid_ratio(mask)
    centre = ref[:, :2] * ratio  # (k, 2): x, y in the padded map
    size = ref[:, 2:] * ratio
    loc = centre[:, None, None, None] + \
        offsets / POINTS * size[:, None, None, None] * 0.5
    out = multi_scale_deformable_attn_pytorch(
        value.view(1, fh * fw, HEADS, d // HEADS),
        torch.tensor([[fh, fw]]), loc[None], weights[None])[0]
    return _linear(out, w, f'{name}.output_proj')


def _frame_decoder(q: Tensor, ref: Tensor, memory: Tensor, mask: Tensor,
                   w: Dict[str, Tensor]) -> Tensor:
    p = 'frame_decoder.layers.0'
    h = _layer_norm(q + _attention(q, q, w, f'{p}.self_attn.attn'), w,
                    f'{p}.norms.0')
    h = _layer_norm(
        h + _deformable_attention(h, ref, memory, mask, w,
                                  f'{p}.cross_attn'), w, f'{p}.norms.1')
    return _layer_norm(h + _ffn(h, w, f'{p}.ffn'), w, f'{p}.norms.2')


def _logit(x: Tensor, eps: float = 1e-3) -> Tensor:
    x = x.clamp(0, 1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


def _reference_md(sd: Dict[str, Tensor], weights: List[Dict[str, Tensor]],
                  top_k: Tuple[int, ...],
                  cascade: bool) -> List[Tuple[Tensor, Tensor]]:
    num_clips = len(SIZES)
    query, cls, ref = sd['query'], sd['cls'], sd['boxes']
    outputs = []
    for w, k in zip(weights, top_k):
        keep = torch.sigmoid(cls).max(-1).values.topk(k, dim=1).indices
        query = torch.stack([query[n, keep[n]] for n in range(len(keep))])
        ref = torch.stack([ref[n, keep[n]] for n in range(len(keep))])
        # One clip's kept queries, frame after frame, attend to each other.
        encoded = []
        for c in range(num_clips):
            frames = range(c * FRAMES, (c + 1) * FRAMES)
            seq = _temporal_encoder(torch.cat([query[n] for n in frames]), w)
            encoded += list(seq.split(k))
        query = torch.stack([
            _frame_decoder(encoded[n], ref[n], sd['memory'][n],
                           sd['mask'][n], w) for n in range(len(encoded))
        ])
        cls = _linear(query, w, 'cls_head')
        delta = _linear(
            F.relu(
                _linear(
                    F.relu(_linear(query, w, 'reg_head.layers.0')), w,
                    'reg_head.layers.1')), w, 'reg_head.layers.2')
        boxes = torch.sigmoid(delta + _logit(ref))
        outputs.append((cls, boxes))
        if cascade:
            ref = boxes
    return outputs


# ------------------------------------------------------------------- tests


@pytest.mark.parametrize('stage_type', ['SeqHQMStage', 'CascadeSeqHQMStage'])
def test_md_matches_the_transvod_lite_reference(stage_type):
    model = _small_md(stage_type)
    inputs, clips = _inputs(model)
    with torch.no_grad():
        outputs = model._forward(inputs, clips)
        sd = _sd_outputs(model, inputs, clips)
        weights = [{
            k: v.clone()
            for k, v in stage.state_dict().items()
        } for stage in model.stages]
        expected = _reference_md(
            sd, weights, TOP_K, cascade=stage_type == 'CascadeSeqHQMStage')
    # The setting covers padding and more than one class.
    assert sd['cls'].shape[-1] == NUM_CLASSES
    ratios = torch.stack([_valid_ratio(m) for m in sd['mask']])
    assert (ratios[:FRAMES] == 1).all() and (ratios[FRAMES:] < 1).all()
    assert len(outputs) == len(expected) == 3
    for stage, ((cls, boxes), (ref_cls, ref_boxes)) in enumerate(
            zip(outputs, expected)):
        assert cls.shape == ref_cls.shape == (2 * FRAMES, TOP_K[stage],
                                              NUM_CLASSES)
        torch.testing.assert_close(cls, ref_cls, atol=1e-5, rtol=0)
        torch.testing.assert_close(boxes, ref_boxes, atol=1e-5, rtol=0)


def test_the_two_reference_schemes_differ():
    """The parity setting tells the schemes apart: after stage 1, anchoring
    on the SD's boxes and cascading give different boxes."""
    outs = {}
    for stage_type in ('SeqHQMStage', 'CascadeSeqHQMStage'):
        model = _small_md(stage_type)
        with torch.no_grad():
            outs[stage_type] = model._forward(*_inputs(model))
    sd, cascade = outs['SeqHQMStage'], outs['CascadeSeqHQMStage']
    torch.testing.assert_close(sd[0][1], cascade[0][1])
    assert not torch.allclose(sd[-1][1], cascade[-1][1], atol=1e-3)
