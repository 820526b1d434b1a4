"""Procedural shop products for the toy LPR4M set.

A product is a shape (given by its category), a body colour, a surface
pattern and a small logo. The products of one livestream share the shape
family and a base hue, so they differ only in fine-grained details: a shade
of the colour, the pattern, or the logo. :func:`render_sprite` draws a
product as an RGBA sprite that the scene renderer places into frames and shop
images.
"""
import colorsys
import math
from typing import List, NamedTuple, Tuple

import cv2
import numpy as np

SHAPES = ('dress', 'bottle', 'pouch', 'tshirt', 'tube', 'shoe', 'box', 'ring',
          'bag', 'jar', 'pot', 'watch', 'trousers', 'hat', 'phone', 'star')
PATTERNS = ('plain', 'stripes', 'diagonal', 'dots', 'checks', 'band')
GLYPHS = ('circle', 'triangle', 'square', 'cross', 'diamond', 'letter')
LOGO_POSITIONS = ('top', 'centre', 'bottom')

# Hue buckets (degrees) → colour words used by ASR and titles.
COLOUR_WORDS = [
    (15, 'red', '红色'), (45, 'orange', '橙色'), (70, 'yellow', '黄色'),
    (160, 'green', '绿色'), (200, 'cyan', '青色'), (250, 'blue', '蓝色'),
    (290, 'purple', '紫色'), (335, 'pink', '粉色'), (360, 'red', '红色')
]
PATTERN_WORDS = {
    'plain': ('plain', '纯色'),
    'stripes': ('striped', '条纹'),
    'diagonal': ('twill', '斜纹'),
    'dots': ('polka dot', '波点'),
    'checks': ('checked', '格子'),
    'band': ('two-tone', '撞色'),
}


class Product(NamedTuple):
    """The look of one shop product; every field is a plain value."""
    shape: str
    aspect: float  # height / width of the body
    hue: float  # degrees in [0, 360)
    saturation: float  # [0, 1]
    value: float  # [0, 1]
    pattern: str
    pattern_period: float  # fraction of the sprite size
    pattern_hue_shift: float  # degrees
    glyph: str
    glyph_letter: str
    logo_position: str

    def colour_words(self) -> Tuple[str, str]:
        shade_en = 'light ' if self.value > 0.8 else (
            'dark ' if self.value < 0.6 else '')
        shade_zh = '浅' if self.value > 0.8 else ('深' if self.value < 0.6 else '')
        for upper, en, zh in COLOUR_WORDS:
            if self.hue < upper:
                return shade_en + en, shade_zh + zh
        return shade_en + 'red', shade_zh + '红色'

    def pattern_words(self) -> Tuple[str, str]:
        return PATTERN_WORDS[self.pattern]


def hsv_to_rgb(hue: float, sat: float, val: float) -> Tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb((hue % 360) / 360.0, min(max(sat, 0), 1),
                                  min(max(val, 0), 1))
    return int(r * 255), int(g * 255), int(b * 255)


def sample_shop(rng: np.random.Generator, shape: str,
                num_products: int) -> List[Product]:
    """Sample ``num_products`` look-alike products for one livestream shop.

    The shop shares a shape, an aspect ratio and a base hue. Products are
    distinct combinations of (shade, pattern, logo), so two products of the
    same shop always differ in at least one fine-grained attribute, and
    usually in only one or two.
    """
    base_hue = float(rng.uniform(0, 360))
    aspect = float(rng.uniform(0.9, 1.3))
    base_sat = float(rng.uniform(0.45, 0.8))
    hue_offsets = (-16.0, -8.0, 0.0, 8.0, 16.0)
    values = (0.55, 0.7, 0.85)
    # A shop uses a few patterns and glyphs, so many products share them.
    patterns = list(rng.choice(PATTERNS, size=3, replace=False))
    glyphs = list(rng.choice(GLYPHS, size=3, replace=False))
    combos = [(h, v, p, g) for h in hue_offsets for v in values
              for p in patterns for g in glyphs]
    order = rng.permutation(len(combos))[:num_products]
    products = []
    for idx in order:
        dh, val, pattern, glyph = combos[idx]
        products.append(
            Product(
                shape=shape,
                aspect=aspect,
                hue=(base_hue + dh) % 360,
                saturation=base_sat + float(rng.uniform(-0.05, 0.05)),
                value=val,
                pattern=str(pattern),
                pattern_period=float(rng.uniform(0.09, 0.16)),
                pattern_hue_shift=float(rng.choice([150.0, 180.0, 30.0])),
                glyph=str(glyph),
                glyph_letter=chr(ord('A') + int(rng.integers(0, 26))),
                logo_position=str(rng.choice(LOGO_POSITIONS))))
    return products


