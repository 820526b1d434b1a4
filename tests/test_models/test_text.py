"""Offline tokenizer, vocabulary tool, text encoder and text in RICE."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import lpr  # noqa: F401
from lpr.text import (LPRTextEncoder, LPRTokenizer, build_vocab, load_vocab,
                      save_vocab, split_text)

ROOT = Path(__file__).resolve().parents[2]


def test_split_text_mixes_characters_and_words():
    assert split_text('浅红色 Polka-dot 香水x2!') == [
        '浅', '红', '色', 'polka', 'dot', '香', '水', 'x2'
    ]
    assert split_text('') == [] and split_text(None) == []


def test_vocab_order_and_round_trip(tmp_path):
    tokens = build_vocab(['b a a', 'a c', 'c'], min_freq=2)
    assert tokens == ['[PAD]', '[UNK]', '[CLS]', 'a', 'c']
    path = tmp_path / 'v.txt'
    save_vocab(tokens, str(path))
    assert load_vocab(str(path)) == tokens
    tok = LPRTokenizer(str(path), max_length=3)
    ids, mask = tok(['a b c', ''])
    # [CLS] a [UNK] (truncated to 3); empty text: [CLS] alone.
    assert ids.tolist() == [[2, 3, 1], [2, 0, 0]]
    assert mask.tolist() == [[True, True, True], [True, False, False]]
    (tmp_path / 'bad.txt').write_text('a\nb\n')
    with pytest.raises(ValueError, match='bad.txt'):
        load_vocab(str(tmp_path / 'bad.txt'))


def test_hash_tokenizer_is_stable_and_in_range():
    tok = LPRTokenizer(num_buckets=16)
    a, _ = tok(['红色 logo'])
    b, _ = LPRTokenizer(num_buckets=16)(['红色 logo'])
    assert torch.equal(a, b)
    assert a[0, 1:].min() >= 3 and a[0, 1:].max() < 3 + 16
    assert tok.vocab_size == 19


def test_text_encoder_shapes_and_padding_invariance():
    enc = LPRTextEncoder(embed_dims=16, num_heads=2, num_buckets=32,
                         dropout=0.0).eval()
    out = enc(['红色 条纹 香水', '', '蓝色'])
    assert out.shape == (3, 16)
    # A text's embedding does not depend on the other texts of the batch.
    alone = enc(['蓝色'])
    assert torch.allclose(out[2], alone[0], atol=1e-5)


def test_vocab_tool_on_toy_annotations(toy_root, tmp_path):
    out = tmp_path / 'vocab.txt'
    subprocess.run([
        sys.executable, str(ROOT / 'tools/misc/build_text_vocab.py'),
        str(toy_root), '--out', str(out)
    ], check=True, capture_output=True)
    tokens = load_vocab(str(out))
    assert len(tokens) > 20 and '色' in tokens
    bad = tmp_path / 'ann'
    bad.mkdir()
    (bad / 'training_videoinfo_full_part_00.txt').write_text('only\tthree\tfields\n')
    proc = subprocess.run([
        sys.executable, str(ROOT / 'tools/misc/build_text_vocab.py'),
        str(tmp_path), '--ann-files', 'ann/*.txt', '--out', str(out)
    ], capture_output=True, text=True)
    assert proc.returncode != 0
    assert 'training_videoinfo_full_part_00.txt:1' in proc.stderr


def _rice_with_text():
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(
            dict(
                type='RICE',
                encoder=dict(
                    type='TokenEncoder', in_channels=16, embed_dims=16,
                    backbone=dict(
                        type='ResNet', depth=18, base_channels=2,
                        stem_channels=2, out_indices=(3, ))),
                pmd_head=dict(type='PMDHead', embed_dims=16, num_heads=2,
                              num_query_tokens=2),
                pfr_head=dict(type='PFRHead', num_heads=2,
                              tokens_per_frame=2),
                text_encoder=dict(type='LPRTextEncoder', embed_dims=8,
                                  num_heads=2, num_buckets=64)))


def test_text_reaches_pmd_and_gets_gradients():
    model = _rice_with_text()
    inputs = dict(
        image=torch.randn(4, 3, 32, 32),
        frames=torch.randn(4, 2, 3, 32, 32),
        frame_mask=torch.ones(4, 2, dtype=torch.bool))
    samples = [
        DataSample(metainfo=dict(image_id=str(i), title=f'标题 {i}',
                                 asr='' if i == 0 else f'红色 {i}'))
        for i in range(4)
    ]
    losses = model.loss(inputs, samples)
    assert set(losses) == {'loss_icl', 'loss_pmd', 'loss_pfr'}
    sum(losses.values()).backward()
    for name in ('text_encoder.token_embed.weight', 'text_proj.title.weight',
                 'text_proj.asr.weight'):
        grad = dict(model.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, name
    # At test time the title is the last query token, the ASR the last key.
    model.eval()
    out = model.predict(inputs, samples)
    n_img = out[0].image_tokens.shape[0]
    assert n_img == 2 + 1
    assert out[0].clip_tokens.shape[0] == 2 * 2 + 1
    assert bool(out[0].clip_valid[-1])


def test_text_needs_pmd():
    with pytest.raises(ValueError, match='pmd_head'):
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            MODELS.build(
                dict(type='RICE',
                     encoder=dict(type='TokenEncoder', in_channels=16,
                                  embed_dims=16,
                                  backbone=dict(type='ResNet', depth=18,
                                                base_channels=2,
                                                stem_channels=2,
                                                out_indices=(3, ))),
                     text_encoder=dict(type='LPRTextEncoder', embed_dims=8,
                                       num_heads=2)))
