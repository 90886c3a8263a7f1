"""The Python API behind the CLI's restore: load a model, restore a JPEG file, its bytes or a decoded array."""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from dejpeg.arrays import u8_to_tensor
from dejpeg.codec import DecodedJpeg, decode_luma, read_coefficients, read_jpeg
from dejpeg.codec.images import PNG_COMPRESS_LEVEL, Encoding, save_image
from dejpeg.jpeg import (
    JpegCoefficients,
    coefficients_in_range,
    ijg_qtables,
    luma_chroma_tables,
    luma_matches,
    pad_to_multiple,
    rgb_to_ycbcr_jfif,
    ycbcr_jfif_to_rgb,
)
from dejpeg.jpeg.consistency import project_to_coefficients
from dejpeg.jpeg.header import MAX_PIXELS
from dejpeg.models import (
    CHECKPOINT_SUFFIXES,
    JpegSide,
    autocast_for,
    create_model,
    default_model_name,
    load_checkpoint,
    parse_strength,
)
from dejpeg.runs import is_run, load_run_state, run_config

ModelLike = str | os.PathLike | nn.Module | None

#: Tiles of this many pixels a side (plus overlap) bound memory on large photos.
TILE = 1024
#: Context each tile borrows from its neighbours. The default model's receptive radius is 144 px, but what it
#: uses is a few blocks: with 64 px of overlap, tiles restore to within one grey level of the whole image (tests/api).
OVERLAP = 64


def load_model(
    model: ModelLike = None,
    device: str | torch.device = "cpu",
    strength: float | str | None = None,
    alpha: float | None = None,
) -> nn.Module:
    """A registry name (pretrained), the folder of a ``dejpeg train`` run, a published network's checkpoint file
    (``.pth``, ``.pt``, ``.safetensors``: :func:`dejpeg.models.load_checkpoint`), a module, or None for the default
    model; in eval mode on ``device``.

    A run folder's ``config.json`` names the model and its arguments; its ``final.safetensors`` holds
    the weights, so only finished runs load. A registry name or a checkpoint file is loaded once per device and
    the module shared by later calls (loading takes ~1.5 s, longer than restoring a photo): copy it before
    changing it.
    ``strength``: 0..1 or a preset name (:data:`dejpeg.models.STRENGTH_PRESETS`), from keeping texture and grain to
    removing every artifact (:meth:`~dejpeg.models.RestorationModel.with_strength`); None: the model's best-PSNR
    setting. Models without such a control refuse one (a ValueError).
    ``alpha``: for registered GAN weights (e.g. ``qgac_small.gan_bsds300``), the blend of their regression weights
    (0: the best PSNR) and the GAN weights (1: the sharpest texture), :func:`dejpeg.models.create_model`; None: the
    weights as they are. Other models refuse one (a ValueError).
    """
    if model is None:
        model = default_model_name()
    if alpha is not None:
        if not isinstance(model, str) or Path(model).suffix.lower() in CHECKPOINT_SUFFIXES or is_run(model):
            raise ValueError("alpha blends registered GAN weights with their regression weights: give a registry name")
        model = _load_registered(model, str(torch.device(device)), alpha)
    elif isinstance(model, (str, os.PathLike)):
        if Path(model).suffix.lower() in CHECKPOINT_SUFFIXES:
            model = _load_checkpoint_once(Path(model), str(torch.device(device)))
        elif is_run(model):
            model = _load_run(Path(model))
        else:
            model = _load_registered(str(model), str(torch.device(device)))
    net = model.to(device).eval()
    if strength is None:
        return net
    if not hasattr(net, "with_strength"):
        raise ValueError(f"{type(net).__name__} has no strength control: restore without a strength")
    return net.with_strength(parse_strength(strength))


def _load_checkpoint_once(path: Path, device: str) -> nn.Module:
    """A checkpoint file's network, loaded (read, checked, detected) once per version of the file and device, as
    registry models are; a missing or unreadable file raises :func:`dejpeg.models.load_checkpoint`'s error."""
    if not path.is_file():
        return load_checkpoint(path)
    stat = path.stat()
    return _load_checkpoint_version(str(path.resolve()), stat.st_size, stat.st_mtime_ns, device)


