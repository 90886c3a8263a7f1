"""The contract every restoration model follows, so one engine, one CLI and one evaluator serve all."""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from typing import ClassVar

import torch
from torch import Tensor, nn

from dejpeg.jpeg.coefficients import JpegCoefficients
from dejpeg.layers.int8 import Int8Conv2d, int8_available, int8_compute, int8_is_fast
from dejpeg.models._task import TrainingTask

PRECISIONS = ("auto", "fp32", "bf16", "int8")
#: Named strengths: 0 keeps texture and grain, 1 removes every artifact it can; 0.5 steers by the file's own tables.
STRENGTH_PRESETS = {"gentle": 0.25, "balanced": 0.5, "strong": 0.75}
#: At strength 0 a model is steered by tables this many times finer than the file's, at 1 this many times coarser:
#: at quality 10 (IJG scale factor 500) from about quality 40 to 3, at quality 40 from about 84 to 10.
STRENGTH_RANGE = 4.0
#: The parts of :class:`JpegSide` a model may read besides the tables, which every caller gives.
SIDE_INFO = frozenset({"qtables", "coefficients"})


@dataclasses.dataclass(frozen=True)
class JpegSide:
    """What a JPEG file tells a model besides its decoded pixels; the restore path, evaluation and training fill
    the parts a model declares in :attr:`RestorationModel.side_info`, so no caller branches on model families.

    Attributes:
        qtables: (B, 2, 8, 8) float quantization tables (luma, chroma; a gray file's one table twice) in raster
            order, the values written in the file (1..255).
        coefficients: per component (Y, or Y/Cb/Cr), (B, rows, cols, 8, 8) float quantized DCT coefficients on
            the component's block grid at its coded resolution, rows = ceil(height / (8 * vertical factor)) of
            the image region they belong to; None where the model does not read them.
        sampling: per component (vertical, horizontal) sampling factors, e.g. ((2, 2), (1, 1), (1, 1)) for 4:2:0;
            None with ``coefficients``.
    """

    qtables: Tensor
    coefficients: tuple[Tensor, ...] | None = None
    sampling: tuple[tuple[int, int], ...] | None = None

    def __post_init__(self) -> None:
        if self.qtables.dim() != 4 or self.qtables.shape[1:] != (2, 8, 8):
            raise ValueError(f"qtables must be (B, 2, 8, 8), got {tuple(self.qtables.shape)}")
        if (self.coefficients is None) != (self.sampling is None) or (
            self.coefficients is not None and len(self.coefficients) != len(self.sampling)
        ):
            raise ValueError("coefficients and sampling come together, one sampling factor pair per component")

    @classmethod
    def from_file(
        cls, qtables: Tensor, coefficients: JpegCoefficients | None = None, device: torch.device | str = "cpu"
    ) -> JpegSide:
        """The side information of one file: ``qtables`` (1, 2, 8, 8) and, when given, its coefficients."""
        if coefficients is None:
            return cls(qtables.to(device))
        planes = tuple(torch.from_numpy(c.astype("float32"))[None].to(device) for c in coefficients.components)
        return cls(qtables.to(device), planes, coefficients.sampling)

    def to(self, device: torch.device | str) -> JpegSide:
        """This side information on ``device``, where the model runs."""
        planes = None if self.coefficients is None else tuple(c.to(device) for c in self.coefficients)
        return dataclasses.replace(self, qtables=self.qtables.to(device), coefficients=planes)

    def crop(self, top: int, left: int, height: int, width: int) -> JpegSide:
        """The side information of the image region ``[top, top + height) x [left, left + width)``: the blocks of
        each component that cover it. ``top`` and ``left`` must lie on the grid of the largest MCU (16 pixels for
        4:2:0), as tile corners do, so that every component's blocks start there."""
        if self.coefficients is None:
            return self
        mcu_v = 8 * max(v for v, _ in self.sampling)
        mcu_h = 8 * max(h for _, h in self.sampling)
        if top % mcu_v or left % mcu_h:
            raise ValueError(f"a crop of coefficients must start on the {mcu_v}x{mcu_h} MCU grid, got ({top}, {left})")
        planes = []
        for plane, (v, h) in zip(self.coefficients, self.sampling):
            # A component subsampled by (fy, fx) against the largest factors has one block per 8 fy x 8 fx pixels.
            fy, fx = max(s[0] for s in self.sampling) // v, max(s[1] for s in self.sampling) // h
            r0, c0 = top // (8 * fy), left // (8 * fx)
            rows, cols = -(-height // (8 * fy)), -(-width // (8 * fx))
            planes.append(plane[:, r0 : r0 + rows, c0 : c0 + cols])
        return dataclasses.replace(self, coefficients=tuple(planes))

    def luma(self) -> JpegSide:
        """The side information of the luma plane alone, for a gray-only model restoring a colour file's Y."""
        if self.coefficients is None:
            return self
        return dataclasses.replace(self, coefficients=self.coefficients[:1], sampling=((1, 1),))


def steer_tables(qtables: Tensor, strength: float) -> Tensor:
    """Quantization tables scaled from the file's towards finer (``strength`` < 0.5) or coarser (> 0.5) steps, which
    the model is told instead of the file's: scaling a table scales the IJG quality's scale factor, so this is the
    same file coded at a higher or lower quality, for any table. 0.5 gives the file's tables exactly.

    Args:
        qtables: (B, 2, 8, 8) tables as in :class:`JpegSide`.
        strength: 0..1.
    """
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be from 0 to 1, got {strength}")
    scale = STRENGTH_RANGE ** (2.0 * strength - 1.0)
    return (qtables * scale).round().clamp(1, 255)


def parse_strength(value: str | float) -> float:
    """A strength from a number 0..1 or a preset name (:data:`STRENGTH_PRESETS`); ValueError otherwise."""
    if isinstance(value, str) and value in STRENGTH_PRESETS:
        return STRENGTH_PRESETS[value]
    try:
        strength = float(value)
    except ValueError:
        presets = ", ".join(STRENGTH_PRESETS)
        raise ValueError(f"strength is a number from 0 to 1 or one of {presets}, got {value!r}") from None
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must be from 0 to 1, got {value}")
    return strength


class RestorationModel(nn.Module):
    """Maps a decoded JPEG to its restoration.

    ``forward(image, side)``:
        image: (B, C, H, W) float in [0, 1]; C == 1 (luma/gray) or 3 (RGB). H and W are multiples of
            ``size_multiple`` (callers pad, aligned to the JPEG grid, see ``dejpeg.restore``).
        side: a :class:`JpegSide` holding the file's tables and the other parts named in ``side_info``.
        returns: same shape as ``image``, unclamped.

    A new family subclasses this, declares what it reads and can take, registers itself
    (:func:`dejpeg.models.register_model`), and, when Adam on one loss does not train it, names its own
    :attr:`training_task`: nothing else in the package changes.
    """

    #: "any": gray and RGB inputs; "gray": one channel only (RGB callers restore Y and keep chroma).
    channels: ClassVar[str] = "any"
    #: The parts of :class:`JpegSide` the model reads; callers fill these (tables are always there).
    side_info: ClassVar[frozenset[str]] = frozenset()
    size_multiple: ClassVar[int] = 8
    #: True when the model keeps its precision-critical parts (colour and DCT transforms, skips) in fp32,
    #: so callers may run it under a bf16 autocast (faster on CPUs with native bf16: ``benchmarks/results/README.md``).
    autocast_safe: ClassVar[bool] = False
    #: How the training engine optimizes the model: a family with its own optimizers or step subclasses
    #: :class:`~dejpeg.models.TrainingTask` beside the model.
    training_task: ClassVar[type[TrainingTask]] = TrainingTask

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        unknown = set(cls.side_info) - SIDE_INFO
        if unknown or cls.channels not in ("any", "gray"):
            raise TypeError(f"{cls.__name__}: side_info within {sorted(SIDE_INFO)}, channels 'any' or 'gray'")

    def forward(self, image: Tensor, side: JpegSide) -> Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def with_strength(self, strength: float) -> RestorationModel:
        """This model restoring at ``strength`` (0: keep texture and grain .. 1: remove every artifact), a model
        that shares its weights; without it, each model restores at its best-PSNR setting. A family with a control
        overrides this; others refuse, since no setting of theirs trades artifacts against detail."""
        raise ValueError(f"{type(self).__name__} has no strength control: restore without a strength")

    def load_smaller_state(self, state: dict[str, Tensor]) -> None:
        """Load the weights of this architecture built with fewer channels or layers so that this larger copy
        computes the same function: a warm start that adds capacity without losing what was learned (Net2Net)."""
        raise NotImplementedError(f"{type(self).__name__} cannot be warm-started from a smaller copy")


class SteeredTables(RestorationModel):
    """A model told tables steered by a strength (:func:`steer_tables`) in place of the file's, for the families whose
    restoration follows the tables they are given (the table-conditioned default model; per-quality families, whose
    member is chosen by them). Only the model sees them: the DCT consistency step keeps the file's own."""

    def __init__(self, model: RestorationModel, strength: float) -> None:
        super().__init__()
        steer_tables(torch.ones(1, 2, 8, 8), strength)  # checks the range now, not at the first image
        self.model = model
        self.strength = strength
        self.channels, self.side_info, self.size_multiple = model.channels, model.side_info, model.size_multiple
        self.autocast_safe = model.autocast_safe

    def forward(self, image: Tensor, side: JpegSide) -> Tensor:
        return self.model(image, dataclasses.replace(side, qtables=steer_tables(side.qtables, self.strength)))


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 natively (AVX512-BF16 or AMX CPUs, Ampere+ GPUs); elsewhere bf16 is
    emulated and slower than fp32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private in torch 2.x: absent -> False
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)


