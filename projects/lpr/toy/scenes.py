"""Livestream frames and shop images for the toy LPR4M set.

A livestream is a room (wall, shelves with clutter, a table) with a host in
front. A clip shows one intended product that the host moves around: its
scale, position and rotation change from frame to frame, the light and white
balance drift, frames get blurred, a hand may cover part of the product, and
in some frames the product is out of view. Other products of the same shop
lie on the table as distractors. Shop images show a product alone on a clean
studio background.
"""
import math
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import cv2
import numpy as np

Box = Tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels


class Placement(NamedTuple):
    """Where a sprite goes: centre (pixels), side of the sprite square
    (pixels), rotation (degrees, counter-clockwise)."""
    cx: float
    cy: float
    side: float
    angle: float


def paste_sprite(canvas: np.ndarray, sprite: np.ndarray,
                 place: Placement) -> Tuple[Optional[Box], float]:
    """Alpha-blend an RGBA sprite into ``canvas`` in place.

    Args:
        canvas: (H, W, 3) float32 RGB image.
        sprite: (S, S, 4) uint8 RGBA sprite.
        place: centre, size and rotation of the sprite in the canvas.

    Returns:
        tuple: the tight box of the visible (in-canvas) opaque pixels, or
        ``None`` when nothing is visible, and the visible fraction of the
        sprite's opaque area.
    """
    h, w = canvas.shape[:2]
    size = sprite.shape[0]
    scale = place.side / size
    mat = cv2.getRotationMatrix2D((size / 2, size / 2), place.angle, scale)
    mat[0, 2] += place.cx - size / 2
    mat[1, 2] += place.cy - size / 2
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]],
                       np.float64) @ mat.T
    x0 = max(0, int(math.floor(corners[:, 0].min())))
    y0 = max(0, int(math.floor(corners[:, 1].min())))
    x1 = min(w, int(math.ceil(corners[:, 0].max())) + 1)
    y1 = min(h, int(math.ceil(corners[:, 1].max())) + 1)
    full_area = float(sprite[..., 3].sum()) / 255.0 * scale * scale
    if x1 <= x0 or y1 <= y0 or full_area <= 0:
        return None, 0.0
    mat[0, 2] -= x0
    mat[1, 2] -= y0
    warped = cv2.warpAffine(
        sprite, mat, (x1 - x0, y1 - y0),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0, 0))
    alpha = warped[..., 3:4].astype(np.float32) / 255.0
    roi = canvas[y0:y1, x0:x1]
    roi *= 1.0 - alpha
    roi += alpha * warped[..., :3].astype(np.float32)
    opaque = alpha[..., 0] > 0.5
    visible = float(alpha.sum()) / full_area
    if not opaque.any():
        return None, visible
    ys, xs = np.nonzero(opaque)
    box = (float(x0 + xs.min()), float(y0 + ys.min()), float(x0 + xs.max() + 1),
           float(y0 + ys.max() + 1))
    return box, min(1.0, visible)


def _muted(rng: np.random.Generator, lo: float = 60,
           hi: float = 200) -> Tuple[float, float, float]:
    return tuple(float(v) for v in rng.uniform(lo, hi, size=3))