@functools.lru_cache(maxsize=2)
def _load_checkpoint_version(path: str, size: int, mtime_ns: int, device: str) -> nn.Module:
    return load_checkpoint(path).to(device).eval()


@functools.lru_cache(maxsize=4)
def _load_registered(name: str, device: str, alpha: float | None = None) -> nn.Module:
    # unknown names raise with the list of known ones
    return create_model(name, pretrained=True, alpha=alpha).to(device).eval()


def _load_run(run: Path) -> nn.Module:
    """Not cached: a run folder's weights change when training goes on."""
    config = run_config(run)
    net = create_model(config["model"], pretrained=False, **config.get("model_kwargs", {}))
    net.load_state_dict(load_run_state(run, finished=True), strict=True)
    return net


#: The integer samples of each output bit depth.
SAMPLE_TYPES = {8: torch.uint8, 16: torch.uint16}


def _to_samples(image: Tensor, gray: bool, bit_depth: int = 8) -> np.ndarray:
    """The restoration rounded to ``bit_depth`` bits: [0, 1] onto 0..2**bit_depth - 1, so that 8-bit v is 16-bit
    v * 257 (as PNG and TIFF scale between depths)."""
    peak = float((1 << bit_depth) - 1)
    array = image[0].clamp(0, 1).mul(peak).round().to(SAMPLE_TYPES[bit_depth]).permute(1, 2, 0).cpu().numpy()
    return array[..., 0] if gray else array


def _run_padded(model: nn.Module, image: Tensor, side: JpegSide, precision: str = "auto") -> Tensor:
    """Replicate-pad bottom/right to the model's multiple (the JPEG grid starts top-left), then crop.

    A gray-only model given RGB restores the luma and keeps the chroma.
    """
    padded, (h, w) = pad_to_multiple(image, getattr(model, "size_multiple", 8))
    if padded.shape[1] == 3 and getattr(model, "channels", "any") == "gray":
        ycc = rgb_to_ycbcr_jfif(padded)
        with autocast_for(model, image.device, precision):
            luma = model(ycc[:, :1], side.luma())
        restored = ycbcr_jfif_to_rgb(torch.cat([luma.float(), ycc[:, 1:]], dim=1))
    else:
        with autocast_for(model, image.device, precision):
            restored = model(padded, side).float()
    return restored[..., :h, :w]


def _project(image: Tensor, coefficients: JpegCoefficients | None, top: int, left: int) -> Tensor:
    if coefficients is None:
        return image
    return project_to_coefficients(image[0], coefficients, top, left)[None]


def _run_tiled(
    model: nn.Module,
    image: Tensor,
    side: JpegSide,
    tile: int,
    overlap: int,
    coefficients: JpegCoefficients | None = None,
    precision: str = "auto",
    progress: bool = False,
) -> Tensor:
    """Restore in grid-aligned tiles with overlap, keeping each tile's core: bounded memory, no seams.

    Each tile gets the side information of its region (tile corners lie on the MCU grid). With ``coefficients``,
    each core is projected into the file's quantization intervals as it is made (cores start on multiples of
    ``tile``, which is on the MCU grid), so memory stays bounded too. ``progress`` shows a bar over the tiles
    (a 12 MP photo takes tens of seconds on a CPU).
    """
    h, w = image.shape[-2:]
    if h <= tile + 2 * overlap and w <= tile + 2 * overlap:
        return _project(_run_padded(model, image, side, precision), coefficients, 0, 0)
    if tile % 16 or overlap % 8:
        raise ValueError("tile must be a multiple of 16 (the largest MCU) and overlap of 8 (the JPEG grid)")
    out = torch.empty_like(image)
    corners = [(top, left) for top in range(0, h, tile) for left in range(0, w, tile)]
    for top, left in tqdm(corners, desc="tiles", unit="tile", leave=False, disable=not progress):
        y0, x0 = max(0, top - overlap), max(0, left - overlap)
        y1, x1 = min(h, top + tile + overlap), min(w, left + tile + overlap)
        result = _run_padded(model, image[..., y0:y1, x0:x1], side.crop(y0, x0, y1 - y0, x1 - x0), precision)
        bottom, right = min(h, top + tile), min(w, left + tile)
        core = result[..., top - y0 : bottom - y0, left - x0 : right - x0]
        out[..., top:bottom, left:right] = _project(core, coefficients, top, left)
    return out


