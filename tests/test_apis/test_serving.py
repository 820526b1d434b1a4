"""tools/deployment/serve.py on a local port: real HTTP requests (frames,
a video, two galleries), and malformed ones answered with a 4xx message."""
import json
import os
import os.path as osp
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import cv2
import pytest

from apis_fixtures import (TOY_CFG, inferencer, random_checkpoint,  # noqa
                           rice_ckpt, toy_live)
from conftest import ROOT, run_env

SERVE = osp.join(ROOT, 'tools', 'deployment', 'serve.py')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _multipart(fields, files):
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; '
                     f'name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, filename, data in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream'
            '\r\n\r\n'.encode() + data + b'\r\n')
    parts.append(f'--{boundary}--\r\n'.encode())
    return b''.join(parts), f'multipart/form-data; boundary={boundary}'


def _request(url, fields=(), files=(), body=None, content_type=None):
    if body is None and (fields or files):
        body, content_type = _multipart(fields, files)
    headers = {'Content-Type': content_type} if content_type else {}
    req = urllib.request.Request(url, data=body, headers=headers,
                                 method='POST' if body is not None else 'GET')
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


@pytest.fixture(scope='module')
def server(tmp_path_factory, rice_ckpt, inferencer, toy_live):
    """The service with gallery 'a' (a folder) and 'b' (a saved index)."""
    tmp = tmp_path_factory.mktemp('serve')
    shop = tmp / 'shop'
    shop.mkdir()
    for p in toy_live['images']:
        shutil.copy(p, shop)
    index = str(tmp / 'b.pth')
    inferencer.build_gallery(toy_live['images'][:3], out_file=index)
    port = _free_port()
    log = open(tmp / 'serve.log', 'w')
    proc = subprocess.Popen(
        [sys.executable, SERVE, TOY_CFG, rice_ckpt, '--gallery',
         f'a={shop}', '--gallery', f'b={index}', '--port', str(port),
         '--topk', '4', '--max-frames', '8'],
        env=run_env(), stdout=log, stderr=subprocess.STDOUT)
    url = f'http://127.0.0.1:{port}'
    try:
        deadline = time.time() + 300
        while True:
            assert proc.poll() is None, (tmp / 'serve.log').read_text()
            try:
                status, health = _request(url + '/health')
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.time() < deadline, 'the service did not start'
                time.sleep(0.5)
        yield dict(url=url, health=health, status=status, shop=str(shop))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_service_ranks_frames_and_videos(server, inferencer, toy_live,
                                         tmp_path):
    url = server['url']
    assert server['status'] == 200
    health = server['health']
    assert health['status'] == 'ok'
    assert health['galleries'] == {'a': len(toy_live['images']), 'b': 3}
    assert health['weights_sha256'] == inferencer.weights_sha256

    names = sorted(os.listdir(toy_live['clip_dir']))
    frames = [(n, open(osp.join(toy_live['clip_dir'], n), 'rb').read())
              for n in names]
    status, out = _request(
        url + '/recognize', fields=[('live_id', 'a'), ('topk', '3')],
        files=[('frames', n, d) for n, d in frames])
    assert status == 200, out
    expected = inferencer(toy_live['clip_dir'], gallery=server['shop'],
                          topk=3)['predictions'][0]
    assert out['live_id'] == 'a'
    assert out['image_ids'] == expected['image_ids']
    assert out['scores'] == pytest.approx(expected['scores'], abs=1e-5)
    assert out['frame_ids'] == [osp.splitext(n)[0] for n, _ in frames]
    assert out['boxes'] == [None] * len(frames)
    assert out['latency_ms'] > 0

    # A video upload against the second gallery; default topk (4) capped
    # by the gallery's 3 images.
    video = str(tmp_path / 'clip.mp4')
    img = cv2.imread(osp.join(toy_live['clip_dir'], names[0]))
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*'mp4v'), 1.0,
                             (img.shape[1], img.shape[0]))
    for n in names:
        writer.write(cv2.imread(osp.join(toy_live['clip_dir'], n)))
    writer.release()
    status, out = _request(
        url + '/recognize', fields=[('live_id', 'b')],
        files=[('video', 'clip.mp4', open(video, 'rb').read())])
    assert status == 200, out
    assert len(out['image_ids']) == 3 and len(out['frame_ids']) == len(names)


