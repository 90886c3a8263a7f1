"""Published networks from their own checkpoint files (``--model ckpt.pth``): spandrel detects the architecture, and
the network then restores, tiles and evaluates like a registry model.

No published weights can be downloaded here: each checkpoint is built from spandrel's own architecture classes (the
published repositories' key names) with random weights, in configurations smaller than the published ones where the
layout allows. FBCNN's cannot be small: its quality predictor is a fixed 512-wide linear layer, so its bottom level
is 512 channels wide (30 M parameters, against 72 M published).

torchvision: spandrel imports every architecture it knows when it is imported, and two of them (LaMa, an inpainter,
and RestoreFormer, a face restorer) import ``torchvision.transforms.functional``. Where the installed torchvision does
not load (PyPI's CUDA build beside a CPU torch: ``RuntimeError: operator torchvision::nms does not exist``), the
fixture below puts a stand-in in its place, holding only the three names those two modules import, whose functions
raise if called. Nothing tested here reaches torchvision: detection, hyperparameter reading, loading and the five
architectures are spandrel's own code, run unchanged; where torchvision loads, the real one is used.
"""

from __future__ import annotations

import enum
import json
import os
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from torch import nn

import dejpeg
from dejpeg.api import load_model, restore_array
from dejpeg.cli.__main__ import main
from dejpeg.codec import decode, encode
from dejpeg.jpeg import ijg_qtables
from dejpeg.models import JpegSide, load_checkpoint

SRC = Path(__file__).resolve().parents[2] / "src"


def _stand_in_torchvision() -> dict[str, types.ModuleType]:
    """The names spandrel's LaMa and RestoreFormer import from torchvision, calling nothing."""

    def unavailable(*args: object, **kwargs: object) -> None:
        raise RuntimeError("torchvision stand-in: the installed torchvision does not load")

    functional = types.ModuleType("torchvision.transforms.functional")
    functional.InterpolationMode = enum.Enum("InterpolationMode", ["NEAREST", "BILINEAR", "BICUBIC"])
    functional.rotate = unavailable
    functional.normalize = unavailable
    transforms = types.ModuleType("torchvision.transforms")
    transforms.functional = functional
    torchvision = types.ModuleType("torchvision")
    torchvision.transforms = transforms
    return {"torchvision": torchvision, "torchvision.transforms": transforms, functional.__name__: functional}


@pytest.fixture(scope="module")
def spandrel() -> Iterator[types.ModuleType]:
    """spandrel, imported with the real torchvision where it loads, else with the stand-in (removed afterwards, so
    that other tests see torchvision as it is)."""
    stand_in: dict[str, types.ModuleType] = {}
    try:
        import torchvision  # noqa: F401
    except Exception:  # RuntimeError for the mismatched build; ImportError where absent
        for name in [name for name in sys.modules if name.split(".")[0] == "torchvision"]:
            del sys.modules[name]
        stand_in = _stand_in_torchvision()
        sys.modules.update(stand_in)
    try:
        yield pytest.importorskip("spandrel", reason='spandrel is not installed (pip install "dejpeg[spandrel]")')
    finally:
        for name in stand_in:
            sys.modules.pop(name, None)


def _networks(spandrel: types.ModuleType) -> dict[str, Callable[[], nn.Module]]:
    """Each architecture in its published key layout, small; FBCNN colour, SwinIR gray (its CAR models), SCUNet and
    DRUNet colour, DnCNN gray (DnCNN-3)."""
    arch = spandrel.architectures
    return {
        "FBCNN": lambda: arch.FBCNN.FBCNN(in_nc=3, out_nc=3, nc=[8, 16, 32, 512], nb=2),
        "SwinIR": lambda: arch.SwinIR.SwinIR(
            img_size=14,
            in_chans=1,
            embed_dim=12,
            depths=[2],
            num_heads=[2],
            window_size=7,
            mlp_ratio=2.0,
            upscale=1,
            img_range=255.0,
            upsampler="",
            resi_connection="1conv",
        ),  # fmt: skip
        "SCUNet": lambda: arch.SCUNet.SCUNet(in_nc=3, config=[2] * 7, dim=64),
        "DRUNet": lambda: arch.DRUNet.DRUNet(in_nc=4, out_nc=3, nc=[8, 16, 32, 64], nb=2),
        "DnCNN": lambda: arch.DnCNN.DnCNN(in_nc=1, out_nc=1, nc=16, nb=5, act_mode="BR"),
    }


