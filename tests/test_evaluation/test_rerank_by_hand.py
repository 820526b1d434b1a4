"""``RICE.rank`` re-ranking against numbers worked out by hand: only the
top-K moves, by ``(1 - w) * z(cosine) + w * z(PMD)``."""
import pytest
import torch

from tiny_rice import build_tiny_rice, stub_pmd

# Gallery of 5 one-hot embeddings; query 0 prefers g0 > g1 > ... > g4 and
# query 1 the reverse, with cosines 0.5, 0.4, 0.3, 0.2, 0.1.
IMAGE_EMB = torch.eye(5)
CLIP_EMB = torch.tensor([[0.5, 0.4, 0.3, 0.2, 0.1],
                         [0.1, 0.2, 0.3, 0.4, 0.5]])
# PMD's score of image i for query q is IMAGE_TOKENS[i, 0, q]: for each
# query's top 3 it is (2, 8, 5) in cosine order, so z(PMD) = (-1, 1, 0)
# (mean 5, sample std 3), while z(cosine) = (1, 0, -1) (mean 0.4, std 0.1).
# Outside the top 3 PMD loves (+100) or hates (-100) the images.
PMD_BY_QUERY = torch.tensor([
    [2., -100.],   # g0
    [8., 100.],    # g1
    [5., 5.],      # g2
    [100., 8.],    # g3
    [-100., 2.],   # g4
])
IMAGE_TOKENS = torch.zeros(5, 2, 4)
IMAGE_TOKENS[:, 0, :2] = PMD_BY_QUERY
CLIP_TOKENS = torch.zeros(2, 3, 4)
CLIP_TOKENS[1, 0, 0] = 1.0  # which column query q reads
CLIP_VALID = torch.ones(2, 3, dtype=torch.bool)


def _stub(img, clip, valid):
    pick = clip[:, 0, 0]  # 0 for query 0, 1 for query 1
    return img[:, 0, 0] * (1 - pick) + img[:, 0, 1] * pick


def _rank(weight, top_k=3, batch_pairs=128):
    model = build_tiny_rice(
        rerank=dict(top_k=top_k, weight=weight, batch_pairs=batch_pairs))
    model.pmd_head = stub_pmd(_stub)
    return model.rank(CLIP_EMB, IMAGE_EMB, CLIP_TOKENS, CLIP_VALID,
                      IMAGE_TOKENS)


@pytest.mark.parametrize('weight, top, fused', [
    # fused = (1 - w) * (1, 0, -1) + w * (-1, 1, 0) for the top 3 in
    # cosine order (query 0: g0, g1, g2; query 1: g4, g3, g2).
    (0.0, [0, 1, 2], [1.0, 0.0, -1.0]),
    (0.25, [0, 1, 2], [0.5, 0.25, -0.75]),
    (0.5, [1, 0, 2], [0.5, 0.0, -0.5]),
    (0.75, [1, 2, 0], [0.75, -0.25, -0.5]),
    (1.0, [1, 2, 0], [1.0, 0.0, -1.0]),
])
@pytest.mark.parametrize('batch_pairs', [128, 3])  # 2 queries at once / 1
def test_rerank_fuses_z_scores_of_the_top_k_only(weight, top, fused,
                                                 batch_pairs):
    scores, order = _rank(weight, batch_pairs=batch_pairs)
    mirror = {0: 4, 1: 3, 2: 2}  # query 1's top 3 in cosine order
    assert order[0].tolist() == top + [3, 4]
    assert order[1].tolist() == [mirror[i] for i in top] + [1, 0]
    # The top 3 carry the fused scores; the rest keep their cosines.
    for q in range(2):
        assert scores[q].tolist() == pytest.approx(fused + [0.2, 0.1],
                                                   abs=1e-5)


def test_rerank_off_keeps_the_cosine_ranking():
    scores, order = _rank(0.75, top_k=1)
    assert order.tolist() == [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0]]
    assert scores[0].tolist() == pytest.approx([0.5, 0.4, 0.3, 0.2, 0.1])


def test_rerank_with_a_real_decoder_matches_its_pair_scores():
    """The decoder's scores of each query's top-K pairs, z-scored and fused
    by hand, give RICE.rank's order and scores."""
    model = build_tiny_rice(rerank=dict(top_k=4, weight=0.6, batch_pairs=4))
    g = torch.Generator().manual_seed(0)
    image_emb = torch.nn.functional.normalize(torch.randn(6, 8, generator=g),
                                              dim=1)
    clip_emb = torch.nn.functional.normalize(torch.randn(3, 8, generator=g),
                                             dim=1)
    image_tok = torch.randn(6, 5, 8, generator=g)
    clip_tok = torch.randn(3, 10, 8, generator=g)
    clip_valid = torch.ones(3, 10, dtype=torch.bool)
    clip_valid[0, 5:] = False
    scores, order = model.rank(clip_emb, image_emb, clip_tok, clip_valid,
                               image_tok)
    cos = clip_emb @ image_emb.T
    for q in range(3):
        top = cos[q].argsort(descending=True)[:4]
        pmd = model.pair_scores(image_tok[top], clip_tok[q].expand(4, -1, -1),
                                clip_valid[q].expand(4, -1))

        def z(x):
            return (x - x.mean()) / x.std()

        fused = 0.4 * z(cos[q, top]) + 0.6 * z(pmd)
        resort = fused.argsort(descending=True)
        assert order[q, :4].tolist() == top[resort].tolist()
        assert torch.allclose(scores[q, :4], fused[resort], atol=1e-4)
        rest = cos[q].argsort(descending=True)[4:]
        assert order[q, 4:].tolist() == rest.tolist()
    # PMD changed at least one query's top-K order.
    assert any(order[q, :4].tolist() != cos[q].argsort(
        descending=True)[:4].tolist() for q in range(3))
