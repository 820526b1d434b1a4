"""Inference API: rank a shop's images for livestream clips with a trained
retriever (``LPRInferencer``), gallery indexes encoded once
(``GalleryIndex``), and the HTTP service (``lpr.apis.serving``, needs the
``serve`` extra)."""
from .frame_detector import FrameDetector
from .gallery_index import GalleryIndex, GalleryMismatchError, weights_sha256
from .inferencer import LPRInferencer, check_topk
from .inputs import ClipReader, decode_image
from .model_index import list_models, resolve_config

__all__ = [
    'LPRInferencer', 'GalleryIndex', 'GalleryMismatchError', 'FrameDetector',
    'ClipReader', 'check_topk', 'decode_image', 'list_models',
    'resolve_config', 'weights_sha256'
]
