"""The BlockCNN codec (Maleki et al. 2018): each 8x8 block predicted from the blocks decoded before it, the
residual coded with JPEG's DCT and tables, the quantized residuals entropy-coded by libjpeg.

Encoder and decoder run the same loop over the wavefronts of :func:`dejpeg.layers.wavefront` (block (i, j)
depends only on blocks with a smaller ``2 i + j``, so each anti-diagonal is one batch): predict the wavefront's
blocks from the reconstruction so far, then add the dequantized residual. The encoder first quantizes
``original - prediction``; the decoder reads it from the file. Everything the decoder computes is exact
integer arithmetic, so it repeats the encoder's reconstruction bit for bit on any CPU and thread count: the
predictor is :class:`~dejpeg.models.blockcnn.IntegerBlockPredictor` (integer weights and activations, summed
exactly in float32), the inverse DCT :func:`~dejpeg.jpeg.integer_idct_8x8`, and chroma upsampling and colour
conversion libjpeg's fixed point. Only the encoder's forward DCT and colour conversion are float: their results
are what the file stores.

Colour images are coded as JFIF YCbCr with 4:2:0 chroma, each plane predicted at its own resolution by the same
predictor; gray images as one plane. The file format is :mod:`dejpeg.codec.blockcnn`.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from dejpeg.api import ModelLike, restore_array
from dejpeg.codec.blockcnn import SAMPLING, BlockCodedFile, pack, unpack
from dejpeg.jpeg import (
    JpegCoefficients,
    blockify,
    dct_8x8,
    ijg_qtables,
    integer_idct_8x8,
    rgb_to_ycbcr_jfif,
    upsample_420_u8,
    ycbcr_u8_to_rgb_u8,
)
from dejpeg.layers.context import causal_context, wavefront
from dejpeg.models import create_model
from dejpeg.models.blockcnn import BlockCnnPredictor, IntegerBlockPredictor

#: The predictor the codec uses unless told otherwise.
DEFAULT_PREDICTOR = "blockcnn_predictor.bsds300"
#: Residual coefficients are clipped to this magnitude, so that DC differences stay within baseline JPEG's
#: 11-bit range; only quality 100's unit steps reach it.
MAX_RESIDUAL_COEFFICIENT = 1023
#: The value of blocks outside the image and not yet decoded in a context.
UNKNOWN = 128.0


def weights_sha256(model: nn.Module) -> str:
    """Hex sha256 of a model's state (names, dtypes, shapes and values, in name order): what a codec file records
    so that a decoder with other weights refuses it instead of predicting other blocks."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class Encoded:
    """An encoded image: ``data``, the file's bytes, and ``reconstruction``, the uint8 image any decoder of it
    gives (gray (H, W) or RGB (H, W, 3))."""

    data: bytes
    reconstruction: np.ndarray


def _predictor(model: str | BlockCnnPredictor) -> tuple[str, BlockCnnPredictor]:
    if isinstance(model, str):
        net = create_model(model, pretrained=True)
        if not isinstance(net, BlockCnnPredictor):
            raise ValueError(f"{model} is not a BlockCNN predictor ({type(net).__name__})")
        return model, net
    if not isinstance(model, BlockCnnPredictor):
        raise ValueError(f"expected a registry name or a BlockCnnPredictor, got {type(model).__name__}")
    return "blockcnn_predictor", model


def _planes(image_u8: np.ndarray) -> tuple[str, list[np.ndarray]]:
    """The planes an image is coded as: gray, or JFIF Y at full and Cb, Cr at half resolution (2x2 means of the
    edge-replicated planes, as libjpeg's 4:2:0 downsampling)."""
    if image_u8.dtype != np.uint8 or not (image_u8.ndim == 2 or (image_u8.ndim == 3 and image_u8.shape[2] == 3)):
        raise ValueError(f"expected (H, W) gray or (H, W, 3) RGB uint8, got {image_u8.dtype} {image_u8.shape}")
    if min(image_u8.shape[:2]) < 1:
        raise ValueError(f"empty image {image_u8.shape}")
    if image_u8.ndim == 2:
        return "gray", [image_u8]
    rgb = torch.from_numpy(image_u8).permute(2, 0, 1)[None].double() / 255
    ycbcr = rgb_to_ycbcr_jfif(rgb)[0] * 255
    height, width = image_u8.shape[:2]
    even = torch.nn.functional.pad(ycbcr[1:][None], (0, width % 2, 0, height % 2), mode="replicate")[0]
    chroma = torch.nn.functional.avg_pool2d(even, 2)
    planes = [ycbcr[0], chroma[0], chroma[1]]
    return "ycbcr420", [plane.round().clamp(0, 255).to(torch.uint8).numpy() for plane in planes]


def _padded(plane: np.ndarray) -> np.ndarray:
    """A plane edge-replicated to whole 8x8 blocks (the blocks libjpeg codes for it)."""
    return np.pad(plane, ((0, -plane.shape[0] % 8), (0, -plane.shape[1] % 8)), mode="edge")


