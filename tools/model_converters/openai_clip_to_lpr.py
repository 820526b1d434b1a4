"""Convert an OpenAI CLIP checkpoint (e.g. ViT-B-32.pt) to the RICE
encoder's weights, for ``load_from`` or the encoder's ``init_cfg``; with
``--pmd`` also the PMD decoder's initialisation of a recipe (``v0``: from
CLIP's text tower, ``mmf``: from the last two visual blocks).

    python tools/model_converters/openai_clip_to_lpr.py ViT-B-32.pt \\
        checkpoints/clip_vit-b-p32_lpr-pmd-v0.pth --pmd v0
    python tools/model_converters/openai_clip_to_lpr.py ViT-B-32.pt \\
        checkpoints/clip_vit-b-p32_lpr-pmd-mmf.pth --pmd mmf
"""
import argparse
import os
import os.path as osp
import sys

import torch

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))), 'projects'))

from lpr.models.clip_converter import (PMD_INITS,  # noqa: E402
                                       convert_openai_clip, load_openai_clip)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='OpenAI CLIP .pt (TorchScript or state '
                        'dict)')
    parser.add_argument('dst', help='output .pth')
    parser.add_argument('--prefix', default='encoder.',
                        help='key prefix of the encoder in the model')
    parser.add_argument('--pmd', choices=sorted(PMD_INITS),
                        help='also initialise the PMD decoder as the '
                        'paper-era (v0) or released (mmf) code does')
    parser.add_argument('--pmd-prefix', default='pmd_head.',
                        help='key prefix of the PMD head in the model')
    args = parser.parse_args()
    weights = convert_openai_clip(load_openai_clip(args.src), args.prefix,
                                  pmd=args.pmd, pmd_prefix=args.pmd_prefix)
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(dict(state_dict=weights,
                    meta=dict(source=args.src, pmd=args.pmd)),
               args.dst)
    print(f'{len(weights)} tensors written to {args.dst}')


if __name__ == '__main__':
    main()