def _save(state: dict[str, torch.Tensor], path: Path, wrapper: str) -> Path:
    """``state`` as a checkpoint: a plain state dict, inside ``params`` or ``params_ema`` (KAIR, BasicSR), or
    safetensors."""
    if wrapper == "safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(path.with_suffix(".safetensors")))
        return path.with_suffix(".safetensors")
    torch.save(state if wrapper == "plain" else {wrapper: state}, path)
    return path


@pytest.fixture(scope="module")
def checkpoints(spandrel, tmp_path_factory) -> dict[str, tuple[Path, nn.Module]]:
    """A plain ``.pth`` of each architecture, with the module it was saved from."""
    folder = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)
    made = {}
    for name, build in _networks(spandrel).items():
        net = build().eval()
        made[name] = (_save(net.state_dict(), folder / f"{name}.pth", "plain"), net)
    return made


@pytest.fixture
def jpegs(tmp_path, natural_image) -> dict[str, Path]:
    """A gray and a colour JPEG at quality 20 (72 x 88: not a multiple of SwinIR's 7 or SCUNet's 64)."""
    files = {}
    for kind, channels in (("gray", 1), ("colour", 3)):
        files[kind] = tmp_path / f"{kind}.jpg"
        files[kind].write_bytes(encode(natural_image(72, 88, channels, seed=channels), quality=20))
    return files


def _direct(name: str, net: nn.Module, image: torch.Tensor) -> torch.Tensor:
    """The network called as its repository calls it, on an image of the size it wants."""
    with torch.inference_mode():
        if name == "FBCNN":
            return net(image)[0]
        if name == "DRUNet":
            return net(torch.cat([image, torch.full_like(image[:, :1], 15 / 255)], dim=1))
        return net(image)


@pytest.mark.parametrize("name", ["FBCNN", "SwinIR", "SCUNet", "DRUNet", "DnCNN"])
@pytest.mark.parametrize("wrapper", ["plain", "params", "params_ema", "safetensors"])
def test_detects_the_architecture_and_loads_its_weights(checkpoints, tmp_path, name, wrapper):
    path, net = checkpoints[name]
    if wrapper != "plain":
        path = _save(net.state_dict(), tmp_path / f"{name}.pth", wrapper)
    model = load_checkpoint(path)
    assert model.architecture == name
    loaded = model.net.state_dict()
    for key, value in net.state_dict().items():
        torch.testing.assert_close(loaded[key], value, rtol=0, atol=0)
    channels = 1 if name in ("SwinIR", "DnCNN") else 3
    assert model.channels == ("gray" if channels == 1 else "any")
    image = torch.rand(1, channels, 64, 64, generator=torch.Generator().manual_seed(1))
    side = JpegSide(torch.from_numpy(ijg_qtables(20)).float()[None])
    with torch.inference_mode():
        # spandrel clamps to [0, 1]; the network's own output is unclamped
        torch.testing.assert_close(model(image, side), _direct(name, net, image).clamp(0, 1))


def test_padding_follows_each_architecture(checkpoints):
    """The caller pads to these multiples: SwinIR's 7-px windows with the 8-px JPEG grid, SCUNet's 64."""
    multiples = {name: load_checkpoint(path).size_multiple for name, (path, _) in checkpoints.items()}
    assert multiples == {"FBCNN": 8, "SwinIR": 56, "SCUNet": 64, "DRUNet": 8, "DnCNN": 8}