def render_room(rng: np.random.Generator, width: int,
                height: int) -> Dict[str, np.ndarray]:
    """Draw the static part of a livestream room.

    Returns:
        dict: ``wall`` (H, W, 3) float32 background with shelves and clutter,
        ``table_y`` (int) the top of the table, and host colours.
    """
    wall_top = np.array(_muted(rng, 120, 230), np.float32)
    wall_bottom = wall_top * rng.uniform(0.6, 0.9)
    t = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    room = wall_top * (1 - t) + wall_bottom * t
    room = np.repeat(room, width, axis=1).astype(np.float32)
    # Shelves with clutter (boxes, bottles, circles in muted colours).
    for shelf in range(int(rng.integers(1, 3))):
        sy = int(height * (0.15 + 0.18 * shelf + rng.uniform(-0.03, 0.03)))
        cv2.rectangle(room, (0, sy), (width, sy + max(2, height // 60)),
                      _muted(rng, 40, 110), -1)
        x = int(rng.integers(0, max(1, width // 8)))
        while x < width:
            iw = int(rng.integers(width // 16 + 1, width // 6 + 2))
            ih = int(rng.integers(height // 20 + 1, height // 9 + 2))
            colour = _muted(rng, 50, 220)
            if rng.random() < 0.5:
                cv2.rectangle(room, (x, sy - ih), (x + iw, sy), colour, -1)
            else:
                cv2.circle(room, (x + iw // 2, sy - iw // 2), iw // 2, colour,
                           -1)
            x += iw + int(rng.integers(1, width // 10 + 2))
    table_y = int(height * rng.uniform(0.72, 0.8))
    cv2.rectangle(room, (0, table_y), (width, height), _muted(rng, 70, 160),
                  -1)
    return dict(
        wall=room,
        table_y=np.int64(table_y),
        skin=np.array(
            [rng.uniform(180, 235),
             rng.uniform(130, 180),
             rng.uniform(100, 150)], np.float32),
        shirt=np.array(_muted(rng, 30, 220), np.float32))


def draw_host(canvas: np.ndarray, room: Dict[str, np.ndarray],
              cx: float) -> None:
    """Draw the host (torso and head) behind the table."""
    h, w = canvas.shape[:2]
    skin = tuple(float(v) for v in room['skin'])
    shirt = tuple(float(v) for v in room['shirt'])
    table_y = int(room['table_y'])
    cv2.ellipse(canvas, (int(cx), table_y), (int(0.32 * w), int(0.3 * h)), 0,
                180, 360, shirt, -1)
    cv2.ellipse(canvas, (int(cx), int(table_y - 0.38 * h)),
                (int(0.12 * w), int(0.09 * h)), 0, 0, 360, skin, -1)


def draw_hand(canvas: np.ndarray, box: Box, skin: np.ndarray,
              rng: np.random.Generator) -> None:
    """Draw a hand that covers part of ``box`` (partial occlusion)."""
    x1, y1, x2, y2 = box
    bw, bh = x2 - x1, y2 - y1
    side = rng.integers(0, 4)
    cover = rng.uniform(0.2, 0.45)
    if side == 0:  # from the left
        cx, cy = x1 + cover * bw - 0.25 * bw, y1 + rng.uniform(0.3, 0.7) * bh
    elif side == 1:  # from the right
        cx, cy = x2 - cover * bw + 0.25 * bw, y1 + rng.uniform(0.3, 0.7) * bh
    elif side == 2:  # from below
        cx, cy = x1 + rng.uniform(0.3, 0.7) * bw, y2 - cover * bh + 0.25 * bh
    else:  # from above
        cx, cy = x1 + rng.uniform(0.3, 0.7) * bw, y1 + cover * bh - 0.25 * bh
    colour = tuple(float(v) for v in skin)
    axes = (max(2, int(0.28 * bw)), max(2, int(0.22 * bh)))
    cv2.ellipse(canvas, (int(cx), int(cy)), axes, float(rng.uniform(0, 180)),
                0, 360, colour, -1)


def degrade(frame: np.ndarray, gain: np.ndarray, blur: float,
            motion: bool, noise: float,
            rng: np.random.Generator) -> np.ndarray:
    """Light, blur and sensor noise. Returns uint8 (H, W, 3)."""
    out = frame * gain[None, None, :]
    if blur > 0.3:
        if motion:
            k = max(3, int(blur * 3) | 1)
            kernel = np.zeros((k, k), np.float32)
            kernel[k // 2, :] = 1.0 / k
            rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5),
                                          float(rng.uniform(0, 180)), 1.0)
            kernel = cv2.warpAffine(kernel, rot, (k, k))
            kernel /= max(kernel.sum(), 1e-6)
            out = cv2.filter2D(out, -1, kernel)
        else:
            out = cv2.GaussianBlur(out, (0, 0), blur)
    if noise > 0:
        out = out + rng.normal(0, noise, out.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def render_shop_image(rng: np.random.Generator, sprite: np.ndarray, size: int,
                      variant: int) -> np.ndarray:
    """A shop (gallery) image: the product alone on a studio background.

    ``variant`` 0 is the main listing image (light plain background,
    centred); other variants are secondary listings of the same product with
    another background, framing and a small rotation.
    """
    if variant == 0:
        bg = np.array(rng.uniform(225, 250, size=3), np.float32)
        side = size * rng.uniform(0.72, 0.86)
        place = Placement(size / 2, size / 2, side, 0.0)
    else:
        bg = np.array(rng.uniform(150, 240, size=3), np.float32)
        side = size * rng.uniform(0.55, 0.75)
        place = Placement(size * rng.uniform(0.42, 0.58),
                          size * rng.uniform(0.42, 0.58), side,
                          float(rng.uniform(-15, 15)))
    canvas = np.empty((size, size, 3), np.float32)
    canvas[:] = bg
    yy = np.linspace(0, 1, size, dtype=np.float32)[:, None, None]
    canvas *= 1.0 - 0.08 * yy
    if variant != 0:  # a soft drop shadow
        shadow = Placement(place.cx + 0.04 * size, place.cy + 0.05 * size,
                           place.side, place.angle)
        dark = sprite.copy()
        dark[..., :3] = 60
        dark[..., 3] = (dark[..., 3].astype(np.float32) * 0.35).astype(np.uint8)
        paste_sprite(canvas, dark, shadow)
    paste_sprite(canvas, sprite, place)
    return np.clip(canvas, 0, 255).astype(np.uint8)


class FrameAnnotation(NamedTuple):
    """What one rendered frame contains."""
    intended_boxes: List[Box]  # boxes of the intended product (0, 1 or 2)
    num_products: int  # products visible in the frame, intended included


def render_clip(rng: np.random.Generator, room: Dict[str, np.ndarray],
                intended: np.ndarray, distractors: Sequence[np.ndarray],
                num_frames: int, width: int, height: int,
                scale_range: Tuple[float, float], visible_ratio: float,
                two_units: bool) -> Tuple[List[np.ndarray],
                                          List[FrameAnnotation]]:
    """Render the frames of one clip.

    Args:
        rng: random generator of this clip.
        room: the livestream room from :func:`render_room`.
        intended: RGBA sprite of the intended product.
        distractors: RGBA sprites of other products of the shop lying on the
            table (the clip decides how many are in view).
        num_frames: number of frames.
        width, height: frame size.
        scale_range: range of the intended product's normalised box area.
        visible_ratio: fraction of frames in which the product is in view.
        two_units: the host shows two units of the product side by side.

    Returns:
        tuple: frames as (H, W, 3) uint8 RGB arrays and their annotations.
    """
    # Which frames show the product: a contiguous run (the host holds it up)
    # plus the complement off-screen; at least one frame shows it.
    n_vis = min(num_frames, max(1, int(round(visible_ratio * num_frames))))
    start = int(rng.integers(0, num_frames - n_vis + 1))
    visible = np.zeros(num_frames, bool)
    visible[start:start + n_vis] = True

    # Clip-level camera and light.
    cast = rng.uniform(0.8, 1.2, size=3).astype(np.float32)
    host_x = width * rng.uniform(0.35, 0.65)
    table_y = int(room['table_y'])
    slots = []
    for i, sprite in enumerate(distractors):
        side = width * rng.uniform(0.26, 0.4)
        slots.append((sprite,
                      Placement(
                          width * rng.uniform(0.08, 0.92),
                          table_y + (height - table_y) * rng.uniform(0.2, 0.7)
                          if i % 2 == 0 else table_y - side * 0.3,
                          side, float(rng.uniform(-10, 10)))))
    # Intended product trajectory: smooth drift between two key poses.
    area0, area1 = scale_range

    ys, xs = np.nonzero(intended[..., 3] > 127)
    size = intended.shape[0]
    # Fraction of the sprite square covered by the product's tight box.
    box_frac = ((xs.max() - xs.min() + 1) * (ys.max() - ys.min() + 1) /
                float(size * size)) if len(xs) else 0.5

    def pose(area):
        side = math.sqrt(area * width * height / box_frac)
        return side, float(rng.uniform(0.3, 0.7)) * width, float(
            rng.uniform(0.3, 0.65)) * height

    side_a, xa, ya = pose(rng.uniform(area0, area1))
    side_b, xb, yb = pose(rng.uniform(area0, area1))
    ang_a, ang_b = rng.uniform(-25, 25, size=2)

    frames, annos = [], []
    for f in range(num_frames):
        t = f / max(1, num_frames - 1)
        canvas = room['wall'].copy()
        draw_host(canvas, room, host_x + rng.uniform(-0.02, 0.02) * width)
        count = 0
        for sprite, place in slots:
            jitter = Placement(place.cx + rng.uniform(-1, 1),
                               place.cy + rng.uniform(-1, 1), place.side,
                               place.angle)
            box, vis = paste_sprite(canvas, sprite, jitter)
            count += int(box is not None and vis > 0.5)
        boxes: List[Box] = []
        if visible[f]:
            side = side_a + (side_b - side_a) * t
            cx = xa + (xb - xa) * t + rng.normal(0, 0.02) * width
            cy = ya + (yb - ya) * t + rng.normal(0, 0.02) * height
            ang = ang_a + (ang_b - ang_a) * t + rng.normal(0, 3)
            places = [Placement(cx, cy, side, ang)]
            if two_units:
                places = [
                    Placement(cx - 0.3 * side, cy, side * 0.8, ang),
                    Placement(cx + 0.3 * side, cy + 0.05 * side, side * 0.8,
                              ang + 8)
                ]
            for place in places:
                box, vis = paste_sprite(canvas, intended, place)
                if box is not None and vis > 0.25:
                    boxes.append(box)
            if boxes and rng.random() < 0.3:
                draw_hand(canvas, boxes[0], room['skin'], rng)
        count += len(boxes)
        gain = cast * rng.uniform(0.85, 1.15) * rng.uniform(
            0.95, 1.05, size=3).astype(np.float32)
        blur = float(rng.uniform(0.5, 2.0)) if rng.random() < 0.3 else 0.0
        frame = degrade(canvas, gain.astype(np.float32), blur,
                        bool(rng.random() < 0.5), float(rng.uniform(1, 4)),
                        rng)
        frames.append(frame)
        annos.append(FrameAnnotation(boxes, count))
    return frames, annos
