import pytest
import torch

from dejpeg.jpeg import ijg_qtables
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
from dejpeg.models._registry import sha256_file

TINY = {"dejpeg_net": {"luma_width": 8, "luma_blocks": 1, "chroma_width": 8, "chroma_blocks": 1}}


def _tables(batch: int, quality: int = 20) -> torch.Tensor:
    return torch.from_numpy(ijg_qtables(quality)).float().expand(batch, 2, 8, 8)


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
    out = model(x, JpegSide(_tables(2)))
    assert out.shape == x.shape
    out.square().mean().backward()
    assert torch.isfinite(out).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("name", list_models(pretrained=True))
def test_pretrained_weights_load_and_match_checksum(name):
    entry = get_entry(name)
    assert sha256_file(entry.weights.path) == entry.weights.sha256
    model = create_model(name, pretrained=True)
    assert not model.training


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
