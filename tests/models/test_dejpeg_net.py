import pytest
import torch
from int8_reference import exact_int8, relative_error

from dejpeg.jpeg import blockify, dct_8x8, ijg_qtables
from dejpeg.layers.int8 import Int8Conv2d, int8_available
from dejpeg.models import JpegSide, autocast_for, create_model

TINY = {"luma_width": 8, "luma_blocks": 1, "chroma_width": 8, "chroma_blocks": 1}


def _tables(batch: int, quality: int = 20) -> torch.Tensor:
    return torch.from_numpy(ijg_qtables(quality)).float().expand(batch, 2, 8, 8)


def _perturbed(**kwargs) -> torch.nn.Module:
    """A tiny net moved off its identity start, so that its inputs matter."""
    torch.manual_seed(0)
    model = create_model("dejpeg_net", pretrained=False, **{**TINY, **kwargs})
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.1)
    return model


@pytest.mark.parametrize("dct_io", [False, True])
def test_untrained_dejpeg_net_is_identity(dct_io):
    # Zero-initialised exits: training starts from "return the input", never from noise.
    model = create_model("dejpeg_net", pretrained=False, dct_io=dct_io, **TINY)
    for c in (1, 3):
        x = torch.rand(1, c, 16, 24)
        torch.testing.assert_close(model(x, JpegSide(_tables(1))), x, atol=1e-5, rtol=0)


@pytest.mark.parametrize("dct_io", [False, True])
def test_dejpeg_net_uses_the_tables(dct_io):
    model = _perturbed(dct_io=dct_io)
    x = torch.rand(1, 1, 16, 16)
    assert not torch.allclose(model(x, JpegSide(_tables(1, 10))), model(x, JpegSide(_tables(1, 90))))


@pytest.mark.parametrize("dct_io", [False, True])
def test_unconditioned_dejpeg_net_ignores_the_tables(dct_io):
    model = _perturbed(dct_io=dct_io, conditioned=False)
    x = torch.rand(1, 3, 16, 16)
    torch.testing.assert_close(model(x, JpegSide(_tables(1, 10))), model(x, JpegSide(_tables(1, 90))))


def test_dct_io_sees_coefficients_in_quantization_steps():
    stage = create_model("dejpeg_net", pretrained=False, dct_io=True, **TINY).luma
    tables = torch.cat([_tables(1, 30), _tables(1, 70)])  # (B=2, C=2, 8, 8): other steps per image and channel
    steps = tables.flatten(2)
    x = torch.rand(2, 2, 16, 24)
    analysed = stage._analyse(x, steps)  # (2, 2*64, 2, 3), channel = (plane, raster frequency)
    expected = dct_8x8(blockify(x * 255.0 - 128.0)) / tables[:, :, None, None]  # (2, 2, 2, 3, 8, 8)
    got = analysed.unflatten(1, (2, 8, 8)).permute(0, 1, 4, 5, 2, 3)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-5)
    # The exit's output is a correction in those units: adding it shifts the analysis by exactly that much.
    correction = torch.randn(2, 128, 2, 3)
    moved = stage._analyse(x + stage._synthesise(correction, steps), steps)
    torch.testing.assert_close(moved - analysed, correction, atol=1e-4, rtol=0)


def test_bf16_autocast_rounds_only_the_network_not_the_image():
    # Identity start: a bf16 colour or DCT transform would round the pixels to ~1/256 of their value.
    identity = create_model("dejpeg_net", pretrained=False, **TINY)
    x = torch.rand(2, 3, 16, 24)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = identity(x, JpegSide(_tables(2)))
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)
    # A working network: bf16 changes its correction by about bf16's relative precision (2^-8), no more.
    model = _perturbed()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fast = model(x, JpegSide(_tables(2)))
    exact = model(x, JpegSide(_tables(2)))
    assert not torch.equal(fast, exact)  # the convolutions did run in bf16
    assert (fast - exact).abs().mean() < 0.02 * (exact - x).abs().mean()


