"""``dejpeg codec encode IMAGE -o FILE --quality Q`` and ``dejpeg codec decode FILE -o IMAGE``: the BlockCNN codec."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dejpeg.blockcodec import DEFAULT_PREDICTOR, decode_image, encode_image
from dejpeg.cli._inputs import int_in_range
from dejpeg.codec.images import LOSSLESS_SUFFIXES, load_gray_u8, load_rgb_u8, save_image
from dejpeg.files import atomic_write_bytes


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("codec", help="the BlockCNN block-predictive image codec (encode, decode)")
    actions = p.add_subparsers(dest="action", required=True)
    enc = actions.add_parser("encode", help="code an image (colour as YCbCr 4:2:0, or gray)")
    enc.add_argument("image", help="image file (PNG, TIFF, BMP, JPEG, ...)")
    enc.add_argument("-o", "--output", required=True, help="the codec file to write")
    enc.add_argument("--quality", required=True, type=int_in_range(1, 100), help="IJG quality 1..100 of the residuals")
    enc.add_argument("--model", default=DEFAULT_PREDICTOR, help=f"predictor (default {DEFAULT_PREDICTOR})")
    enc.add_argument("--gray", action="store_true", help="code the image's luma only (JFIF, as a gray JPEG)")
    enc.add_argument("--quiet", action="store_true", help="no progress bar")
    dec = actions.add_parser("decode", help="decode a codec file to a lossless image")
    dec.add_argument("file", help="the codec file")
    dec.add_argument("-o", "--output", required=True, help=f"image to write ({', '.join(sorted(LOSSLESS_SUFFIXES))})")
    dec.add_argument("--postfilter", metavar="MODEL", help="an artifact-removal model run on the decoded image")
    dec.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if args.action == "encode":
        image = load_gray_u8(args.image) if args.gray else load_rgb_u8(args.image)
        encoded = encode_image(image, args.quality, args.model, progress=not args.quiet)
        atomic_write_bytes(encoded.data, args.output)
        bits = 8 * len(encoded.data) / (image.shape[0] * image.shape[1])
        print(f"{args.output}: {len(encoded.data)} bytes, {bits:.3f} bits per pixel", file=sys.stderr)
        return 0
    if Path(args.output).suffix.lower() not in LOSSLESS_SUFFIXES:
        raise ValueError(f"output must be a lossless image ({', '.join(sorted(LOSSLESS_SUFFIXES))}): {args.output}")
    image = decode_image(Path(args.file).read_bytes(), postfilter=args.postfilter, progress=not args.quiet)
    save_image(image, args.output)
    return 0
