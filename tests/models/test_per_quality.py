"""Weights trained at one JPEG quality each are the members of their architecture: its name restores each image with
the member trained nearest the image's quality, and ``dejpeg info`` says which member a file gets."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import dejpeg
from dejpeg.cli.info import jpeg_info
from dejpeg.cli.models import describe_models
from dejpeg.codec import decode, encode
from dejpeg.files import sha256_file
from dejpeg.jpeg import ijg_qtables
from dejpeg.models import (
    JpegSide,
    PerQualityModel,
    Weights,
    _registry,
    create_model,
    nearest_member,
    quality_members,
    register_weights,
)


@pytest.fixture
def registry(monkeypatch):
    """A copy of the registry without the shipped per-quality members, for the test to add its own to; the real one
    is restored afterwards."""
    shipped = _registry._REGISTRY.items()
    members = {name for name, entry in shipped if entry.weights is not None and entry.weights.quality is not None}
    monkeypatch.setattr(_registry, "_REGISTRY", {name: e for name, e in shipped if name not in members})


def _register(tmp_path: Path, name: str, quality: int | None, shift: float) -> None:
    """Weights of ``l4`` whose output is the input plus ``shift`` (and a small random correction)."""
    model = create_model("l4", pretrained=False)
    with torch.no_grad():
        model.convs[-1].bias.fill_(shift)
    path = tmp_path / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    register_weights(name, Weights(path, sha256_file(path), "test", "test", quality=quality), use="test")


def _tables(*qualities: int) -> torch.Tensor:
    return torch.stack([torch.from_numpy(ijg_qtables(q)).float().expand(2, 8, 8) for q in qualities])


def test_each_image_goes_to_the_member_nearest_its_quality(registry, tmp_path):
    _register(tmp_path, "l4.q10_test", 10, 0.1)
    _register(tmp_path, "l4.q50_test", 50, -0.1)
    _register(tmp_path, "l4.q10_60_test", None, 0.0)  # trained at several qualities: not a member
    assert quality_members("l4") == {10: "l4.q10_test", 50: "l4.q50_test"}
    model = create_model("l4", pretrained=True)
    assert isinstance(model, PerQualityModel) and model.channels == "gray" and not model.training
    image = torch.full((2, 1, 32, 32), 0.5)
    out = model(image, JpegSide(_tables(15, 40)))
    assert (out[0] - 0.6).abs().max() < 0.02 and (out[1] - 0.4).abs().max() < 0.02
    assert model.member_for(_tables(45)[0]) == (50, "l4.q50_test")


def test_a_tie_goes_to_the_lower_quality():
    members = {10: "a", 50: "b"}
    assert nearest_member(members, ijg_qtables(30)[0]) == (10, "a")
    assert nearest_member(members, ijg_qtables(31)[0]) == (50, "b")


def test_one_member_per_quality(registry, tmp_path):
    _register(tmp_path, "l4.q10_test", 10, 0.0)
    with pytest.raises(ValueError, match="already has weights trained at quality 10"):
        _register(tmp_path, "l4.q10_other", 10, 0.0)


def test_info_names_the_member_a_file_gets(registry, tmp_path, natural_image):
    _register(tmp_path, "l4.q20_test", 20, 0.0)
    _register(tmp_path, "l4.q60_test", 60, 0.0)
    path = tmp_path / "a.jpg"
    path.write_bytes(encode(natural_image(32, 32), quality=50))
    assert jpeg_info(path)["per_quality_members"] == {"l4": {"quality": 60, "name": "l4.q60_test"}}


def test_models_lists_the_family_with_its_members(registry, tmp_path):
    _register(tmp_path, "l4.q10_test", 10, 0.0)
    _register(tmp_path, "l4.q50_test", 50, 0.0)
    record = next(r for r in describe_models() if r["name"] == "l4")
    assert record["has_weights"] and record["members"] == {10: "l4.q10_test", 50: "l4.q50_test"}
    assert "nearest of q10, q50" in record["use"]


def test_a_colour_file_gets_its_luma_from_the_member(registry, tmp_path, natural_image):
    _register(tmp_path, "l4.q10_test", 10, 0.1)
    data = encode(natural_image(32, 48) // 2, quality=12, subsampling="444")
    restored = dejpeg.restore(data, create_model("l4", pretrained=True), consistency=False, precision="fp32")
    brighter = restored.astype(int) - decode(data).astype(int)
    assert restored.shape == (32, 48, 3) and 15 < brighter.mean() < 35  # +0.1 luma: about +25 on every channel
