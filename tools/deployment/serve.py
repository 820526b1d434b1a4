"""Serve a trained retriever over HTTP: POST a clip (frames or a video), get
the shop's images ranked.

    python tools/deployment/serve.py CONFIG CHECKPOINT --gallery shop/ \\
        [--gallery LIVE_ID=shop.pth ...] [--port 8000] [--host 127.0.0.1]

    curl -F frames=@f0.jpg -F frames=@f1.jpg -F topk=3 \\
        http://127.0.0.1:8000/recognize
    curl -F video=@clip.mp4 -F live_id=shop1 http://127.0.0.1:8000/recognize
    curl http://127.0.0.1:8000/health

Needs the ``serve`` requirements (``pip install -r requirements/serve.txt``).
"""
import argparse
import os.path as osp
import sys
import time

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))), 'projects'))

from mmengine.config import DictAction  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Serve a retriever: POST /recognize, GET /health')
    parser.add_argument('config', help='retriever config or model name')
    parser.add_argument('checkpoint', help='retriever checkpoint')
    parser.add_argument(
        '--gallery', action='append', required=True,
        metavar='[LIVE_ID=]INDEX_OR_FOLDER',
        help='a gallery index (build_gallery / --save-index) or a folder of '
        'shop images; repeat with LIVE_ID= for several livestreams')
    parser.add_argument('--port', type=int, default=8000)
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--topk', type=int, default=5,
                        help='images returned when a request names no topk')
    parser.add_argument('--det-config', help='intended-product detector '
                        'config (boxes for a rice-box_* retriever)')
    parser.add_argument('--det-checkpoint', help='detector checkpoint')
    parser.add_argument('--max-frames', type=int, default=64,
                        help='the most frame files per request')
    parser.add_argument(
        '--save-index', metavar='DIR',
        help='write the indexes of galleries given as folders to '
        'DIR/<live_id>.pth (reuse them with --gallery next time)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value pairs in xxx=yyy format')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    import uvicorn

    from lpr.apis import LPRInferencer
    from lpr.apis.serving import create_app, parse_gallery_specs

    try:
        specs = parse_gallery_specs(args.gallery)
    except ValueError as e:
        raise SystemExit(f'serve.py: {e}')
    inferencer = LPRInferencer(
        args.config, weights=args.checkpoint, device=args.device,
        det_model=args.det_config, det_weights=args.det_checkpoint,
        cfg_options=args.cfg_options)
    galleries = {}
    for live, path in specs.items():
        start = time.perf_counter()
        try:
            galleries[live] = inferencer.load_gallery(path)
        except ValueError as e:
            raise SystemExit(f'serve.py: gallery {live!r}: {e}')
        print(f'gallery {live!r}: {len(galleries[live])} images from {path} '
              f'({time.perf_counter() - start:.1f} s)', flush=True)
        if args.save_index and osp.isdir(path):
            out = osp.join(args.save_index, f'{live}.pth')
            galleries[live].save(out)
            print(f'  index saved to {out}', flush=True)
    app = create_app(inferencer, galleries, default_topk=args.topk,
                     max_frames=args.max_frames)
    print(f'serving on http://{args.host}:{args.port} (POST /recognize, '
          'GET /health)', flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level='warning')


if __name__ == '__main__':
    main()
