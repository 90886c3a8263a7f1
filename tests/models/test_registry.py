import re
from pathlib import Path

import pytest
import torch

from dejpeg.jpeg import ijg_qtables, rgb_to_ycbcr_jfif
from dejpeg.layers.block_dct import block_dct
from dejpeg.layers.int8 import int8_available, int8_is_fast
from dejpeg.models import (
    DejpegNet,
    JpegSide,
    RestorationModel,
    autocast_for,
    create_model,
    default_model_name,
    get_entry,
    list_models,
    native_bf16,
    register_model,
    resolve_precision,
)
from dejpeg.models import _registry as registry
from dejpeg.models._registry import sha256_file

TINY = {
    "dejpeg_net": {"luma_width": 8, "luma_blocks": 1, "chroma_width": 8, "chroma_blocks": 1},
    "qgac": {"width": 8, "coefficient_channels": 2, "per_frequency": 1, "chroma_width": 4, "manifold_channels": 4},
}


def _tables(batch: int, quality: int = 20) -> torch.Tensor:
    return torch.from_numpy(ijg_qtables(quality)).float().expand(batch, 2, 8, 8)


def _side(model: RestorationModel, x: torch.Tensor) -> JpegSide:
    """The side information ``model`` reads for ``x``: for models reading coefficients, those of ``x`` itself
    quantized with the tables (4:4:4), which is what a file coded from ``x`` would hold."""
    tables = _tables(x.shape[0])
    if "coefficients" not in model.side_info:
        return JpegSide(tables)
    planes = rgb_to_ycbcr_jfif(x) if x.shape[1] == 3 else x
    coefficients = block_dct(planes.detach(), level_shift=True).unflatten(1, (x.shape[1], 8, 8))
    steps = tables[:, [0, 1, 1][: x.shape[1]], :, :, None, None]
    quantized = (coefficients / steps).round().permute(1, 0, 4, 5, 2, 3)  # per component (B, rows, cols, 8, 8)
    return JpegSide(tables, tuple(quantized), ((1, 1),) * x.shape[1])


def _arch(name: str) -> str:
    return name.split(".")[0]


def test_duplicate_and_bad_names_are_rejected():
    with pytest.raises(ValueError, match="already registered"):
        register_model("dejpeg_net", DejpegNet)
    with pytest.raises(ValueError, match="lowercase"):
        register_model("Dejpeg-Net", DejpegNet)


def test_unknown_model_and_missing_weights_raise():
    with pytest.raises(ValueError, match="unknown model"):
        create_model("no_such_model")
    with pytest.raises(ValueError, match="no pretrained weights"):
        create_model("dejpeg_net", pretrained=True)


def test_create_model_returns_exact_class():
    assert type(create_model("dejpeg_net", pretrained=False)) is DejpegNet


@pytest.mark.parametrize("name", [n for n in list_models() if "." not in n])
@pytest.mark.parametrize("channels", [1, 3])
def test_forward_backward_no_nan(name, channels):
    torch.manual_seed(0)
    model = create_model(name, pretrained=False, **TINY.get(name, {}))
    assert isinstance(model, RestorationModel)
    if model.channels == "gray" and channels == 3:
        pytest.skip("gray-only model")
    x = torch.rand(2, channels, 32, 48, requires_grad=True)
    out = model(x, _side(model, x))
    assert out.shape == x.shape
    out.square().mean().backward()
    assert torch.isfinite(out).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("name", [n for n in list_models(pretrained=True) if get_entry(n).weights is not None])
def test_pretrained_weights_load_and_match_checksum(name):
    entry = get_entry(name)
    assert sha256_file(entry.weights.path) == entry.weights.sha256
    model = create_model(name, pretrained=True)
    assert not model.training


def _github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation but ``-`` and ``_`` dropped, spaces to
    hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_github_anchor_follows_githubs_rule():
    assert _github_anchor("`blockcnn_predictor.bsds300` (the BlockCNN codec's predictor)") == (
        "blockcnn_predictorbsds300-the-blockcnn-codecs-predictor"
    )


@pytest.mark.parametrize("name", [n for n in list_models(pretrained=True) if get_entry(n).weights is not None])
def test_shipped_weights_link_to_their_model_card(name):
    document, _, anchor = get_entry(name).weights.card.partition("#")
    text = (Path(__file__).resolve().parents[2] / document).read_text()
    headings = {_github_anchor(line.lstrip("#")) for line in text.splitlines() if line.startswith("#")}
    assert anchor in headings, f"{name}'s card {anchor!r} is no heading of {document}"


def test_models_without_weights_to_learn_are_ready_as_built(monkeypatch):
    monkeypatch.setattr("dejpeg.models._registry._REGISTRY", dict(registry._REGISTRY))
    register_model("test_weightless", torch.nn.Identity, needs_weights=False)
    assert isinstance(create_model("test_weightless", pretrained=True), torch.nn.Identity)
    assert "test_weightless" in list_models(pretrained=True)
    assert "test_weightless" not in list_models(pretrained=False)
    assert "dejpeg_net" in list_models(pretrained=False)  # an architecture that needs training still refuses


def test_one_default_with_weights():
    name = default_model_name()
    assert get_entry(name).weights is not None


def test_autocast_for_follows_the_model_and_the_request():
    safe = create_model("dejpeg_net", pretrained=False, luma_width=8, luma_blocks=1, chroma_width=8, chroma_blocks=1)
    unsafe = create_model("unet", pretrained=False)
    assert not unsafe.autocast_safe and safe.autocast_safe
    assert not _enabled(autocast_for(unsafe, "cpu", "auto"))  # a model that did not opt in stays fp32
    assert _enabled(autocast_for(safe, "cpu", "auto")) == native_bf16(torch.device("cpu"))
    assert _enabled(autocast_for(unsafe, "cpu", "bf16")) and not _enabled(autocast_for(safe, "cpu", "fp32"))
    with pytest.raises(ValueError, match="precision"):
        autocast_for(safe, "cpu", "fp16")


def test_resolve_precision_prefers_native_bf16_then_int8():
    dejpeg = create_model("dejpeg_net", pretrained=False, **TINY["dejpeg_net"])
    unet = create_model("unet", pretrained=False)
    expected = "bf16" if native_bf16(torch.device("cpu")) else "int8" if int8_is_fast() else "fp32"
    assert resolve_precision(dejpeg, "cpu", "auto") == expected
    assert resolve_precision(unet, "cpu", "auto") == "fp32"  # neither autocast-safe nor with int8 layers
    assert resolve_precision(dejpeg, "cpu", "fp32") == "fp32"
    with pytest.raises(ValueError, match="no int8 layers"):
        resolve_precision(unet, "cpu", "int8")
    if int8_available():
        assert resolve_precision(dejpeg, "cpu", "int8") == "int8"


def _enabled(context: torch.autocast) -> bool:
    with context:
        return torch.is_autocast_enabled("cpu")
