"""Generate a toy LPR4M dataset in the official LPR4M file formats.

Layout of the output folder (``N`` = counts, as in the official names)::

    annotations/
      training_videoinfo_full_part_00.txt ...  # 11 tab-separated fields
      test_videoid_asr_N.txt                   # video_id \\t asr
      test_image_title_N.txt                   # image_id \\t title
      test_videoid_to_gtimage_N.json           # {video_id: [image_id, ...]}
      test_frameid2gtbox_N_M.json              # {frame_id: [[x1,y1,x2,y2], ...]}
      test_liveid_to_gallery_N.json            # {live_id: [image_id, ...]}
      test_videoid_to_diversity_N.json         # toy extra: types, category
      training_frame_url_full_N.txt  training_image_url_full_N.txt
      test_frame_url_N.txt  test_image_url_N.txt
    training_frames/<clip_id>/<frame_id>.jpg   training_images/<image_id>.jpg
    test_frames/<clip_id>/<frame_id>.jpg       test_images/<image_id>.jpg
    shards/<url list name>/00000/000000000.{jpg,json}   # with ``shards=True``
    meta.json                                  # settings, categories, stats

Boxes are normalised ``[x1, y1, x2, y2]``. In the training rows each frame has
one box (the intended product's), ``[0, 0, 0, 0]`` when it is not in view; the
test box file lists the boxes of every frame that shows the product.

With ``box_format='pixel'`` the set is encoded like the LPR4M release
instead: boxes are in pixels of an original frame ``original_scale`` times
the rendered size, the frame folders hold the frames at that original size,
and the img2dataset shards hold them resized back to the rendered size with
``original_width``/``original_height`` in their JSON (as img2dataset writes
a resized download). The rendered content, the boxes' positions and the
diversity types are those of the normalised set with the same seed.

Every livestream is rendered from its own seed derived from
``(seed, split, index)``, so the output is byte-identical for a seed whatever
the number of worker processes.
"""
import hashlib
import json
import os
import os.path as osp
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, fields
from multiprocessing import Pool
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from ..datasets.diversity import (product_number_type, product_scale_type,
                                  visible_duration_type)
from ..utils.progress import ProgressBar
from .categories import CATEGORIES, category_weights
from .products import render_sprite, sample_shop
from .scenes import render_clip, render_room, render_shop_image
from .text import make_asr, make_title

URL_PREFIX = 'https://toy-lpr4m.invalid/bs2/ad-material-video/'
SPLITS = {'training': 0, 'test': 1}
SCALE_AREAS = {
    'small': (0.03, 0.14),
    'medium': (0.24, 0.36),
    'large': (0.5, 0.72)
}
VISIBLE_RATIOS = {'short': (0.15, 0.4), 'medium': (0.5, 0.7), 'long': (0.8, 1)}
DISTRACTORS = {'few': (0, 2), 'medium': (3, 6), 'abundant': (8, 10)}


@dataclass
class ToyConfig:
    """Size and content settings of a toy LPR4M set."""
    seed: int = 0
    train_lives: int = 24
    test_lives: int = 8
    products_per_live: int = 8
    gallery_extra: int = 2  # shop products never shown in a test clip
    train_clips_per_product: int = 3
    test_clips_per_product: int = 2
    train_frames: Tuple[int, int] = (6, 14)  # min, max frames (1 fps)
    test_frames: Tuple[int, int] = (4, 10)  # min, max frames (1 per 3 s)
    resolution: int = 128  # short side; frames are 9:16 portrait
    image_size: int = 128  # square shop images
    second_listing_prob: float = 0.15  # product with two shop images
    two_units_prob: float = 0.1  # clip shows two units of the product
    title_prob: float = 0.6  # test image with a title
    num_parts: int = 10  # training videoinfo part files
    shards: bool = False  # also pack frames/images as img2dataset shards
    shard_size: int = 10000
    box_format: str = 'normalised'  # or 'pixel' (boxes of the original frame)
    original_scale: float = 2.5  # original / rendered frame size ('pixel')
    jpeg_quality: int = 90
    workers: int = 1

    @property
    def frame_size(self) -> Tuple[int, int]:
        """(width, height) of a rendered frame."""
        return self.resolution, int(round(self.resolution * 16 / 9))

    @property
    def original_size(self) -> Tuple[int, int]:
        """(width, height) of a frame in the folders (and of its pixel
        boxes): the rendered size, times ``original_scale`` with pixel
        boxes."""
        width, height = self.frame_size
        if self.box_format == 'normalised':
            return width, height
        return (int(round(width * self.original_scale)),
                int(round(height * self.original_scale)))


