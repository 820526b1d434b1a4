"""An offline tokenizer for live-commerce text (ASR and product titles).

LPR4M text mixes Chinese and English. Chinese is split into single
characters (no word segmenter needed), Latin text into lower-cased words and
digit runs; punctuation and spaces separate tokens. Tokens map to ids
through a vocabulary file (one token per line, built from the annotations
by ``tools/misc/build_text_vocab.py``) or, without one, through a stable
hash into a fixed number of buckets, so a config works before any
vocabulary exists. Nothing is downloaded.
"""
import re
import zlib
from collections import Counter
from typing import Iterable, List, Optional, Sequence, Tuple

import torch

PAD, UNK, CLS = '[PAD]', '[UNK]', '[CLS]'
SPECIAL_TOKENS = (PAD, UNK, CLS)

# CJK ideographs (+ extension A, compatibility), kana and hangul: one token
# per character. Everything else: runs of letters/digits.
_CJK = ('\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af'
        '\uf900-\ufaff')
_TOKEN_RE = re.compile(f'[{_CJK}]|[^\\W{_CJK}_]+', re.UNICODE)


def split_text(text: str) -> List[str]:
    """Split text into tokens: CJK characters and lower-cased words.

    >>> split_text('浅红色 Polka-dot 香水x2!')
    ['浅', '红', '色', 'polka', 'dot', '香', '水', 'x2']
    """
    return _TOKEN_RE.findall((text or '').lower())


def build_vocab(texts: Iterable[str],
                min_freq: int = 1,
                max_size: Optional[int] = None) -> List[str]:
    """Special tokens, then tokens by decreasing frequency (ties: first
    seen), keeping those seen at least ``min_freq`` times."""
    counts: Counter = Counter()
    for text in texts:
        counts.update(split_text(text))
    tokens = [t for t, n in counts.most_common() if n >= min_freq]
    if max_size is not None:
        tokens = tokens[:max(0, max_size - len(SPECIAL_TOKENS))]
    return list(SPECIAL_TOKENS) + tokens


def save_vocab(tokens: Sequence[str], path: str) -> None:
    with open(path, 'w', encoding='utf-8') as f:
        f.write('\n'.join(tokens) + '\n')


def load_vocab(path: str) -> List[str]:
    with open(path, encoding='utf-8') as f:
        tokens = [line.rstrip('\n') for line in f if line.strip()]
    missing = [t for t in SPECIAL_TOKENS if t not in tokens[:3]]
    if missing:
        raise ValueError(f'{path}: a vocabulary starts with '
                         f'{SPECIAL_TOKENS}, missing {missing}')
    return tokens


class LPRTokenizer:
    """Text → padded token ids, with a leading ``[CLS]``.

    Args:
        vocab_file: a vocabulary file (``None``: hash buckets).
        num_buckets: ids used by hashing when there is no vocabulary.
        max_length: tokens kept per text, ``[CLS]`` included.
    """

    def __init__(self,
                 vocab_file: Optional[str] = None,
                 num_buckets: int = 8192,
                 max_length: int = 32) -> None:
        if max_length < 2:
            raise ValueError('max_length must leave room for a token')
        self.max_length = max_length
        if vocab_file:
            tokens = load_vocab(vocab_file)
            self.token_to_id = {t: i for i, t in enumerate(tokens)}
            self.vocab_size = len(tokens)
        else:
            self.token_to_id = None
            self.vocab_size = len(SPECIAL_TOKENS) + num_buckets
        self.num_buckets = num_buckets

    def token_id(self, token: str) -> int:
        if self.token_to_id is not None:
            return self.token_to_id.get(token, SPECIAL_TOKENS.index(UNK))
        bucket = zlib.crc32(token.encode('utf-8')) % self.num_buckets
        return len(SPECIAL_TOKENS) + bucket

    def encode(self, text: str) -> List[int]:
        ids = [self.token_id(t) for t in split_text(text)]
        return [SPECIAL_TOKENS.index(CLS)] + ids[:self.max_length - 1]

    def __call__(self,
                 texts: Sequence[str]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Encode a batch.

        Returns:
            tuple: ids (B, L) long and a validity mask (B, L) bool, L the
            longest encoded text (at most ``max_length``).
        """
        encoded = [self.encode(t) for t in texts]
        length = max((len(e) for e in encoded), default=1)
        ids = torch.zeros(len(encoded), length, dtype=torch.long)
        mask = torch.zeros(len(encoded), length, dtype=torch.bool)
        for i, e in enumerate(encoded):
            ids[i, :len(e)] = torch.tensor(e)
            mask[i, :len(e)] = True
        return ids, mask
