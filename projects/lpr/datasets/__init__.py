from .annotations import (AnnotationError, ParseReport, VideoInfo,
                          find_annotation, load_frame_boxes, load_gallery,
                          load_gt_images, load_id_text_pairs,
                          load_training_videoinfo, parse_videoinfo_row)
from .diversity import (DURATION_TYPES, NUMBER_TYPES, SCALE_TYPES,
                        product_number_type, product_scale_type,
                        visible_duration_type)
from .ids import (is_uuid, live_id_of, parse_clip_id, parse_frame_id)
from .shop_image_dataset import LPR4MShopImageDataset

__all__ = [
    'AnnotationError', 'ParseReport', 'VideoInfo', 'find_annotation',
    'load_frame_boxes', 'load_gallery', 'load_gt_images',
    'load_id_text_pairs', 'load_training_videoinfo', 'parse_videoinfo_row',
    'DURATION_TYPES', 'NUMBER_TYPES', 'SCALE_TYPES', 'product_number_type',
    'product_scale_type', 'visible_duration_type', 'is_uuid', 'live_id_of',
    'parse_clip_id', 'parse_frame_id', 'LPR4MShopImageDataset'
]