@pytest.mark.parametrize("name", ["FBCNN", "SwinIR", "SCUNet", "DRUNet", "DnCNN"])
def test_cli_restores_gray_and_colour_jpegs(checkpoints, jpegs, tmp_path, name):
    path, _ = checkpoints[name]
    for kind, jpeg in jpegs.items():
        out = tmp_path / f"{kind}.png"
        assert main(["restore", str(jpeg), "-o", str(out), "--model", str(path), "--quiet"]) == 0
        restored = np.asarray(Image.open(out))
        assert restored.shape == decode(jpeg).shape  # gray stays gray, colour colour, the size kept
        np.testing.assert_array_equal(restored, dejpeg.restore(jpeg, model=path))


def test_gray_network_restores_the_luma_of_a_colour_file(checkpoints, jpegs):
    """A one-channel network changes Y only: the chroma of the result is the file's, to 8-bit rounding, wherever the
    new Y leaves R, G and B inside 0..255 (clipping them changes the chroma too)."""
    from dejpeg.jpeg import rgb_to_ycbcr_jfif

    path, _ = checkpoints["DnCNN"]
    damaged = decode(jpegs["colour"])
    restored = dejpeg.restore(jpegs["colour"], model=path, consistency=False)

    def ycbcr(u8: np.ndarray) -> torch.Tensor:
        return rgb_to_ycbcr_jfif(torch.from_numpy(u8).permute(2, 0, 1)[None].float() / 255)[0]

    assert float((ycbcr(restored)[0] - ycbcr(damaged)[0]).abs().mean()) > 1 / 255  # more than rounding moves it
    unclipped = torch.from_numpy(((restored > 0) & (restored < 255)).all(axis=2))
    assert unclipped.float().mean() > 0.9
    change = (ycbcr(restored)[1:] - ycbcr(damaged)[1:])[:, unclipped]
    assert float(change.abs().max()) <= 1.5 / 255  # R, G, B each rounded: at most half a level each, weighted < 1


def test_tiles_restore_like_the_whole_image(checkpoints, natural_image):
    """DnCNN sees 13 px around a pixel (6 convolutions): tiles with 16 px of overlap give the whole image's result;
    a 99 x 90 SwinIR restore in 32-px tiles pads every tile to its 56-px multiple."""
    tables = ijg_qtables(20)
    damaged = decode(encode(natural_image(99, 90, 1), quality=20))
    dncnn = load_checkpoint(checkpoints["DnCNN"][0])
    whole = restore_array(damaged, tables, dncnn)
    tiled = restore_array(damaged, tables, dncnn, tile=32, overlap=16)
    assert np.abs(whole.astype(int) - tiled).max() <= 1  # fp32 sums in another order: one grey level at most
    swinir = restore_array(damaged, tables, load_checkpoint(checkpoints["SwinIR"][0]), tile=32, overlap=16)
    assert swinir.shape == damaged.shape


def test_restore_keeps_the_metadata(checkpoints, natural_image, tmp_path):
    jpeg = tmp_path / "exif.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation
    Image.fromarray(natural_image(48, 64)).save(jpeg, quality=30, exif=exif.tobytes())
    out = tmp_path / "out.png"
    assert main(["restore", str(jpeg), "-o", str(out), "--model", str(checkpoints["SCUNet"][0]), "--quiet"]) == 0
    assert Image.open(out).getexif()[0x0112] == 6


@pytest.mark.parametrize("name", ["FBCNN", "SwinIR"])
def test_cli_evaluates_a_checkpoint(checkpoints, image_folder, tmp_path, name):
    path, _ = checkpoints[name]
    report = tmp_path / "scores.json"
    args = ["evaluate", str(image_folder), "--model", str(path), "--quality", "20", "--max-images", "2"]
    assert main([*args, "--json", str(report), "--quiet"]) == 0
    result = json.loads(report.read_text())
    assert result["model"] == str(path) and result["images"] == 2
    assert np.isfinite(result["rows"][0]["psnr"]) and result["rows"][0]["jpeg_psnr"] > 20


