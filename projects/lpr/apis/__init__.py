"""Inference API: rank a shop's images for livestream clips with a trained
retriever (``LPRInferencer``), gallery indexes encoded once
(``GalleryIndex``), online recognition of a stream (``FrameStream``,
``StreamRecognizer``), and the HTTP service (``lpr.apis.serving``, needs the
``serve`` extra)."""
from .frame_detector import FrameDetector
from .frame_stream import FrameStream, StreamFrame
from .gallery_index import GalleryIndex, GalleryMismatchError, weights_sha256
from .inferencer import LPRInferencer, check_topk
from .inputs import ClipReader, decode_image
from .lpr4m_queries import (LPR4MLive, LPR4MQuery, load_test_live,
                            load_test_query)
from .model_index import list_models, resolve_config
from .stream_recognizer import StreamRecognizer

__all__ = [
    'LPRInferencer', 'GalleryIndex', 'GalleryMismatchError', 'FrameDetector',
    'ClipReader', 'FrameStream', 'StreamFrame', 'StreamRecognizer',
    'LPR4MLive', 'LPR4MQuery', 'load_test_live', 'load_test_query',
    'check_topk', 'decode_image', 'list_models', 'resolve_config',
    'weights_sha256'
]