@torch.inference_mode()
def restore_array(
    damaged_u8: np.ndarray,
    qtables: np.ndarray,
    model: ModelLike = None,
    device: str | torch.device = "cpu",
    tile: int = TILE,
    overlap: int = OVERLAP,
    coefficients: JpegCoefficients | None = None,
    precision: str = "auto",
    progress: bool = False,
    consistency: bool = True,
    strength: float | str | None = None,
    bit_depth: int = 8,
) -> np.ndarray:
    """Restore a decoded JPEG given the tables it was coded with.

    Args:
        damaged_u8: (H, W) gray or (H, W, 3) RGB uint8, as decoded.
        qtables: (N, 8, 8) tables of the file (luma first); a single table serves both.
        model: registry name, module, or None for the default model.
        coefficients: the file's coefficients: models that read them (``side_info``) need them, and with
            ``consistency`` the result is projected into their quantization intervals
            (:mod:`dejpeg.jpeg.consistency`).
        precision: "auto" (bf16 where the model and hardware allow it; else int8 convolutions on x86 CPUs with
            exact 8-bit dot products (VNNI, AMX); else fp32: speed-ups in ``benchmarks/results/README.md``),
            "fp32" (the reference result: within a grey level on any machine and thread count), "bf16" or "int8" (see
            :func:`dejpeg.models.resolve_precision`).
        progress: a progress bar over the tiles when the image has several.
        consistency: project into the intervals of ``coefficients`` (when given).
        strength: 0..1 or a preset, as in :func:`load_model`; the consistency step keeps the file's own tables.
        bit_depth: 8, or 16 to keep what the network computes between grey levels (for 16-bit PNG and TIFF).

    Returns:
        uint8 (uint16 for ``bit_depth`` 16) array of the same shape.
    """
    if bit_depth not in SAMPLE_TYPES:
        raise ValueError(f"bit_depth must be one of {sorted(SAMPLE_TYPES)}, got {bit_depth}")
    tables = np.asarray(qtables, dtype=np.float32).reshape(-1, 8, 8)
    if not (np.isfinite(tables).all() and tables.min() >= 1):  # the model divides coefficients by them
        raise ValueError(f"quantization steps must be finite and 1 or more, got a minimum of {tables.min()}")
    net = load_model(model, device, strength)
    reads_coefficients = "coefficients" in getattr(net, "side_info", ())
    if reads_coefficients and coefficients is None:
        raise ValueError(f"{type(net).__name__} reads the file's DCT coefficients: give coefficients=")
    qt = torch.from_numpy(luma_chroma_tables(tables))[None]
    side = JpegSide.from_file(qt, coefficients if reads_coefficients else None, device)
    gray = damaged_u8.ndim == 2
    image = u8_to_tensor(damaged_u8).to(device)
    projected = coefficients if consistency else None
    restored = _run_tiled(net, image, side, tile, overlap, projected, precision, progress)
    if not torch.isfinite(restored).all():  # NaN would be written as black, silently
        raise ValueError("restoration produced non-finite values")
    return _to_samples(restored, gray, bit_depth)