class _Payload:
    """Unpickling this runs ``Path.touch`` on the marker: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickled_objects_are_refused_unrun(checkpoints, jpegs, tmp_path, capsys):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pth"
    torch.save({"params": checkpoints["DnCNN"][1].state_dict(), "extra": _Payload(marker)}, path)
    with pytest.raises(ValueError, match="objects other than tensors"):
        load_checkpoint(path)
    assert main(["restore", str(jpegs["gray"]), "-o", str(tmp_path / "x.png"), "--model", str(path)]) == 2
    assert "refused: it holds objects other than tensors" in capsys.readouterr().err
    assert not marker.exists()


def test_super_resolution_is_refused(spandrel, tmp_path):
    sr = spandrel.architectures.SwinIR.SwinIR(
        img_size=16, in_chans=3, embed_dim=12, depths=[2], num_heads=[2], window_size=8, mlp_ratio=2.0,
        upscale=2, upsampler="pixelshuffle", resi_connection="1conv",
    )  # fmt: skip
    path = _save(sr.state_dict(), tmp_path / "swinir_x2.pth", "params")
    with pytest.raises(ValueError, match=r"a SwinIR SR model, 2x: dejpeg restores JPEGs at their own size"):
        load_checkpoint(path)


def test_unknown_layouts_and_files_are_refused(spandrel, tmp_path):
    unknown = _save({"encoder.weight": torch.zeros(3, 3)}, tmp_path / "unknown.pth", "plain")
    with pytest.raises(ValueError, match="spandrel recognises no architecture"):
        load_checkpoint(unknown)
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable PyTorch checkpoint"):
        load_checkpoint(broken)
    with pytest.raises(ValueError, match="no such checkpoint file"):
        load_model(tmp_path / "absent.safetensors")


def test_strength_reaches_fbcnn_quality_input_only(checkpoints):
    """FBCNN is told 1 - quality / 100 (its repository's convention) for the file's tables steered by the strength:
    at quality 20 (IJG scale factor 250) strength 1 scales them 4x, to the tables of quality 5 (scale 1000)."""
    fbcnn = load_checkpoint(checkpoints["FBCNN"][0])
    side = JpegSide(torch.from_numpy(ijg_qtables(20)).float()[None])
    assert fbcnn.with_strength(0.5)._fbcnn_quality_input(side).tolist() == [[pytest.approx(0.80)]]
    assert fbcnn.with_strength(1.0)._fbcnn_quality_input(side).tolist() == [[pytest.approx(0.95)]]
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        gentle, strong = fbcnn.with_strength(0.0)(image, side), fbcnn.with_strength(1.0)(image, side)
    assert not torch.equal(gentle, strong)
    with pytest.raises(ValueError, match=r"SwinIR \(SwinIR.pth\) has no strength control"):
        load_checkpoint(checkpoints["SwinIR"][0]).with_strength(0.5)


def test_missing_spandrel_is_one_clear_line(monkeypatch, jpegs, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "spandrel", None)  # import spandrel raises ImportError
    path = tmp_path / "model.pth"
    with pytest.raises(RuntimeError, match=r'needs spandrel: pip install "dejpeg\[spandrel\]"'):
        load_checkpoint(path)
    assert main(["restore", str(jpegs["gray"]), "-o", str(tmp_path / "x.png"), "--model", str(path)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith('pip install "dejpeg[spandrel]"')


def test_import_dejpeg_does_not_import_spandrel():
    code = (
        "import sys, dejpeg, dejpeg.models, dejpeg.api, dejpeg.cli.__main__; "
        "assert 'spandrel' not in sys.modules and 'torchvision' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(SRC)}, timeout=120)
