"""Categories of the toy LPR4M set.

LPR4M draws its pairs from 34 live-commerce categories with a long-tailed
distribution; the release documents the count and the ids, not a name table.
The toy set therefore uses 34 live-commerce categories of its own, each with
a Chinese and an English name (ASR and titles mix both languages, as in
LPR4M) and a product shape family used by the renderer. Category ids are
0-based and ordered from head to tail.
"""
from typing import List, NamedTuple


class Category(NamedTuple):
    id: int
    name_en: str
    name_zh: str
    shape: str  # shape family, see ``products.SHAPES``


_TABLE = [
    ('womens clothing', '女装', 'dress'),
    ('skincare', '护肤', 'bottle'),
    ('snacks', '零食', 'pouch'),
    ('mens clothing', '男装', 'tshirt'),
    ('makeup', '彩妆', 'tube'),
    ('shoes', '鞋靴', 'shoe'),
    ('home goods', '家居', 'box'),
    ('jewelry', '珠宝', 'ring'),
    ('bags', '箱包', 'bag'),
    ('nutrition', '营养保健', 'jar'),
    ('kitchenware', '厨具', 'pot'),
    ('watches', '手表', 'watch'),
    ('trousers', '裤装', 'trousers'),
    ('tea', '茶叶', 'jar'),
    ('hats', '帽子', 'hat'),
    ('phone accessories', '手机配件', 'phone'),
    ('toys', '玩具', 'star'),
    ('perfume', '香水', 'bottle'),
    ('haircare', '洗护', 'tube'),
    ('bedding', '床品', 'box'),
    ('baby products', '母婴', 'pouch'),
    ('sportswear', '运动服', 'tshirt'),
    ('liquor', '酒水', 'bottle'),
    ('fresh fruit', '水果生鲜', 'star'),
    ('pet supplies', '宠物用品', 'pouch'),
    ('underwear', '内衣', 'dress'),
    ('stationery', '文具', 'phone'),
    ('small appliances', '小家电', 'pot'),
    ('glasses', '眼镜', 'watch'),
    ('scarves', '围巾', 'trousers'),
    ('outdoor gear', '户外装备', 'bag'),
    ('cleaning supplies', '清洁用品', 'jar'),
    ('digital devices', '数码', 'phone'),
    ('crafts', '工艺品', 'ring'),
]

CATEGORIES: List[Category] = [
    Category(i, en, zh, shape) for i, (en, zh, shape) in enumerate(_TABLE)
]
NUM_CATEGORIES = len(CATEGORIES)
assert NUM_CATEGORIES == 34


def category_weights(alpha: float = 1.2) -> List[float]:
    """Zipf-like long-tailed sampling weights, head category first."""
    raw = [1.0 / (rank + 1)**alpha for rank in range(NUM_CATEGORIES)]
    total = sum(raw)
    return [w / total for w in raw]