def resolve_precision(model: nn.Module, device: torch.device | str, precision: str = "auto") -> str:
    """What ``precision`` means for ``model`` on ``device``: "fp32", "bf16" or "int8".

    "auto" = bf16 where the model is ``autocast_safe`` and the device computes bf16 natively; else int8 where
    the model has :class:`~dejpeg.layers.int8.Int8Conv2d` layers and the CPU sums 8-bit products exactly (x86
    with VNNI or AMX); else fp32. "int8" asks for int8 convolutions where the model allows them (the rest runs in fp32).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    device = torch.device(device)
    has_int8 = any(isinstance(m, Int8Conv2d) for m in model.modules())
    if precision == "int8":
        if not has_int8:
            raise ValueError(f"{type(model).__name__} has no int8 layers: use precision fp32, bf16 or auto")
        if device.type != "cpu" or not int8_available():
            raise ValueError("int8 compute needs the CPU and a PyTorch build with oneDNN (x86)")
    if precision == "bf16" and not native_bf16(device):
        _warn_emulated_bf16(device)
    if precision != "auto":
        return precision
    if getattr(model, "autocast_safe", False) and native_bf16(device):
        return "bf16"
    if has_int8 and device.type == "cpu" and int8_is_fast():
        return "int8"
    return "fp32"


def _warn_emulated_bf16(device: torch.device) -> None:
    """Warn from this one line, so Python's once-per-location filter shows it once however many tiles and
    images resolve the precision again."""
    warnings.warn(
        f"{device} has no native bf16 (AVX512-BF16 or AMX on CPUs, Ampere or newer GPUs): it is emulated, "
        'several times slower than fp32; precision "auto" picks the fastest',
        stacklevel=1,
    )


def autocast_for(
    model: nn.Module, device: torch.device | str, precision: str = "auto"
) -> torch.autocast | contextlib.AbstractContextManager[None]:
    """The context to run ``model`` in for ``precision`` (see :func:`resolve_precision`). Measured: bf16 on an
    The speed-ups measured for each precision are in ``benchmarks/results/README.md``."""
    device = torch.device(device)
    resolved = resolve_precision(model, device, precision)
    if resolved == "int8":
        return int8_compute()
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=resolved == "bf16")
