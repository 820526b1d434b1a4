"""Build the text vocabulary of :class:`lpr.text.LPRTokenizer` from LPR4M
annotations (titles and ASR of the training videoinfo files).

    python tools/misc/build_text_vocab.py data/lpr4m \
        --out data/lpr4m/annotations/lpr_vocab.txt --min-freq 2
"""
import argparse
import os.path as osp
from typing import Iterator

from lpr.datasets.annotations import (AnnotationError, expand_paths,
                                      parse_videoinfo_row)
from lpr.text import build_vocab, save_vocab

DEFAULT_GLOB = 'annotations/training_videoinfo_full_part_*.txt'


def iter_texts(paths, strict: bool = True) -> Iterator[str]:
    """Titles and ASR of the rows; each distinct title counted once."""
    seen_titles = set()
    for path in expand_paths(paths):
        with open(path, encoding='utf-8') as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = parse_videoinfo_row(line)
                except ValueError as e:
                    if strict:
                        raise AnnotationError(path, lineno, str(e)) from None
                    continue
                yield row.asr
                if row.image_id not in seen_titles:
                    seen_titles.add(row.image_id)
                    yield row.title


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('data_root')
    parser.add_argument('--ann-files', default=DEFAULT_GLOB,
                        help='videoinfo files (glob, relative to data_root)')
    parser.add_argument('--out', required=True, help='vocabulary file')
    parser.add_argument('--min-freq', type=int, default=1)
    parser.add_argument('--max-size', type=int, default=None)
    parser.add_argument('--lenient', action='store_true',
                        help='skip malformed rows instead of failing')
    return parser.parse_args()


def main():
    args = parse_args()
    paths = osp.join(args.data_root, args.ann_files)
    tokens = build_vocab(
        iter_texts(paths, strict=not args.lenient), args.min_freq,
        args.max_size)
    save_vocab(tokens, args.out)
    print(f'{len(tokens)} tokens → {args.out}')


if __name__ == '__main__':
    main()
