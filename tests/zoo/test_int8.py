import torch
from safetensors.torch import load_file, save_file

from dejpeg.jpeg import ijg_qtables
from dejpeg.models import JpegSide, create_model
from dejpeg.runs import FINAL_WEIGHTS
from dejpeg.zoo.export import export_weights
from dejpeg.zoo.int8 import SCALE_SUFFIX, dequantize_state, quantize_state


def test_quantize_round_trip_is_within_half_a_step_per_output_channel():
    torch.manual_seed(0)
    weight = torch.randn(6, 4, 3, 3) * torch.logspace(-3, 0, 6)[:, None, None, None]  # channels of other scales
    state = {"conv.weight": weight, "conv.bias": torch.randn(6), "count": torch.tensor(7)}
    packed = quantize_state(state)
    assert packed["conv.weight"].dtype == torch.int8
    assert packed["conv.bias"].dtype == torch.float16 and packed["count"].dtype == torch.int64
    restored = dequantize_state(packed)
    assert set(restored) == set(state)
    step = weight.abs().amax(dim=(1, 2, 3)) / 127
    error = (restored["conv.weight"] - weight).abs().amax(dim=(1, 2, 3))
    assert torch.all(error <= step / 2 + 1e-7)
    assert torch.all(error > 0)  # it did quantize


def test_keep_float_and_plain_states_pass_through():
    state = {"entry.weight": torch.randn(4, 2, 3, 3), "body.weight": torch.randn(4, 4, 3, 3)}
    packed = quantize_state(state, keep_float=("entry",))
    assert packed["entry.weight"].dtype == torch.float16 and "entry.weight" + SCALE_SUFFIX not in packed
    assert packed["body.weight"].dtype == torch.int8
    plain = {"w": torch.randn(3, 3)}
    assert dequantize_state(plain)["w"] is plain["w"]


def test_int8_export_is_smaller_and_computes_nearly_the_same(tmp_path):
    torch.manual_seed(0)
    kwargs = {"luma_width": 16, "luma_blocks": 2, "chroma_width": 8, "chroma_blocks": 1}
    model = create_model("dejpeg_net", pretrained=False, **kwargs)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.05)
    run = tmp_path / "run"
    run.mkdir()
    save_file(model.state_dict(), str(run / FINAL_WEIGHTS))
    half = export_weights(run, "tiny_half", "float16", out_dir=tmp_path)
    int8 = export_weights(run, "tiny_int8", "int8", out_dir=tmp_path)
    assert (tmp_path / int8["file"]).stat().st_size < 0.7 * (tmp_path / half["file"]).stat().st_size
    loaded = create_model("dejpeg_net", pretrained=False, **kwargs)
    loaded.load_state_dict(dequantize_state(load_file(int8["path"])))
    x = torch.rand(1, 3, 32, 32)
    tables = JpegSide(torch.from_numpy(ijg_qtables(20)).float()[None])
    with torch.no_grad():
        reference, got = model(x, tables), loaded(x, tables)
    change = (reference - x).norm()
    assert change > 1.0  # the net does change the image, so the comparison means something
    assert (got - reference).norm() < 0.02 * change  # measured 0.7 %