def _shape_mask(shape: str, size: int, aspect: float) -> np.ndarray:
    """Binary mask (size, size) uint8 of a shape family."""
    m = np.zeros((size, size), np.uint8)
    s = size
    h = min(0.9, 0.62 * aspect) * s  # body height
    w = min(0.9, 0.62 / aspect * 1.1) * s
    cx, cy = s / 2, s / 2
    x0, x1 = int(cx - w / 2), int(cx + w / 2)
    y0, y1 = int(cy - h / 2), int(cy + h / 2)

    def poly(points):
        pts = np.array([[int(x * s), int(y * s)] for x, y in points], np.int32)
        cv2.fillPoly(m, [pts], 255)

    if shape == 'bottle':
        cv2.rectangle(m, (x0, int(cy - h / 4)), (x1, y1), 255, -1)
        cv2.ellipse(m, (int(cx), int(cy - h / 4)), (int(w / 2), int(h / 8)), 0,
                    180, 360, 255, -1)
        cv2.rectangle(m, (int(cx - w / 6), y0), (int(cx + w / 6),
                                                 int(cy - h / 4)), 255, -1)
    elif shape == 'jar':
        cv2.rectangle(m, (x0, int(cy - h / 3)), (x1, y1), 255, -1)
        cv2.rectangle(m, (int(x0 + w * 0.08), y0),
                      (int(x1 - w * 0.08), int(cy - h / 3)), 255, -1)
    elif shape == 'tube':
        tw = w * 0.55
        cv2.rectangle(m, (int(cx - tw / 2), y0), (int(cx + tw / 2),
                                                  int(y1 - h * 0.12)), 255, -1)
        poly([((cx - tw / 4) / s, (y1 - h * 0.12) / s),
              ((cx + tw / 4) / s, (y1 - h * 0.12) / s), (cx / s, y1 / s)])
    elif shape == 'box':
        cv2.rectangle(m, (x0, y0), (x1, y1), 255, -1)
    elif shape == 'pouch':
        poly([(0.25, 0.12), (0.75, 0.12), (0.82, 0.88), (0.18, 0.88)])
        cv2.ellipse(m, (int(cx), int(0.86 * s)), (int(0.32 * s), int(0.06 * s)),
                    0, 0, 360, 255, -1)
    elif shape == 'tshirt':
        poly([(0.3, 0.12), (0.7, 0.12), (0.95, 0.32), (0.82, 0.45),
              (0.74, 0.38), (0.74, 0.9), (0.26, 0.9), (0.26, 0.38),
              (0.18, 0.45), (0.05, 0.32)])
    elif shape == 'dress':
        poly([(0.38, 0.08), (0.62, 0.08), (0.64, 0.4), (0.88, 0.92),
              (0.12, 0.92), (0.36, 0.4)])
    elif shape == 'trousers':
        poly([(0.25, 0.08), (0.75, 0.08), (0.82, 0.92), (0.58, 0.92),
              (0.5, 0.4), (0.42, 0.92), (0.18, 0.92)])
    elif shape == 'shoe':
        poly([(0.12, 0.35), (0.42, 0.35), (0.5, 0.55), (0.9, 0.62),
              (0.92, 0.75), (0.1, 0.75)])
    elif shape == 'bag':
        cv2.rectangle(m, (int(0.15 * s), int(0.38 * s)),
                      (int(0.85 * s), int(0.88 * s)), 255, -1)
        cv2.ellipse(m, (int(cx), int(0.38 * s)), (int(0.22 * s), int(0.22 * s)),
                    0, 180, 360, 255, int(0.06 * s))
    elif shape == 'ring':
        cv2.circle(m, (int(cx), int(0.58 * s)), int(0.3 * s), 255,
                   int(0.1 * s))
        poly([(0.38, 0.28), (0.62, 0.28), (0.5, 0.1)])
        cv2.circle(m, (int(cx), int(0.25 * s)), int(0.1 * s), 255, -1)
    elif shape == 'watch':
        cv2.rectangle(m, (int(cx - 0.14 * s), int(0.04 * s)),
                      (int(cx + 0.14 * s), int(0.96 * s)), 255, -1)
        cv2.circle(m, (int(cx), int(cy)), int(0.27 * s), 255, -1)
    elif shape == 'pot':
        cv2.ellipse(m, (int(cx), int(0.55 * s)), (int(0.33 * s), int(0.3 * s)),
                    0, 0, 360, 255, -1)
        cv2.rectangle(m, (int(0.06 * s), int(0.42 * s)),
                      (int(0.94 * s), int(0.5 * s)), 255, -1)
    elif shape == 'hat':
        cv2.ellipse(m, (int(cx), int(0.65 * s)), (int(0.45 * s), int(0.1 * s)),
                    0, 0, 360, 255, -1)
        cv2.ellipse(m, (int(cx), int(0.62 * s)), (int(0.26 * s), int(0.3 * s)),
                    0, 180, 360, 255, -1)
    elif shape == 'phone':
        cv2.rectangle(m, (int(cx - w * 0.38), y0), (int(cx + w * 0.38), y1),
                      255, -1)
    elif shape == 'star':
        pts = []
        for k in range(10):
            r = 0.44 if k % 2 == 0 else 0.2
            a = -math.pi / 2 + k * math.pi / 5
            pts.append((0.5 + r * math.cos(a), 0.52 + r * math.sin(a)))
        poly(pts)
    else:
        raise ValueError(f'unknown shape {shape!r}')
    return m