PRESETS: Dict[str, Dict] = {
    'tests':
    dict(
        train_lives=3,
        test_lives=2,
        products_per_live=4,
        gallery_extra=1,
        train_clips_per_product=2,
        test_clips_per_product=1,
        train_frames=(4, 8),
        test_frames=(3, 6),
        resolution=64,
        image_size=64,
        num_parts=3,
        shards=True,
        shard_size=40,
        second_listing_prob=0.3,
        two_units_prob=0.2),
    # The README's main job: 512 test queries (one query moves R@k by
    # 0.2 points).
    'demo':
    dict(test_lives=16, test_clips_per_product=4),
    # tools/analysis_tools/rice_benchmark.py: 1,024 test queries from 32
    # livestreams, twice the demo's training livestreams.
    'benchmark':
    dict(train_lives=48, test_lives=32, test_clips_per_product=4),
}


def make_config(preset: str = 'demo', **overrides) -> ToyConfig:
    if preset not in PRESETS:
        raise KeyError(f'unknown preset {preset!r}; choose from '
                       f'{sorted(PRESETS)}')
    values = dict(PRESETS[preset])
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in fields(ToyConfig)}
    unknown = set(values) - known
    if unknown:
        raise TypeError(f'unknown toy settings: {sorted(unknown)}')
    if values.get('box_format', 'normalised') not in ('normalised', 'pixel'):
        raise ValueError("box_format must be 'normalised' or 'pixel', got "
                         f"{values['box_format']!r}")
    if values.get('original_scale', 2.5) < 1:
        raise ValueError('original_scale must be at least 1 (img2dataset '
                         'stores frames resized down)')
    return ToyConfig(**values)


def _uuid(rng: np.random.Generator) -> str:
    """A version-1-shaped UUID (8-4-4-4-12 hex) drawn from ``rng``."""
    return str(uuid.UUID(bytes=rng.bytes(16), version=1))


def _norm_box(box, width: int, height: int) -> List[float]:
    x1, y1, x2, y2 = box
    return [
        round(min(max(x1 / width, 0.0), 1.0), 4),
        round(min(max(y1 / height, 0.0), 1.0), 4),
        round(min(max(x2 / width, 0.0), 1.0), 4),
        round(min(max(y2 / height, 0.0), 1.0), 4)
    ]


def _encode_box(box: List[float], cfg: ToyConfig) -> List[float]:
    """A normalised box in the set's box encoding."""
    if cfg.box_format == 'normalised' or not any(box):
        return box
    w, h = cfg.original_size
    return [
        round(box[0] * w, 2),
        round(box[1] * h, 2),
        round(box[2] * w, 2),
        round(box[3] * h, 2)
    ]


def _write_jpeg(path: str, rgb: np.ndarray, quality: int) -> None:
    ok, buf = cv2.imencode('.jpg', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                           [int(cv2.IMWRITE_JPEG_QUALITY), quality])
    if not ok:
        raise RuntimeError(f'JPEG encoding failed for {path}')
    with open(path, 'wb') as f:
        f.write(buf.tobytes())


