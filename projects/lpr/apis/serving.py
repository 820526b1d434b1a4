"""An HTTP service for an :class:`~lpr.apis.LPRInferencer` (FastAPI).

``GET /health`` → the loaded galleries; ``POST /recognize`` (multipart:
``frames`` image files or one ``video`` file, optional ``live_id`` and
``topk`` fields) → the clip's ranked shop images as JSON. Malformed
requests get a 4xx JSON ``{"detail": message}``.
"""
import os
import os.path as osp
import tempfile
import threading
import time
from typing import Dict, List, Optional

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from .gallery_index import GalleryIndex
from .inferencer import LPRInferencer
from .inputs import ClipReader, decode_image

DEFAULT_LIVE_ID = 'default'


class RequestError(Exception):
    """A request the service refuses (status code and message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _parse_topk(value: Optional[str], default: int) -> int:
    if value is None or value == '':
        return default
    try:
        topk = int(value)
    except ValueError:
        raise RequestError(400, f'topk must be a positive integer, got '
                           f'{value!r}') from None
    if topk < 1:
        raise RequestError(400, f'topk must be a positive integer, got '
                           f'{topk}')
    return topk


def _read_upload(upload: UploadFile, limit: int) -> bytes:
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        raise RequestError(413, f'{upload.filename or "upload"} exceeds '
                           f'{limit} bytes')
    return data


def create_app(inferencer: LPRInferencer,
               galleries: Dict[str, GalleryIndex],
               default_topk: int = 5,
               max_frames: int = 64,
               max_upload_bytes: int = 200 * 2**20) -> FastAPI:
    """The recognition service.

    Args:
        inferencer: the model (one request at a time runs it).
        galleries: ``{live_id: index}``; with one gallery, ``live_id`` may
            be left out of requests.
        default_topk: images returned when a request gives no ``topk``.
        max_frames: the most frame files one request may upload.
        max_upload_bytes: the largest file one request may upload.

    Returns:
        FastAPI: the app (serve it with uvicorn).

    Raises:
        ValueError: no gallery, or a gallery the model cannot rank.
    """
    if not galleries:
        raise ValueError('the service needs at least one gallery')
    for index in galleries.values():
        inferencer.load_gallery(index)  # checks weights and tokens
    app = FastAPI(title='LPR recognition',
                  description='Rank a shop\'s images for a livestream clip.')
    lock = threading.Lock()

    @app.exception_handler(RequestError)
    async def _refused(request: Request, exc: RequestError):
        return JSONResponse(status_code=exc.status,
                            content=dict(detail=exc.message))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        problems = '; '.join(
            f'{".".join(str(p) for p in e.get("loc", ()))}: {e.get("msg")}'
            for e in exc.errors())
        return JSONResponse(status_code=422,
                            content=dict(detail=problems or 'invalid request'))

    @app.get('/health')
    def health() -> dict:
        return dict(
            status='ok',
            model=inferencer.config_name,
            weights_sha256=inferencer.weights_sha256,
            galleries={live: len(g) for live, g in galleries.items()})

    @app.post('/recognize')
    def recognize(frames: Optional[List[UploadFile]] = File(None),
                  video: Optional[UploadFile] = File(None),
                  live_id: Optional[str] = Form(None),
                  topk: Optional[str] = Form(None)) -> dict:
        start = time.perf_counter()
        k = _parse_topk(topk, default_topk)
        if live_id:
            if live_id not in galleries:
                raise RequestError(
                    404, f'unknown live_id {live_id!r}; loaded: '
                    f'{", ".join(sorted(galleries))}')
        elif len(galleries) == 1:
            live_id = next(iter(galleries))
        else:
            raise RequestError(
                400, 'several galleries are loaded; give live_id (one of '
                f'{", ".join(sorted(galleries))})')
        frames = [f for f in (frames or []) if f is not None]
        if frames and video is not None:
            raise RequestError(400, 'send frames or a video, not both')
        if not frames and video is None:
            raise RequestError(400, 'no frames and no video uploaded')
        if len(frames) > max_frames:
            raise RequestError(413, f'{len(frames)} frames uploaded; at most '
                               f'{max_frames}')
        try:
            if video is not None:
                data = _read_upload(video, max_upload_bytes)
                if not data:
                    raise RequestError(400, 'the video upload is empty')
                suffix = osp.splitext(video.filename or '')[1] or '.mp4'
                with tempfile.TemporaryDirectory() as tmp:
                    path = osp.join(tmp, 'clip' + suffix)
                    with open(path, 'wb') as f:
                        f.write(data)
                    with lock:
                        result = inferencer(path, gallery=galleries[live_id],
                                            topk=k)
            else:
                arrays, names = [], []
                for i, upload in enumerate(frames):
                    name = upload.filename or f'frame {i}'
                    try:
                        arrays.append(
                            decode_image(
                                _read_upload(upload, max_upload_bytes),
                                f'frame {name!r}'))
                    except ValueError as e:
                        raise RequestError(400, str(e)) from None
                    names.append(osp.splitext(osp.basename(name))[0])
                # Frames keep their upload order; their ids are the file
                # names when those are unique.
                ids = names if len(set(names)) == len(names) else None
                clip = ClipReader(arrays, name='upload', frame_ids=ids)
                with lock:
                    result = inferencer(clip, gallery=galleries[live_id],
                                        topk=k)
        except ValueError as e:  # unreadable video, no readable frame...
            raise RequestError(400, str(e)) from None
        prediction = result['predictions'][0]
        prediction.pop('clip_id', None)
        return dict(
            live_id=live_id,
            latency_ms=round(1000 * (time.perf_counter() - start), 1),
            **prediction)

    return app


def parse_gallery_specs(specs: List[str]) -> Dict[str, str]:
    """``['[LIVE_ID=]INDEX_OR_FOLDER', ...]`` → ``{live_id: path}``.

    A spec that is an existing path is never split, so paths holding ``=``
    work; a single spec without ``LIVE_ID=`` is named ``'default'``.

    Raises:
        ValueError: several specs without ids, a repeated id or an empty
            part.
    """
    out: Dict[str, str] = {}
    for spec in specs:
        if '=' in spec and not os.path.exists(spec):
            live, path = spec.split('=', 1)
            if not live or not path:
                raise ValueError(f'--gallery {spec!r}: expected '
                                 'LIVE_ID=INDEX_OR_FOLDER')
        else:
            if len(specs) > 1:
                raise ValueError('several galleries: name each one as '
                                 'LIVE_ID=INDEX_OR_FOLDER')
            live, path = DEFAULT_LIVE_ID, spec
        if live in out:
            raise ValueError(f'live id {live!r} is given twice')
        out[live] = path
    return out