def _coefficients_or_none(
    data: bytes, jpeg: DecodedJpeg, name: str, max_pixels: int | None, strict: bool, required: bool
) -> JpegCoefficients | None:
    """The file's coefficients for the consistency step, or None (with a warning naming the file) for files
    libjpeg cannot give them for (e.g. CMYK), and for corrupt files on which libjpeg's coefficients and
    Pillow's pixels are not the same image or that hold coefficients no 8-bit image has: those are restored
    without the step rather than refused; unless the model reads them (``required``), which refuses the file.

    Corrupt data that libjpeg decoded anyway is warned of once per file, or refused when ``strict``.
    """
    try:
        coefficients = read_coefficients(data, max_pixels)
    except ValueError as error:
        if required:
            raise ValueError(f"the model reads DCT coefficients, which libjpeg cannot give: {error}") from error
        warnings.warn(f"{name}restoring without the DCT consistency step: {error}", stacklevel=4)
        return None
    if coefficients.corrupt:
        more = f" (and {len(coefficients.corrupt) - 1} more)" if len(coefficients.corrupt) > 1 else ""
        if strict:
            raise ValueError(f"refused (strict): {coefficients.corrupt[0]}{more}")
        warnings.warn(f"{name}{coefficients.corrupt[0]}{more}; restoring what the decoder recovered", stacklevel=4)
    if not coefficients_in_range(coefficients):
        problem = "coefficients out of the range of 8-bit images (corrupt data)"
    elif not luma_matches(coefficients, jpeg.pixels if jpeg.pixels.ndim == 2 else decode_luma(data, max_pixels)):
        problem = "libjpeg and Pillow decode this file differently (corrupt data)"
    else:
        return coefficients
    if strict or required:
        raise ValueError(f"refused ({'strict' if strict else 'the model reads DCT coefficients'}): {problem}")
    warnings.warn(f"{name}restoring without the DCT consistency step: {problem}", stacklevel=4)
    return None


def _read_source(source: str | os.PathLike | bytes) -> bytes:
    return bytes(source) if isinstance(source, (bytes, bytearray)) else Path(source).read_bytes()


@contextlib.contextmanager
def _naming(source: str | os.PathLike | bytes) -> Iterator[None]:
    """Prefix the errors about a file with its path, so that a batch's failures say which file they are."""
    try:
        yield
    except ValueError as error:
        if isinstance(source, (bytes, bytearray)):
            raise
        raise ValueError(f"{source}: {error}") from error


def decode_for_restore(
    source: str | os.PathLike | bytes,
    consistency: bool,
    max_pixels: int | None,
    strict: bool,
    model_reads_coefficients: bool = False,
) -> tuple[DecodedJpeg, JpegCoefficients | None]:
    """The decoded file and, with ``consistency`` or for a model that reads them, its coefficients: the model-free
    half of a restore, which a batch runs in worker threads while the model restores another file
    (:mod:`dejpeg.batch`)."""
    data = _read_source(source)
    name = "" if isinstance(source, (bytes, bytearray)) else f"{source}: "
    jpeg = read_jpeg(data, max_pixels)
    wanted = consistency or model_reads_coefficients
    if not (wanted or strict):
        return jpeg, None
    coefficients = _coefficients_or_none(data, jpeg, name, max_pixels, strict, model_reads_coefficients)
    return jpeg, coefficients if wanted else None


def _restore_jpeg(
    source: str | os.PathLike | bytes,
    model: ModelLike,
    device: str | torch.device,
    consistency: bool,
    precision: str,
    max_pixels: int | None,
    strict: bool,
    progress: bool = False,
    strength: float | str | None = None,
    bit_depth: int = 8,
) -> tuple[np.ndarray, DecodedJpeg]:
    """Restore a JPEG (header checked before anything is decoded); returns the result and the decoded file."""
    net = load_model(model, device, strength)
    reads = "coefficients" in getattr(net, "side_info", ())
    jpeg, coefficients = decode_for_restore(source, consistency, max_pixels, strict, reads)
    restored = restore_array(
        jpeg.pixels,
        jpeg.qtables,
        net,
        device,
        coefficients=coefficients,
        precision=precision,
        progress=progress,
        consistency=consistency,
        bit_depth=bit_depth,
    )
    return restored, jpeg