@pytest.mark.skipif(not int8_available(), reason="this PyTorch build cannot run dejpeg's oneDNN int8 calls")
def test_int8_compute_quantizes_only_the_residual_blocks_and_exit(monkeypatch):
    model = _perturbed().eval()
    x = torch.rand(2, 3, 32, 40)
    with torch.inference_mode():
        exact = model(x, JpegSide(_tables(2)))
        with autocast_for(model, "cpu", "int8"):
            fast = model(x, JpegSide(_tables(2)))
            monkeypatch.setattr(Int8Conv2d, "_int8_forward", exact_int8)
            emulated = model(x, JpegSide(_tables(2)))
    assert not torch.equal(fast, exact)  # the int8 path did run
    # The whole network equals its float64 model with each Int8Conv2d's integer arithmetic emulated exactly
    # (what is left is rounding ties and float32 output scaling, about 1e-4 of the correction), on every
    # instruction set; summing saturated 16-bit pairs would move it by a tenth or more.
    assert relative_error(fast - x, emulated - x) < 1e-3
    # The entry sees coefficients whose scales differ 100-fold: it stays float.
    assert type(model.luma.entry) is torch.nn.Conv2d and isinstance(model.luma.exit, Int8Conv2d)


def test_widened_dejpeg_net_computes_what_the_narrow_one_did():
    narrow = _perturbed()  # luma 8 x 1 block, chroma 8 x 1 block, every weight nonzero
    torch.manual_seed(1)
    wide = create_model("dejpeg_net", pretrained=False, **{**TINY, "luma_width": 12, "chroma_width": 10})
    wide.load_smaller_state(narrow.state_dict())
    for c in (1, 3):
        x = torch.rand(2, c, 16, 24)
        torch.testing.assert_close(wide(x, JpegSide(_tables(2))), narrow(x, JpegSide(_tables(2))), atol=1e-5, rtol=1e-5)
    # The new channels are live: they carry signal and the exit receives gradient for them.
    x = torch.rand(2, 1, 16, 24)
    wide(x, JpegSide(_tables(2))).square().mean().backward()
    assert wide.luma.exit.weight.grad[:, 8:].abs().sum() > 0
    assert wide.luma.exit.weight[:, 8:].abs().sum() == 0


def test_deepened_dejpeg_net_computes_what_the_shallow_one_did():
    shallow = _perturbed()  # luma and chroma 1 block each, every weight nonzero
    torch.manual_seed(1)
    grown = {"luma_width": 12, "luma_blocks": 3, "chroma_blocks": 2}
    deep = create_model("dejpeg_net", pretrained=False, **{**TINY, **grown})
    deep.load_smaller_state(shallow.state_dict())
    for c in (1, 3):
        x = torch.rand(2, c, 16, 24)
        torch.testing.assert_close(
            deep(x, JpegSide(_tables(2))), shallow(x, JpegSide(_tables(2))), atol=1e-5, rtol=1e-5
        )
    # The old block and FiLM chunks are kept; each new block starts as the identity but learns: its second
    # convolution (zero) receives gradient through the first (fresh, nonzero).
    torch.testing.assert_close(deep.luma.body[0].conv1.weight[:8, :8], shallow.luma.body[0].conv1.weight)
    assert deep.luma.body[2].conv2.weight.abs().sum() == 0 and deep.luma.body[2].conv1.weight.abs().sum() > 0
    deep(torch.rand(2, 1, 16, 24), JpegSide(_tables(2))).square().mean().backward()
    assert deep.luma.body[2].conv2.weight.grad.abs().sum() > 0


def test_growing_rejects_smaller_targets_and_other_layers():
    small = _perturbed()
    with pytest.raises(ValueError, match="fewer channels or trailing blocks"):
        small.load_smaller_state(_perturbed(luma_blocks=2).state_dict())
    narrower = create_model("dejpeg_net", pretrained=False, **{**TINY, "luma_width": 6})
    with pytest.raises(ValueError, match="cannot widen"):
        narrower.load_smaller_state(small.state_dict())
    state = small.state_dict()
    state["luma.extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match="fewer channels or trailing blocks"):
        small.load_smaller_state(state)
