"""The paper-era (V0) and released (MMF) heads as classes: what each variant
computes, checked against hand computations from the reference spec; the
clip → image PMD direction; one-clip-many-images scoring; bf16 autocast."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import lpr  # noqa: F401
from lpr.models import (ICLHead, MMFICLHead, MMFPFRHead, MMFPMDHead,
                        PFRHead, PMDHead, clip_embedding, mean_clip_embedding)
from lpr.models.heads import BasePFRHead, BasePMDHead
from tiny_rice import small_pmd, tiny_vit_encoder


def build(cfg):
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(cfg)


# ------------------------------------------------------------ 1. classes
def test_variants_are_registered_subclasses_without_a_variant_string():
    v0 = build(dict(type='PMDHead', embed_dims=8, num_heads=2,
                    num_query_tokens=3))
    mmf = build(dict(type='MMFPMDHead', embed_dims=8, num_heads=2))
    assert type(v0) is PMDHead and type(mmf) is MMFPMDHead
    assert isinstance(v0, BasePMDHead) and isinstance(mmf, BasePMDHead)
    assert not hasattr(v0, 'variant') and not hasattr(mmf, 'variant')
    # V0: query positions, no attention output projection, linear score.
    assert hasattr(v0, 'query_pos') and hasattr(v0, 'score')
    assert isinstance(v0.cross_attn.out, torch.nn.Identity)
    # MMF: no query positions, output projection, cosine score.
    assert not hasattr(mmf, 'query_pos') and hasattr(mmf, 'score_w')
    assert isinstance(mmf.cross_attn.out, torch.nn.Linear)
    assert mmf.pool[0].bias is None
    assert isinstance(build(dict(type='PFRHead')), PFRHead)
    assert isinstance(build(dict(type='MMFPFRHead')), BasePFRHead)
    assert type(build(dict(type='MMFICLHead'))) is MMFICLHead
    with pytest.raises(TypeError):
        PMDHead(embed_dims=8, num_heads=2, variant='mmf')


def test_v0_keys_share_the_query_layernorm_mmf_keys_are_raw():
    """V0 normalises the keys with the queries' LayerNorm (so a clip scaled
    by a positive factor scores the same); MMF feeds the raw tokens."""
    img = torch.randn(3, 3, 8)
    clip = torch.randn(3, 6, 8)
    v0 = small_pmd(PMDHead).eval()
    assert torch.allclose(v0(img, clip)[0], v0(img, 5.0 * clip)[0],
                          atol=1e-4)
    mmf = small_pmd(MMFPMDHead).eval()
    assert not torch.allclose(mmf(img, clip)[0], mmf(img, 5.0 * clip)[0],
                              atol=1e-3)


def test_mmf_score_is_ten_cosine_and_v0_scale_only_in_training():
    mmf = small_pmd(MMFPMDHead)
    pooled = torch.randn(4, 8)
    assert torch.allclose(
        mmf.score_pooled(pooled),
        10.0 * F.cosine_similarity(pooled, mmf.score_w[None], dim=-1))
    v0 = small_pmd(PMDHead, score_scale=100.0)
    raw = v0.score(pooled).squeeze(-1)
    assert torch.allclose(v0.train().score_pooled(pooled), 100.0 * raw)
    assert torch.allclose(v0.eval().score_pooled(pooled), raw)


# ------------------------------------------------------- 2. clip → image
def _mining(sim, sim_v2i, targets):
    return dict(sim=sim, sim_v2i=sim_v2i, targets=targets,
                same=torch.zeros_like(sim, dtype=torch.bool))


@pytest.mark.parametrize('cls', [PMDHead, MMFPMDHead])
def test_clip_to_image_loss_by_hand(cls):
    head = small_pmd(cls, num_negatives=2, v2i_weight=0.5).eval()
    torch.manual_seed(1)
    images = torch.randn(5, 3, 8)  # global images (G = 5)
    clips = torch.randn(5, 6, 8)  # global clips
    valid = torch.ones(5, 6, dtype=torch.bool)
    valid[1, 3:] = False  # clip 1 has a padded frame
    # This rank holds samples 1 and 2 (targets = their global columns).
    targets = torch.tensor([1, 2])
    sim = torch.rand(2, 5)
    sim_v2i = torch.tensor([[0.9, 0.1, 0.8, 0.95, 0.7],
                            [0.2, 0.6, 1.0, 0.5, 0.3]])
    exclude = torch.zeros(2, 5, dtype=torch.bool)
    exclude[0, 3] = True  # image 3 shows clip 1's product
    losses, _ = head.loss_and_predict(
        images[targets], clips, valid, _mining(sim, sim_v2i, targets),
        exclude, all_image_tokens=images)
    # Clip 1: positive image 1, negatives 0 and 2 (3 is excluded, though
    # the most similar); clip 2: positive 2, negatives 1 and 3.
    rows = []
    for i, cols in zip(targets.tolist(), [[1, 0, 2], [2, 1, 3]]):
        s, _ = head(images[cols], clips[i:i + 1].expand(3, -1, -1),
                    valid[i:i + 1].expand(3, -1))
        rows.append(s)
    expected = F.cross_entropy(torch.stack(rows), torch.zeros(2).long())
    assert torch.allclose(losses['loss_pmd_v2i'], 0.5 * expected, atol=1e-5)
    assert 'loss_pmd' in losses
    # Off by default; on, it needs the gathered images.
    off = small_pmd(cls, num_negatives=2).eval()
    assert set(off.loss(images[targets], clips, valid,
                        _mining(sim, sim_v2i, targets))) == {'loss_pmd'}
    with pytest.raises(ValueError, match='all_image_tokens'):
        head.loss(images[targets], clips, valid,
                  _mining(sim, sim_v2i, targets))


def test_icl_mining_gives_clip_rows_against_global_images():
    clip = F.normalize(torch.randn(3, 4), dim=1)
    image = F.normalize(torch.randn(3, 4), dim=1)
    _, mining = ICLHead(logit_scale=10.0).loss(clip, image, ['a', 'b', 'c'])
    assert torch.allclose(mining['sim_v2i'], clip @ image.t())
    assert torch.allclose(mining['sim'], image @ clip.t())
    assert not mining['sim_v2i'].requires_grad


# ------------------------------------------- 3. one clip, many images
@pytest.mark.parametrize('cls', [PMDHead, MMFPMDHead])
def test_score_images_equals_forward_with_the_clip_repeated(cls):
    head = small_pmd(cls).eval()
    images = torch.randn(7, 3, 8)
    clip = torch.randn(6, 8)
    valid = torch.tensor([True, True, True, False, True, False])
    got = head.score_images(images, clip, valid)
    expected, _ = head(images, clip[None].expand(7, -1, -1),
                       valid[None].expand(7, -1))
    assert got.shape == (7, )
    assert torch.allclose(got, expected, atol=1e-5)
    assert torch.allclose(head.predict(images, clip[None].expand(7, -1, -1),
                                       valid[None].expand(7, -1)),
                          expected)


@pytest.mark.parametrize('cls', [PMDHead, MMFPMDHead])
def test_heads_under_bf16_autocast_and_in_pure_bf16(cls):
    head = small_pmd(cls, num_negatives=2, v2i_weight=1.0).eval()
    pfr = (PFRHead(num_heads=2, tokens_per_frame=3) if cls is PMDHead else
           MMFPFRHead(num_heads=2, head_dims=4))
    images = torch.randn(4, 3, 8)
    clips = torch.randn(4, 6, 8)
    valid = torch.ones(4, 6, dtype=torch.bool)
    valid[0, 3:] = False
    mining = _mining(torch.rand(4, 4), torch.rand(4, 4), torch.arange(4))
    ref_scores = head(images, clips, valid)[0]
    ref_losses, ref_logits = head.loss_and_predict(
        images, clips, valid, mining, all_image_tokens=images)
    for inputs in (images, images.bfloat16()):
        with torch.autocast('cpu', dtype=torch.bfloat16):
            scores = head(inputs, clips.to(inputs.dtype), valid)[0]
            losses, logits = head.loss_and_predict(
                inputs, clips.to(inputs.dtype), valid, mining,
                all_image_tokens=inputs)
            pfr_loss = pfr.loss(logits.softmax(-1), inputs,
                                clips.to(inputs.dtype), valid)['loss_pfr']
            one = head.score_images(inputs, clips[1].to(inputs.dtype),
                                    valid[1])
        assert torch.allclose(scores.float(), ref_scores, rtol=0.05,
                              atol=0.05 * ref_scores.abs().max().item())
        for k in ref_losses:
            assert losses[k].dtype == torch.float32
            assert torch.allclose(losses[k], ref_losses[k], rtol=0.05,
                                  atol=0.05), k
        assert torch.isfinite(pfr_loss) and pfr_loss.dtype == torch.float32
        assert torch.isfinite(one).all()
    # Every parameter and activation in bf16, no autocast: a float32
    # parameter meeting a bf16 activation would raise or promote.
    head_bf16 = small_pmd(cls, num_negatives=2, v2i_weight=1.0).eval()
    head_bf16.bfloat16()
    pfr.bfloat16()
    losses, logits = head_bf16.loss_and_predict(
        images.bfloat16(), clips.bfloat16(), valid, mining,
        all_image_tokens=images.bfloat16())
    assert logits.dtype == torch.bfloat16
    assert torch.isfinite(sum(losses.values()))
    assert torch.isfinite(
        pfr.loss(logits.softmax(-1), images.bfloat16(), clips.bfloat16(),
                 valid)['loss_pfr'])
    assert head_bf16.score_images(images.bfloat16(), clips[1].bfloat16(),
                                  valid[1]).shape == (4, )


# ----------------------------------------------------- 4. MMF semantics
def test_clip_vector_rules_by_hand():
    frames = torch.tensor([[[3., 4.], [0., 2.], [9., 9.]]])
    mask = torch.tensor([[True, True, False]])
    # V0: normalise each frame: (0.6, 0.8), (0, 1); mean (0.3, 0.9); norm.
    v0 = torch.tensor([0.3, 0.9]) / math.hypot(0.3, 0.9)
    # MMF: raw mean (1.5, 3); normalise.
    mmf = torch.tensor([1.5, 3.0]) / math.hypot(1.5, 3.0)
    assert torch.allclose(clip_embedding(frames, mask)[0], v0)
    assert torch.allclose(mean_clip_embedding(frames, mask)[0], mmf)
    assert torch.allclose(ICLHead().pool_clip(frames, mask)[0], v0)
    assert torch.allclose(MMFICLHead().pool_clip(frames, mask)[0], mmf)
    empty = torch.zeros(1, 3, dtype=torch.bool)
    assert torch.equal(MMFICLHead().pool_clip(frames, empty),
                       torch.zeros(1, 2))


def test_mmf_pfr_by_hand_softmax_over_all_keys():
    """Spec §3.4 [MMF]: probabilities × √96 (here √d_head), convs 8 → 4 → 1
    with weights 1 and bias 0 and ReLU, softmax over the key dimension (all
    keys, padded ones too), Î = W · V̂ with padded values zeroed, MSE."""
    torch.manual_seed(0)
    b, h, lq, lk, d, hd = 2, 3, 4, 6, 5, 7
    logits = torch.randn(b, h, lq, lk)
    valid = torch.ones(b, lk, dtype=torch.bool)
    valid[1, 3:] = False  # sample 1: a padded frame
    probs = logits.masked_fill(~valid[:, None, None],
                               float('-inf')).softmax(-1)
    image = torch.randn(b, lq, d)
    clip = torch.randn(b, lk, d)
    head = MMFPFRHead(num_heads=h, head_dims=hd, loss_weight=1.0)
    got = head.loss(probs, image, clip, valid)['loss_pfr']
    # With unit weights and zero biases the convs sum: conv1 gives 4 equal
    # channels sum_h(p·√hd) (non-negative, so ReLU keeps them), conv2 their
    # sum.
    w = torch.softmax(4 * math.sqrt(hd) * probs.sum(1), dim=-1)
    values = clip * valid[..., None]
    expected = F.mse_loss(w @ values, image)
    assert torch.allclose(got, expected, atol=1e-6)
    # The padded keys are not masked out of the softmax: they keep mass.
    coeff = head.coefficients(probs, valid)
    assert (coeff[1, :, 3:] > 0).all()
    assert torch.allclose(coeff.sum(-1), torch.ones(b, lq))


def test_v0_pfr_by_hand_drops_cls_without_normalisation():
    torch.manual_seed(0)
    b, h, t, per = 2, 2, 2, 3  # 2 frames of 3 tokens (CLS + 2 patches)
    probs = torch.rand(b, h, per, t * per)
    image = torch.randn(b, per, 4)
    clip = torch.randn(b, t * per, 4)
    valid = torch.ones(b, t * per, dtype=torch.bool)
    valid[0, per:] = False
    head = PFRHead(num_heads=h, tokens_per_frame=per, loss_weight=1.0)
    keep = [1, 2, 4, 5]
    p = probs[:, :, 1:][..., keep]
    w = F.relu(head.conv2(F.relu(head.conv1(p)))).squeeze(1)
    values = (clip * valid[..., None])[:, keep]
    expected = F.mse_loss(w @ values, image[:, 1:])
    got = head.loss(probs, image, clip, valid)['loss_pfr']
    assert torch.allclose(got, expected, atol=1e-6)


TINY_VIT = tiny_vit_encoder()


def test_token_encoder_returns_the_hidden_state_before_ln_post():
    torch.manual_seed(0)
    enc = build(TINY_VIT).eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        g, tokens, hidden = enc(x, return_hidden=True)
        # By hand: patches + CLS + positions, pre-norm, the layers.
        vit = enc.backbone
        h, _ = vit.patch_embed(x)
        h = torch.cat([vit.cls_token.expand(3, -1, -1), h], 1) + vit.pos_embed
        h = vit.pre_norm(h)
        for layer in vit.layers:
            h = layer(h)
        g2, tokens2 = enc(x)
        _, _, hidden_masked = enc(x, torch.ones(3, 5, dtype=torch.bool),
                                  return_hidden=True)
    assert hidden.shape == (3, 5, 32) and tokens.shape == (3, 5, 16)
    assert torch.allclose(hidden, h, atol=1e-5)
    assert torch.allclose(enc.proj(vit.ln1(hidden)), tokens, atol=1e-5)
    assert torch.allclose(tokens, tokens2) and torch.allclose(g, g2)
    assert torch.allclose(hidden_masked, hidden, atol=1e-5)
    assert not vit.ln1._forward_hooks  # the capture hook is removed


def _rice(**kwargs):
    cfg = dict(type='RICE', encoder=TINY_VIT)
    cfg.update(kwargs)
    torch.manual_seed(0)
    return build(cfg)


def _batch(b=4, t=2):
    g = torch.Generator().manual_seed(3)
    inputs = dict(
        image=torch.randn(b, 3, 32, 32, generator=g),
        frames=torch.randn(b, t, 3, 32, 32, generator=g),
        frame_mask=torch.ones(b, t, dtype=torch.bool))
    inputs['frame_mask'][1, 1] = False
    samples = [DataSample(metainfo=dict(image_id=str(i))) for i in range(b)]
    return inputs, samples


def test_rice_mmf_recipe_routes_hidden_tokens_and_mean_pooling():
    model = _rice(
        pmd_tokens='hidden',
        icl_head=dict(type='MMFICLHead', logit_scale=16.0),
        pmd_head=dict(type='MMFPMDHead', embed_dims=32, num_heads=2,
                      num_negatives=2, v2i_weight=1.0),
        pfr_head=dict(type='MMFPFRHead', num_heads=2, head_dims=16))
    inputs, samples = _batch()
    losses = model.loss(inputs, samples)
    assert set(losses) == {'loss_icl', 'loss_pmd', 'loss_pmd_v2i',
                           'loss_pfr'}
    sum(losses.values()).backward()
    named = dict(model.named_parameters())
    for name in ('pmd_head.cross_attn.q.weight', 'pmd_head.score_w',
                 'pfr_head.conv1.weight', 'encoder.backbone.ln1.weight'):
        assert named[name].grad is not None and \
            named[name].grad.abs().sum() > 0, name
    model.eval()
    out = model.predict(inputs, samples)
    assert out[0].image_tokens.shape == (5, 32)  # the ViT width
    assert out[0].clip_tokens.shape == (2 * 5, 32)
    with torch.no_grad():
        g, _ = model.encoder(inputs['frames'].flatten(0, 1))
    expected = mean_clip_embedding(g.view(4, 2, -1), inputs['frame_mask'])
    assert torch.allclose(torch.stack([o.clip_emb for o in out]),
                          expected, atol=1e-5)
    with pytest.raises(ValueError, match='pmd_tokens'):
        _rice(pmd_tokens='raw')


def test_rice_v0_recipe_keeps_projected_tokens():
    model = _rice(
        pmd_head=dict(type='PMDHead', embed_dims=16, num_heads=2,
                      num_query_tokens=5, num_negatives=2, v2i_weight=0.5),
        pfr_head=dict(type='PFRHead', num_heads=2, tokens_per_frame=5))
    inputs, samples = _batch()
    losses = model.loss(inputs, samples)
    assert set(losses) == {'loss_icl', 'loss_pmd', 'loss_pmd_v2i',
                           'loss_pfr'}
    model.eval()
    out = model.predict(inputs, samples)
    assert out[0].image_tokens.shape == (5, 16)
    with torch.no_grad():
        g, _ = model.encoder(inputs['frames'].flatten(0, 1))
    expected = clip_embedding(g.view(4, 2, -1), inputs['frame_mask'])
    assert torch.allclose(torch.stack([o.clip_emb for o in out]),
                          expected, atol=1e-5)


def test_negatives_drawn_from_a_pool_of_the_most_similar():
    from lpr.models import PMDHead
    head = PMDHead(embed_dims=8, num_heads=2, num_query_tokens=3,
                   negative_pool=5)
    sim = torch.tensor([[9., 8., 7., 6., 5., 4., 3., 2., 1., 0.]] * 200)
    targets = torch.full((200, ), 1)
    exclude = torch.zeros(200, 10, dtype=torch.bool)
    exclude[:, 2] = True  # a same-product column
    idx, valid = head.mine_negatives(sim, targets, exclude)
    assert idx.shape == (200, 3) and valid.all()
    # the pool = the 5 most similar allowed columns: 0, 3, 4, 5, 6
    assert set(idx.unique().tolist()) == {0, 3, 4, 5, 6}
    assert all(len(set(r)) == 3 for r in idx.tolist())
    assert (sim.gather(1, idx).diff(dim=1) <= 0).all()  # most similar first
    # pool <= num_negatives: the hardest, as before
    head.negative_pool = 0
    idx, valid = head.mine_negatives(sim, targets, exclude)
    assert idx.tolist() == [[0, 3, 4]] * 200
    # fewer allowed columns than negatives: fillers are flagged invalid
    head.negative_pool = 5
    small = sim[:4, :4]
    idx, valid = head.mine_negatives(small, targets[:4],
                                     exclude[:4, :4])
    assert valid.sum(1).tolist() == [2] * 4


@pytest.mark.parametrize('encoder_grad', [True, False])
def test_pmd_encoder_grad_switch(encoder_grad):
    model = _rice(
        pmd_head=dict(type='PMDHead', embed_dims=16, num_heads=2,
                      num_query_tokens=5, num_negatives=2, v2i_weight=0.5,
                      encoder_grad=encoder_grad),
        pfr_head=dict(type='PFRHead', num_heads=2, tokens_per_frame=5))
    inputs, samples = _batch()
    losses = model.loss(inputs, samples)
    (losses['loss_pmd'] + losses['loss_pmd_v2i']).backward(retain_graph=True)
    named = dict(model.named_parameters())
    enc = named['encoder.backbone.ln1.weight'].grad
    assert (enc is not None and enc.abs().sum() > 0) == encoder_grad
    head = named['pmd_head.cross_attn.q.weight'].grad
    assert head is not None and head.abs().sum() > 0
    # PFR reads PMD's attention: it reaches the encoder only through it
    model.zero_grad()
    losses['loss_pfr'].backward(retain_graph=True)
    enc = named['encoder.backbone.ln1.weight'].grad
    assert (enc is not None and enc.abs().sum() > 0) == encoder_grad
    assert named['pmd_head.cross_attn.k.weight'].grad.abs().sum() > 0
    # ICL trains the encoder either way
    model.zero_grad()
    losses['loss_icl'].backward()
    assert named['encoder.backbone.ln1.weight'].grad.abs().sum() > 0


def test_frozen_modules_stay_fixed_while_pmd_trains():
    model = _rice(
        pmd_head=dict(type='PMDHead', embed_dims=16, num_heads=2,
                      num_query_tokens=5, num_negatives=2, v2i_weight=0.5),
        pfr_head=dict(type='PFRHead', num_heads=2, tokens_per_frame=5),
        frozen_modules=('encoder', 'icl_head'))
    model.train()
    assert not model.encoder.training and not model.icl_head.training
    assert model.pmd_head.training
    before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    inputs, samples = _batch()
    losses = model.loss(inputs, samples)
    sum(losses.values()).backward()
    for name, p in model.named_parameters():
        if name.startswith(('encoder.', 'icl_head.')):
            assert not p.requires_grad and p.grad is None, name
    assert model.pmd_head.cross_attn.q.weight.grad.abs().sum() > 0
    assert model.pfr_head.conv1.weight.grad.abs().sum() > 0
    # eval-mode encoder: the training forward gives the test-time tokens
    after = model.encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    with torch.no_grad():
        _, tok, _, vid, _ = model.extract_pair(
            inputs['image'], inputs['frames'], inputs['frame_mask'], None)
        model.eval()
        _, tok_eval, _, vid_eval, _ = model.extract_pair(
            inputs['image'], inputs['frames'], inputs['frame_mask'], None)
    assert torch.equal(tok, tok_eval) and torch.equal(vid, vid_eval)
    with pytest.raises(ValueError, match='not a submodule'):
        _rice(frozen_modules=('backbone', ))
