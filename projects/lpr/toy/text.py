"""ASR transcripts and shop titles for the toy LPR4M set.

Both carry the product's category and attribute words (colour shade,
pattern, logo) in Chinese and English, wrapped in livestream chatter. Like
real ASR they are noisy: words get dropped or misrecognised, some clips talk
about another product of the shop (misleading), and some have no speech.
"""
from typing import List, Optional

import numpy as np

from .categories import Category
from .products import Product

_FILLER_ZH = ['家人们', '宝宝们', '今天给大家推荐', '三二一上链接', '库存不多了', '喜欢的扣1',
              '直播间福利', '看一下这个', '性价比超高', '赶紧下单']
_FILLER_EN = ['hey guys', 'link is up', 'only a few left', 'check this out',
              'best price today', 'welcome to the live', 'add to cart now']
_GLYPH_WORDS = {
    'circle': ('round logo', '圆形标志'),
    'triangle': ('triangle logo', '三角标志'),
    'square': ('square logo', '方形标志'),
    'cross': ('cross logo', '十字标志'),
    'diamond': ('diamond logo', '菱形标志'),
    'letter': ('letter logo', '字母标志'),
}
_BRANDS = ['Lumi', 'Yoyo', 'Kira', 'Mofan', 'Aster', 'Nuo', 'Pilo', 'Zhen',
           'Orio', 'Vela', 'Tanto', 'Mika']
_ASR_CONFUSIONS = {'色': '涩', '条': '跳', '点': '电', 'dot': 'dog',
                   'red': 'read', 'blue': 'blew', 'logo': 'local'}


def product_words(product: Product, category: Category,
                  rng: np.random.Generator) -> List[str]:
    """Category and attribute words of a product, each in a random language."""

    def pick(pair):
        return pair[0] if rng.random() < 0.4 else pair[1]

    words = [pick(product.colour_words()), pick(product.pattern_words())]
    if rng.random() < 0.6:
        words.append(pick(_GLYPH_WORDS[product.glyph]))
        if product.glyph == 'letter':
            words.append(product.glyph_letter)
    words.append(pick((category.name_en, category.name_zh)))
    return words


def _noisy(tokens: List[str], rng: np.random.Generator,
           error_rate: float) -> List[str]:
    out = []
    for tok in tokens:
        r = rng.random()
        if r < error_rate / 2:
            continue  # dropped word
        if r < error_rate:
            for src, dst in _ASR_CONFUSIONS.items():
                if src in tok:
                    tok = tok.replace(src, dst, 1)
                    break
        out.append(tok)
    return out


def make_asr(product: Product, category: Category, other: Optional[Product],
             rng: np.random.Generator) -> str:
    """ASR transcript of a clip.

    Args:
        product: the intended product.
        category: its category.
        other: another product of the same shop, talked about in a
            misleading transcript (``None`` if the shop has no other).
        rng: random generator.

    Returns:
        str: the transcript; empty for clips without speech.
    """
    r = rng.random()
    if r < 0.1:
        return ''
    subject = product
    if r < 0.25 and other is not None:
        subject = other  # the host talks about another product
    tokens = [str(rng.choice(_FILLER_ZH))]
    if rng.random() < 0.4:
        tokens.append(str(rng.choice(_FILLER_EN)))
    if rng.random() < 0.85:  # sometimes only chatter
        tokens += product_words(subject, category, rng)
    tokens.append(str(rng.choice(_FILLER_ZH)))
    if rng.random() < 0.3:
        tokens.append(str(rng.choice(_FILLER_EN)))
    return ' '.join(_noisy(tokens, rng, error_rate=0.1))


def make_title(product: Product, category: Category,
               rng: np.random.Generator) -> str:
    """Shop title of a product image: brand, attributes and category."""
    brand = str(rng.choice(_BRANDS))
    words = product_words(product, category, rng)
    tail = ['新款', '正品', '2024', 'hot sale', '包邮']
    extra = [str(rng.choice(tail))] if rng.random() < 0.6 else []
    return ' '.join([brand] + words + extra)
