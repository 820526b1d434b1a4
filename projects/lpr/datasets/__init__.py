from .annotations import (AnnotationError, ParseReport, VideoInfo,
                          find_annotation, load_box_file, load_frame_boxes,
                          load_gallery, load_gt_images, load_id_text_pairs,
                          load_training_videoinfo, parse_videoinfo_row)
from .boxes import BOX_FORMATS, normalise_boxes
from .diversity import (DURATION_TYPES, NUMBER_TYPES, SCALE_TYPES,
                        product_number_type, product_scale_type,
                        visible_duration_type)
from .ids import (is_uuid, live_id_of, parse_clip_id, parse_frame_id)
from .clip_index import ClipIndex
from .det_coco import convert_test, convert_training
from .det_datasets import LPR4MDetDataset, LPR4MVideoDetDataset
from .drops import MAX_DROP_RATIO, TooManyDropped
from .frame_store import FolderStore, ShardStore, build_store
from .lpr4m import (LPR4MGalleryDataset, LPR4MPairDataset,
                    LPR4MQueryDataset, check_queries_against_gallery)
from .movingfashion import MovingFashionDataset, MovingFashionGalleryDataset
from .samplers import LiveGroupedSampler
from .shop_image_dataset import LPR4MShopImageDataset
from .transforms import *  # noqa: F401,F403

__all__ = [
    'AnnotationError', 'ParseReport', 'VideoInfo', 'find_annotation',
    'LPR4MDetDataset', 'LPR4MVideoDetDataset',
    'load_frame_boxes', 'load_gallery', 'load_gt_images', 'load_box_file',
    'BOX_FORMATS', 'normalise_boxes', 'MAX_DROP_RATIO', 'TooManyDropped',
    'load_id_text_pairs', 'load_training_videoinfo', 'parse_videoinfo_row',
    'DURATION_TYPES', 'NUMBER_TYPES', 'SCALE_TYPES', 'product_number_type',
    'product_scale_type', 'visible_duration_type', 'is_uuid', 'live_id_of',
    'parse_clip_id', 'parse_frame_id', 'LPR4MShopImageDataset', 'ClipIndex',
    'FolderStore', 'ShardStore', 'build_store', 'LPR4MGalleryDataset',
    'LPR4MPairDataset', 'LPR4MQueryDataset', 'check_queries_against_gallery',
    'convert_test', 'convert_training', 'MovingFashionDataset',
    'MovingFashionGalleryDataset', 'LiveGroupedSampler'
]
