from .text_encoder import LPRTextEncoder
from .tokenizer import (LPRTokenizer, build_vocab, load_vocab, save_vocab,
                        split_text)

__all__ = [
    'LPRTextEncoder', 'LPRTokenizer', 'build_vocab', 'load_vocab',
    'save_vocab', 'split_text'
]