@pytest.mark.parametrize('fields,files,status,message', [
    ([('live_id', 'a')], [('frames', 'x.jpg', b'not an image')], 400,
     'not a readable image'),
    ([('live_id', 'a')], [('frames', 'x.jpg', b'')], 400, 'empty'),
    ([('live_id', 'zz')], 'frame', 404, "unknown live_id 'zz'"),
    ([], 'frame', 400, 'give live_id'),
    ([('live_id', 'a'), ('topk', 'abc')], 'frame', 400, 'topk'),
    ([('live_id', 'a'), ('topk', '0')], 'frame', 400, 'topk'),
    ([('live_id', 'a')], [], 400, 'no frames and no video'),
    ([('live_id', 'a')], [('video', 'v.mp4', b'garbage')], 400,
     'not a readable video'),
    ([('live_id', 'a')], [('video', 'v.mp4', b'')], 400, 'empty'),
    ([('live_id', 'a'), ('frames', 'text, not a file')], [], 422, 'frames'),
    ([('live_id', 'a')], 'frame+video', 400, 'not both'),
    ([('live_id', 'a')], 'frame*9', 413, '9 frames uploaded; at most 8'),
], ids=['not-image', 'empty-frame', 'unknown-live', 'no-live', 'topk-text',
        'topk-zero', 'no-files', 'bad-video', 'empty-video', 'text-frames',
        'frames-and-video', 'too-many-frames'])
def test_service_refuses_malformed_requests(server, toy_live, fields, files,
                                            status, message):
    if isinstance(files, str):
        name = sorted(os.listdir(toy_live['clip_dir']))[0]
        frame = ('frames', name,
                 open(osp.join(toy_live['clip_dir'], name), 'rb').read())
        files = {'frame': [frame], 'frame*9': [frame] * 9,
                 'frame+video': [frame, ('video', 'v.mp4', b'x')]}[files]
    got, out = _request(server['url'] + '/recognize', fields=fields,
                        files=files)
    assert got == status, out
    assert message in out['detail']


def test_service_refuses_non_multipart_bodies(server):
    got, out = _request(server['url'] + '/recognize', body=b'{"a": 1}',
                        content_type='application/json')
    assert 400 <= got < 500 and out['detail']
    got, out = _request(server['url'] + '/recognize', body=b'',
                        content_type='text/plain')
    assert 400 <= got < 500 and out['detail']


def test_app_factory_and_gallery_specs(inferencer, toy_live, tmp_path):
    from lpr.apis import GalleryMismatchError, LPRInferencer
    from lpr.apis.serving import create_app, parse_gallery_specs
    assert parse_gallery_specs(['shop/']) == {'default': 'shop/'}
    assert parse_gallery_specs(['a=x.pth', 'b=y/']) == {'a': 'x.pth',
                                                         'b': 'y/'}
    for specs, match in [(['x/', 'y/'], 'name each one'),
                         (['a=x', 'a=y'], 'twice'), (['=x'], 'LIVE_ID=')]:
        with pytest.raises(ValueError, match=match):
            parse_gallery_specs(specs)
    with pytest.raises(ValueError, match='at least one gallery'):
        create_app(inferencer, {})
    other = LPRInferencer(TOY_CFG, weights=random_checkpoint(
        TOY_CFG, str(tmp_path / 'other.pth'), seed=2))
    gallery = inferencer.build_gallery(toy_live['images'][:2])
    with pytest.raises(GalleryMismatchError):
        create_app(other, {'a': gallery})
    # Upload size limit (in-process client).
    from fastapi.testclient import TestClient
    client = TestClient(create_app(inferencer, {'a': gallery},
                                   max_upload_bytes=100))
    name = sorted(os.listdir(toy_live['clip_dir']))[0]
    data = open(osp.join(toy_live['clip_dir'], name), 'rb').read()
    assert len(data) > 100
    response = client.post('/recognize', files=[('frames', (name, data))])
    assert response.status_code == 413
    assert 'exceeds 100 bytes' in response.json()['detail']
    assert client.get('/health').json()['galleries'] == {'a': 2}