def _render_live(args: Tuple[str, int, ToyConfig, str]) -> Dict:
    """Render one livestream (shop images and clips) and return its records."""
    split, index, cfg, out_dir = args
    rng = np.random.default_rng(
        np.random.SeedSequence([cfg.seed, SPLITS[split], index]))
    width, height = cfg.frame_size
    category = CATEGORIES[int(
        rng.choice(len(CATEGORIES), p=category_weights()))]
    live_id = _uuid(rng)
    n_shown = cfg.products_per_live
    n_extra = cfg.gallery_extra if split == 'test' else 0
    products = sample_shop(rng, category.shape, n_shown + n_extra)
    sprite_size = max(48, 2 * max(cfg.resolution, cfg.image_size) // 2)
    sprites = [render_sprite(p, sprite_size) for p in products]

    image_dir = osp.join(out_dir, f'{split}_images')
    frame_dir = osp.join(out_dir, f'{split}_frames')
    images = []  # one record per shop image
    listings: List[List[str]] = []
    for pid, (product, sprite) in enumerate(zip(products, sprites)):
        n_listings = 2 if rng.random() < cfg.second_listing_prob else 1
        ids = []
        for variant in range(n_listings):
            image_id = _uuid(rng)
            img = render_shop_image(rng, sprite, cfg.image_size, variant)
            _write_jpeg(
                osp.join(image_dir, f'{image_id}.jpg'), img, cfg.jpeg_quality)
            has_title = split == 'training' or rng.random() < cfg.title_prob
            images.append(
                dict(
                    image_id=image_id,
                    product=pid,
                    title=make_title(product, category, rng)
                    if has_title else '',
                    width=cfg.image_size,
                    height=cfg.image_size))
            ids.append(image_id)
        listings.append(ids)

    room = render_room(rng, width, height)
    live_start = 1_660_000_000_000 + int(rng.integers(0, 10**10))
    clock = live_start + int(rng.integers(60_000, 600_000))
    clips_per_product = (
        cfg.train_clips_per_product
        if split == 'training' else cfg.test_clips_per_product)
    lo, hi = cfg.train_frames if split == 'training' else cfg.test_frames
    step_ms = 1000 if split == 'training' else 3000
    clips = []
    order = [(pid, k) for pid in range(n_shown)
             for k in range(clips_per_product)]
    order = [order[i] for i in rng.permutation(len(order))]
    for pid, _ in order:
        n_frames = int(rng.integers(lo, hi + 1))
        scale_mode = str(rng.choice(list(SCALE_AREAS), p=[0.4, 0.35, 0.25]))
        dur_mode = str(rng.choice(list(VISIBLE_RATIOS), p=[0.2, 0.3, 0.5]))
        num_mode = str(rng.choice(list(DISTRACTORS), p=[0.45, 0.35, 0.2]))
        n_dis = int(rng.integers(DISTRACTORS[num_mode][0],
                                 DISTRACTORS[num_mode][1] + 1))
        others = [i for i in range(len(products)) if i != pid]
        dis_ids = [others[i % len(others)] for i in rng.permutation(
            max(n_dis, 1))[:n_dis]] if others else []
        frames, annos = render_clip(
            rng,
            room,
            sprites[pid], [sprites[i] for i in dis_ids],
            n_frames,
            width,
            height,
            scale_range=SCALE_AREAS[scale_mode],
            visible_ratio=float(rng.uniform(*VISIBLE_RATIOS[dur_mode])),
            two_units=bool(rng.random() < cfg.two_units_prob))
        start = clock
        end = start + n_frames * step_ms - int(rng.integers(1, step_ms))
        clock = end + int(rng.integers(5_000, 120_000))
        clip_id = f'{live_id}-{start}-{end}'
        os.makedirs(osp.join(frame_dir, clip_id), exist_ok=True)
        frame_ids, frame_boxes, counts = [], [], []
        for f, (frame, anno) in enumerate(zip(frames, annos)):
            frame_id = f'{clip_id}-{f * step_ms // 1000:04d}'
            if cfg.original_size != (width, height):
                frame = cv2.resize(
                    frame, cfg.original_size, interpolation=cv2.INTER_CUBIC)
            _write_jpeg(
                osp.join(frame_dir, clip_id, f'{frame_id}.jpg'), frame,
                cfg.jpeg_quality)
            frame_ids.append(frame_id)
            frame_boxes.append(
                [_norm_box(b, width, height) for b in anno.intended_boxes])
            counts.append(anno.num_products)
        other = products[others[int(rng.integers(0, len(others)))]] \
            if others else None
        # Positive image of a training clip: one of the product's listings.
        pos = listings[pid][int(rng.integers(0, len(listings[pid])))]
        clips.append(
            dict(
                clip_id=clip_id,
                product=pid,
                frame_ids=frame_ids,
                frame_boxes=frame_boxes,
                asr=make_asr(products[pid], category, other, rng),
                positive=pos,
                gt_images=list(listings[pid]),
                scale=product_scale_type(frame_boxes),
                duration=visible_duration_type(frame_boxes),
                num_products=product_number_type(counts),
                width=width,
                height=height))
    gallery = [img['image_id'] for img in images]
    gallery = [gallery[i] for i in rng.permutation(len(gallery))]
    return dict(
        split=split,
        index=index,
        live_id=live_id,
        category=category.id,
        images=images,
        clips=clips,
        gallery=gallery)


def _clean(text: str) -> str:
    return ' '.join(text.replace('\t', ' ').split())


def _write_lines(path: str, lines: List[str]) -> None:
    with open(path, 'w', encoding='utf-8', newline='\n') as f:
        for line in lines:
            f.write(line + '\n')


def _write_json(path: str, obj) -> None:
    with open(path, 'w', encoding='utf-8', newline='\n') as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write('\n')


def _write_shards(out_dir: str,
                  name: str,
                  urls: List[str],
                  files: List[str],
                  shard_size: int,
                  stored_size: Optional[Tuple[int, int]] = None,
                  quality: int = 90,
                  progress: Optional[ProgressBar] = None) -> None:
    """Pack files as img2dataset ``--output_format files`` shards; files of
    another size than ``stored_size`` (width, height) are resized to it, as
    img2dataset does, and keep their size as ``original_width/height``.
    ``progress`` advances by one per file."""
    for i, (url, src) in enumerate(zip(urls, files)):
        if progress is not None:
            progress.update()
        shard, idx = divmod(i, shard_size)
        key = f'{shard:05d}{idx:04d}'
        shard_dir = osp.join(out_dir, 'shards', name, f'{shard:05d}')
        os.makedirs(shard_dir, exist_ok=True)
        with open(src, 'rb') as f:
            data = f.read()
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        orig_h, orig_w = img.shape[:2]
        if stored_size is not None and (orig_w, orig_h) != stored_size:
            img = cv2.resize(img, stored_size, interpolation=cv2.INTER_AREA)
            ok, buf = cv2.imencode('.jpg', img,
                                   [int(cv2.IMWRITE_JPEG_QUALITY), quality])
            data = buf.tobytes()
        with open(osp.join(shard_dir, key + '.jpg'), 'wb') as f:
            f.write(data)
        h, w = img.shape[:2]
        meta = dict(
            url=url,
            key=key,
            status='success',
            error_message=None,
            width=w,
            height=h,
            original_width=orig_w,
            original_height=orig_h,
            exif='{}',
            sha256=hashlib.sha256(data).hexdigest())
        with open(osp.join(shard_dir, key + '.json'), 'w') as f:
            json.dump(meta, f, indent=1)


def generate(out_dir: str, cfg: ToyConfig, progress: bool = True) -> Dict:
    """Write a toy LPR4M set to ``out_dir`` and return its statistics.

    Args:
        out_dir: the output folder.
        cfg: see :func:`make_config`.
        progress: show progress bars (rendering, shards) on stdout.
    """
    show = None if progress else False  # None: the main process shows
    for sub in ('annotations', 'training_frames', 'training_images',
                'test_frames', 'test_images'):
        os.makedirs(osp.join(out_dir, sub), exist_ok=True)
    tasks = [('training', i, cfg, out_dir) for i in range(cfg.train_lives)]
    tasks += [('test', i, cfg, out_dir) for i in range(cfg.test_lives)]
    bar = ProgressBar(len(tasks), desc='rendering toy livestreams',
                      unit='lives', enabled=show)
    if cfg.workers > 1:
        with Pool(cfg.workers) as pool:
            lives = []
            for live in pool.imap(_render_live, tasks, chunksize=1):
                lives.append(live)
                bar.update()
    else:
        lives = []
        for t in tasks:
            lives.append(_render_live(t))
            bar.update()
    bar.finish()
    train = [lv for lv in lives if lv['split'] == 'training']
    test = [lv for lv in lives if lv['split'] == 'test']
    ann = osp.join(out_dir, 'annotations')

    # Training videoinfo, split into part files like the official release.
    rows = []
    for live in train:
        titles = {im['image_id']: im['title'] for im in live['images']}
        cat = CATEGORIES[live['category']]
        for clip in live['clips']:
            boxes = [
                _encode_box(b[0], cfg) if b else [0, 0, 0, 0]
                for b in clip['frame_boxes']
            ]
            rows.append('\t'.join([
                clip['clip_id'],
                json.dumps(clip['frame_ids']),
                json.dumps(boxes),
                clip['positive'],
                _clean(titles[clip['positive']]),
                str(cat.id),
                cat.name_zh,
                _clean(clip['asr']),
                clip['scale'],
                clip['duration'],
                clip['num_products'],
            ]))
    parts = np.array_split(np.arange(len(rows)), max(1, cfg.num_parts))
    for p, idx in enumerate(parts):
        _write_lines(
            osp.join(ann, f'training_videoinfo_full_part_{p:02d}.txt'),
            [rows[i] for i in idx])

    # Test files.
    queries = [clip for live in test for clip in live['clips']]
    nq = len(queries)
    _write_lines(
        osp.join(ann, f'test_videoid_asr_{nq}.txt'),
        [f"{c['clip_id']}\t{_clean(c['asr'])}" for c in queries])
    titled = [(im['image_id'], im['title']) for live in test
              for im in live['images'] if im['title']]
    _write_lines(
        osp.join(ann, f'test_image_title_{len(titled)}.txt'),
        [f'{i}\t{_clean(t)}' for i, t in titled])
    _write_json(
        osp.join(ann, f'test_videoid_to_gtimage_{nq}.json'),
        {c['clip_id']: c['gt_images']
         for c in queries})
    frame2box = {
        fid: [_encode_box(b, cfg) for b in boxes]
        for c in queries for fid, boxes in zip(c['frame_ids'],
                                               c['frame_boxes']) if boxes
    }
    _write_json(
        osp.join(ann, f'test_frameid2gtbox_{nq}_{len(frame2box)}.json'),
        frame2box)
    _write_json(
        osp.join(ann, f'test_liveid_to_gallery_{len(test)}.json'),
        {live['live_id']: live['gallery']
         for live in test})
    _write_json(
        osp.join(ann, f'test_videoid_to_diversity_{nq}.json'), {
            c['clip_id']: dict(
                scale=c['scale'],
                duration=c['duration'],
                num_products=c['num_products'],
                category_id=live['category'])
            for live in test for c in live['clips']
        })

    # URL lists (and optional img2dataset shards) in the official order.
    url_lists = {}
    for split, lives_ in (('training', train), ('test', test)):
        frame_files = [(fid, osp.join(out_dir, f'{split}_frames',
                                      c['clip_id'], f'{fid}.jpg'))
                       for lv in lives_ for c in lv['clips']
                       for fid in c['frame_ids']]
        image_files = [(im['image_id'],
                        osp.join(out_dir, f'{split}_images',
                                 f"{im['image_id']}.jpg")) for lv in lives_
                       for im in lv['images']]
        full = '_full' if split == 'training' else ''
        url_lists[f'{split}_frame_url{full}_{len(frame_files)}'] = frame_files
        url_lists[f'{split}_image_url{full}_{len(image_files)}'] = image_files
    bar = ProgressBar(
        sum(len(items) for items in url_lists.values()) if cfg.shards else 0,
        desc='writing img2dataset shards', unit='files',
        enabled=show if cfg.shards else False)
    for name, items in url_lists.items():
        urls = [URL_PREFIX + i + '.jpg' for i, _ in items]
        _write_lines(osp.join(ann, name + '.txt'), urls)
        if cfg.shards:
            frames = '_frame_url' in name
            _write_shards(out_dir, name, urls, [p for _, p in items],
                          cfg.shard_size,
                          cfg.frame_size if frames else None,
                          cfg.jpeg_quality, bar)
    bar.finish()

    stats = compute_stats(train, test)
    meta = dict(
        generator='lpr toy LPR4M',
        config=asdict(cfg),
        frame_size=list(cfg.frame_size),
        original_frame_size=list(cfg.original_size),
        categories=[c._asdict() for c in CATEGORIES],
        stats=stats)
    meta['config'].pop('workers')  # the output does not depend on it
    _write_json(osp.join(out_dir, 'meta.json'), meta)
    return stats


def compute_stats(train: List[Dict], test: List[Dict]) -> Dict:
    """Counts and distributions of the generated set."""
    stats: Dict = {}
    for split, lives in (('training', train), ('test', test)):
        clips = [c for lv in lives for c in lv['clips']]
        frames = [b for c in clips for b in c['frame_boxes']]
        stats[split] = dict(
            livestreams=len(lives),
            clips=len(clips),
            frames=len(frames),
            frames_with_product=sum(1 for b in frames if b),
            boxes=sum(len(b) for b in frames),
            shop_images=sum(len(lv['images']) for lv in lives),
            products_with_two_images=sum(
                1 for lv in lives
                for pid in {im['product'] for im in lv['images']}
                if sum(im['product'] == pid for im in lv['images']) > 1),
            clips_with_asr=sum(1 for c in clips if c['asr']),
            images_with_title=sum(1 for lv in lives for im in lv['images']
                                  if im['title']),
            categories=dict(
                sorted(Counter(CATEGORIES[lv['category']].name_en
                               for lv in lives).items(),
                       key=lambda kv: -kv[1])),
            scale=dict(Counter(c['scale'] for c in clips)),
            duration=dict(Counter(c['duration'] for c in clips)),
            num_products=dict(Counter(c['num_products'] for c in clips)),
        )
        if split == 'test':
            sizes = [len(lv['gallery']) for lv in lives]
            stats[split]['gallery_per_live'] = (sum(sizes) /
                                                max(1, len(sizes)))
    return stats


def format_stats(stats: Dict) -> str:
    """A human-readable summary of :func:`compute_stats`."""
    lines = []
    for split in ('training', 'test'):
        s = stats[split]
        lines.append(
            f"[{split}] {s['livestreams']} livestreams, {s['clips']} clips, "
            f"{s['frames']} frames ({s['frames_with_product']} show the "
            f"product, {s['boxes']} boxes), {s['shop_images']} shop images "
            f"({s['products_with_two_images']} products with 2 images)")
        lines.append(f"  text: {s['clips_with_asr']}/{s['clips']} clips with "
                     f"ASR, {s['images_with_title']}/{s['shop_images']} "
                     f'images with a title')
        if 'gallery_per_live' in s:
            lines.append(
                f"  gallery: {s['gallery_per_live']:.1f} images per live "
                f"(chance R@1 = {100 / s['gallery_per_live']:.1f}%)")
        lines.append('  categories: ' + ', '.join(
            f'{k} {v}' for k, v in s['categories'].items()))
        for key in ('scale', 'duration', 'num_products'):
            lines.append(f'  {key}: ' + ', '.join(
                f'{k} {v}' for k, v in sorted(s[key].items())))
    return '\n'.join(lines)


__all__ = [
    'ToyConfig', 'PRESETS', 'make_config', 'generate', 'compute_stats',
    'format_stats', 'URL_PREFIX'
]