def _code_planes(
    predictor: IntegerBlockPredictor,
    table: np.ndarray,
    residuals: np.ndarray,
    originals: np.ndarray | None,
    bar: tqdm,
) -> np.ndarray:
    """Run the codec loop over planes of one size, together: (P, rows, cols, 8, 8) residual coefficients (filled
    in place when ``originals``, (P, 8 rows, 8 cols) uint8, are given: the encoder) -> (P, 8 rows, 8 cols)
    uint8 reconstruction."""
    planes, rows, cols = residuals.shape[:3]
    reconstruction = torch.full((planes, 1, 8 * rows, 8 * cols), UNKNOWN)
    blocks = blockify(reconstruction)[:, 0]  # (P, rows, cols, 8, 8), a view that writes into reconstruction
    original_blocks = None if originals is None else blockify(torch.from_numpy(originals)[:, None].double())[:, 0]
    for positions in wavefront(rows, cols):
        i, j = positions.numpy().T  # numpy indices: numpy takes a one-element tensor for a scalar
        with torch.inference_mode():
            predicted = predictor(causal_context(reconstruction, positions, fill=UNKNOWN))
        predicted = predicted.view(planes, len(positions), 8, 8).numpy().astype(np.int64)
        if original_blocks is not None:
            coefficients = dct_8x8(original_blocks[:, i, j] - torch.from_numpy(predicted).double()) / torch.from_numpy(
                table
            )
            residuals[:, i, j] = coefficients.round().clamp(-MAX_RESIDUAL_COEFFICIENT, MAX_RESIDUAL_COEFFICIENT).numpy()
        decoded = predicted + integer_idct_8x8(residuals[:, i, j].astype(np.int64) * table)
        blocks[:, i, j] = torch.from_numpy(np.clip(decoded, 0, 255).astype(np.float32))
        bar.update(1)
    return reconstruction[:, 0].numpy().astype(np.uint8)


def _run(
    predictor: IntegerBlockPredictor,
    layout: str,
    tables: np.ndarray,
    residuals: list[np.ndarray],
    originals: list[np.ndarray] | None,
    height: int,
    width: int,
    progress: bool,
) -> np.ndarray:
    """The codec loop over every plane (luma, then both chroma planes in one batch) -> the uint8 image."""
    groups = [[0]] if layout == "gray" else [[0], [1, 2]]
    steps = sum(len(wavefront(*residuals[g[0]].shape[:2])) for g in groups)
    planes: list[np.ndarray] = []
    with tqdm(total=steps, desc="wavefronts", unit="step", disable=not progress) as bar:
        for group in groups:
            stacked = np.stack([residuals[p] for p in group])
            source = None if originals is None else np.stack([_padded(originals[p]) for p in group])
            coded = _code_planes(predictor, tables[group[0]].astype(np.int64), stacked, source, bar)
            for p, plane in zip(group, coded):
                residuals[p][...] = stacked[group.index(p)]
                planes.append(plane)
    if layout == "gray":
        return planes[0][:height, :width]
    chroma_size = (-(-height // 2), -(-width // 2))
    cb, cr = (upsample_420_u8(p[: chroma_size[0], : chroma_size[1]], height, width) for p in planes[1:])
    return ycbcr_u8_to_rgb_u8(planes[0][:height, :width], cb, cr)


def encode_image(
    image_u8: np.ndarray, quality: int, model: str | BlockCnnPredictor = DEFAULT_PREDICTOR, progress: bool = False
) -> Encoded:
    """Code an image with the BlockCNN codec.

    Args:
        image_u8: (H, W) gray or (H, W, 3) RGB uint8.
        quality: IJG quality 1..100 of the residual quantization tables.
        model: the predictor, a registry name or a :class:`~dejpeg.models.blockcnn.BlockCnnPredictor` (recorded
            in the file as "blockcnn_predictor", with its weights' hash).
        progress: a progress bar over the wavefronts.
    """
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"quality must be in 1..100, got {quality}")
    name, net = _predictor(model)
    layout, planes = _planes(image_u8)
    tables = ijg_qtables(int(quality))[[0, 1, 1][: len(planes)]]
    residuals = [np.zeros((*[-(-s // 8) for s in p.shape], 8, 8), dtype=np.int16) for p in planes]
    height, width = image_u8.shape[:2]
    reconstruction = _run(net.to_integer(), layout, tables, residuals, planes, height, width, progress)
    coefficients = JpegCoefficients(tuple(residuals), tables, SAMPLING[layout], height, width)
    data = pack(BlockCodedFile(layout, int(quality), name, weights_sha256(net), coefficients))
    return Encoded(data, reconstruction)


def decode_image(
    data: bytes,
    model: BlockCnnPredictor | None = None,
    postfilter: ModelLike | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Decode a BlockCNN codec file's bytes to the encoder's reconstruction, exactly.

    Args:
        data: the file's bytes.
        model: the predictor; None loads the one the file names from the registry.
        postfilter: an artifact-removal model (registry name or module) run on the decoded image, as the paper
            does (the file's tables stand for its JPEG quality); None for the exact reconstruction.
        progress: a progress bar over the wavefronts.

    Raises:
        ValueError: a damaged or foreign file (:func:`dejpeg.codec.blockcnn.unpack`), or a predictor whose weights
            are not those the file was coded with.
    """
    coded = unpack(data)
    _, net = _predictor(coded.model if model is None else model)
    if weights_sha256(net) != coded.model_sha256:
        raise ValueError(
            f"the predictor's weights do not match the file's (coded with {coded.model}, sha256 "
            f"{coded.model_sha256[:12]}...): decoding with other weights would give another image"
        )
    residuals = [np.array(c) for c in coded.residuals.components]
    tables = np.asarray(coded.residuals.qtables)
    image = _run(net.to_integer(), coded.layout, tables, residuals, None, coded.height, coded.width, progress)
    if postfilter is None:
        return image
    return restore_array(image, tables, model=postfilter, progress=progress)