def restore(
    source: str | os.PathLike | bytes | np.ndarray,
    model: ModelLike = None,
    *,
    qtables: np.ndarray | None = None,
    quality: int | None = None,
    device: str | torch.device = "cpu",
    consistency: bool = True,
    precision: str = "auto",
    max_pixels: int | None = MAX_PIXELS,
    strict: bool = False,
    strength: float | str | None = None,
    bit_depth: int = 8,
) -> np.ndarray:
    """Restore a JPEG file, JPEG bytes, or an already decoded uint8 array.

    A file carries its quantization tables, which the model reads. A decoded array does not: give
    ``qtables`` (e.g. from :func:`dejpeg.codec.read_qtables`) or the IJG ``quality`` it was saved at.
    With ``consistency`` (files and bytes only: an array has no coefficients), the result is kept
    inside the file's quantization intervals. ``precision`` as in :func:`restore_array`. Files over
    ``max_pixels`` (None: no limit), or declaring far more pixels than their size can code, are refused with
    a ValueError before they are decoded (:func:`dejpeg.jpeg.header.check_header`); errors name the file.
    Corrupt data that the decoders recover from is warned of, or with ``strict`` refused (a ValueError).
    ``strength`` (0..1 or "gentle", "balanced", "strong") trades artifact removal against texture, as in
    :func:`load_model`; None is the model's best-PSNR setting.
    ``bit_depth`` 16 returns uint16, keeping what the network computes between grey levels.

    Example:
        >>> restored = restore("photo.jpg")            # doctest: +SKIP
        >>> restored.shape, restored.dtype            # doctest: +SKIP
        ((321, 481, 3), dtype('uint8'))
    """
    if isinstance(source, np.ndarray):
        if qtables is None and quality is None:
            raise ValueError("a decoded array carries no quantization tables: pass qtables= or quality=")
        tables = np.asarray(qtables) if qtables is not None else ijg_qtables(quality)
        return restore_array(source, tables, model, device, precision=precision, strength=strength, bit_depth=bit_depth)
    if qtables is not None or quality is not None:
        raise ValueError("qtables/quality are read from the file; pass them only with a decoded array")
    with _naming(source):
        return _restore_jpeg(
            source, model, device, consistency, precision, max_pixels, strict, strength=strength, bit_depth=bit_depth
        )[0]


def restore_file(
    source: str | os.PathLike,
    destination: str | os.PathLike,
    model: ModelLike = None,
    device: str = "cpu",
    consistency: bool = True,
    precision: str = "auto",
    png_compress_level: int = PNG_COMPRESS_LEVEL,
    max_pixels: int | None = MAX_PIXELS,
    strict: bool = False,
    progress: bool = False,
    strength: float | str | None = None,
    *,
    quality: int | None = None,
    subsampling: str | None = None,
    bit_depth: int = 8,
) -> None:
    """Restore a JPEG file into an image file in the format its suffix names (PNG, TIFF, BMP, WebP, JPEG, AVIF),
    keeping its EXIF (orientation) and colour profile.

    The output is written atomically: it either appears complete or not at all, and never over ``source``.
    ``quality``, ``subsampling``, ``bit_depth`` and ``png_compress_level`` as in
    :class:`dejpeg.codec.images.Encoding` (e.g. ``quality=90`` for a JPEG, WebP or AVIF; ``bit_depth=16`` for
    PNG or TIFF), checked before anything is restored; ``max_pixels``, ``strict`` and ``strength`` as in
    :func:`restore`; ``progress`` as in :func:`restore_array`.
    """
    encoding = Encoding(quality, subsampling, bit_depth, png_compress_level)
    encoding.format_for(Path(destination).suffix)
    if Path(destination).exists() and os.path.samefile(source, destination):
        raise ValueError(f"refusing to overwrite the input {source} with its restoration")
    with _naming(source):
        restored, jpeg = _restore_jpeg(
            source, model, device, consistency, precision, max_pixels, strict, progress, strength, bit_depth
        )
    save_image(restored, destination, exif=jpeg.exif, icc_profile=jpeg.icc_profile, encoding=encoding)