def render_sprite(product: Product, size: int) -> np.ndarray:
    """Draw a product as an RGBA sprite.

    Args:
        product: the product to draw.
        size: side of the square sprite in pixels.

    Returns:
        np.ndarray: (size, size, 4) uint8, RGB in channels 0-2 and the
        opacity in channel 3.
    """
    mask = _shape_mask(product.shape, size, product.aspect)
    body = np.array(hsv_to_rgb(product.hue, product.saturation, product.value),
                    np.float32)
    accent = np.array(
        hsv_to_rgb(product.hue + product.pattern_hue_shift,
                   product.saturation * 0.9,
                   min(1.0, product.value + 0.15)), np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    period = max(product.pattern_period, 2.5 / size)
    if product.pattern == 'plain':
        sel = np.zeros_like(xx, bool)
    elif product.pattern == 'stripes':
        sel = (yy / period) % 1.0 < 0.4
    elif product.pattern == 'diagonal':
        sel = ((xx + yy) / period) % 1.0 < 0.4
    elif product.pattern == 'dots':
        sel = (((xx / period) % 1.0 - 0.5)**2 +
               ((yy / period) % 1.0 - 0.5)**2) < 0.07
    elif product.pattern == 'checks':
        sel = ((np.floor(xx / period) + np.floor(yy / period)) % 2) == 0
    elif product.pattern == 'band':
        sel = (yy > 0.45) & (yy < 0.62)
    else:
        raise ValueError(f'unknown pattern {product.pattern!r}')
    rgb = np.where(sel[..., None], accent, body)
    # Soft top-to-bottom shading gives the flat shape some volume.
    rgb = rgb * (1.08 - 0.22 * yy)[..., None]

    # Logo: a small glyph in a contrasting colour.
    ys, xs = np.nonzero(mask)
    if len(ys):
        cx = int(xs.mean())
        top, bottom = ys.min(), ys.max()
        cy = {
            'top': int(top + 0.25 * (bottom - top)),
            'centre': int((top + bottom) / 2),
            'bottom': int(top + 0.75 * (bottom - top))
        }[product.logo_position]
        r = max(2, int(0.09 * size))
        logo_rgb = (255.0, 255.0, 255.0) if product.value < 0.75 else (20.0,
                                                                      20.0,
                                                                      20.0)
        logo = np.zeros((size, size), np.uint8)
        if product.glyph == 'circle':
            cv2.circle(logo, (cx, cy), r, 255, -1)
        elif product.glyph == 'square':
            cv2.rectangle(logo, (cx - r, cy - r), (cx + r, cy + r), 255, -1)
        elif product.glyph == 'triangle':
            pts = np.array([[cx, cy - r], [cx - r, cy + r], [cx + r, cy + r]],
                           np.int32)
            cv2.fillPoly(logo, [pts], 255)
        elif product.glyph == 'diamond':
            pts = np.array([[cx, cy - r], [cx - r, cy], [cx, cy + r],
                            [cx + r, cy]], np.int32)
            cv2.fillPoly(logo, [pts], 255)
        elif product.glyph == 'cross':
            t = max(1, r // 2)
            cv2.rectangle(logo, (cx - r, cy - t // 2), (cx + r, cy + t // 2),
                          255, -1)
            cv2.rectangle(logo, (cx - t // 2, cy - r), (cx + t // 2, cy + r),
                          255, -1)
        elif product.glyph == 'letter':
            cv2.putText(logo, product.glyph_letter, (cx - r, cy + r),
                        cv2.FONT_HERSHEY_SIMPLEX, r / 11.0, 255,
                        max(1, int(r / 4)), cv2.LINE_AA)
        else:
            raise ValueError(f'unknown glyph {product.glyph!r}')
        rgb[logo > 127] = logo_rgb
    # Dark outline.
    edge = cv2.morphologyEx(mask, cv2.MORPH_GRADIENT,
                            np.ones((3, 3), np.uint8)) > 0
    rgb[edge] *= 0.45
    sprite = np.zeros((size, size, 4), np.uint8)
    sprite[..., :3] = np.clip(rgb, 0, 255).astype(np.uint8)
    sprite[..., 3] = mask
    return sprite
