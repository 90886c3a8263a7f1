"""QGAC (Ehrlich et al. 2020): the paper's full configuration and its size, the coefficient pipeline (an untrained
network returns the file's own image), gray / 4:2:0 / 4:4:4 files end to end, the coefficient statistics, and the
staged training task."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import dejpeg
from dejpeg.cli.__main__ import main
from dejpeg.codec import decode, encode, load_rgb_u8, read_coefficients, read_qtables
from dejpeg.jpeg import luma_chroma_tables
from dejpeg.models import JpegSide, TaskSettings, count_params, create_model
from dejpeg.models.qgac import Qgac, QgacTask, coefficient_statistics
from dejpeg.runs import CONFIG, FINAL_WEIGHTS
from dejpeg.train.config import load_config
from dejpeg.train.data import JpegPatchStream, PatchConfig
from dejpeg.train.engine import training_batch
from dejpeg.train.losses import make_loss

TINY = {"width": 8, "coefficient_channels": 2, "per_frequency": 1, "chroma_width": 4, "manifold_channels": 4}
CONFIGS = Path(__file__).resolve().parents[2] / "configs"
#: The ablations of the paper's Table 5 as model options, each arm's Y network parameter count at the widths of its
#: config (configs/ehrlich2020/table5_<arm>.yaml): within 2 % of the paper's architecture (cfm).
TABLE5_LUMA_PARAMS = {
    "cfm": 1_813_165,
    "concat": 1_796_079,
    "none": 1_797_141,
    "block": 1_837_558,
    "frequency": 1_807_251,
    "no_fusion": 1_846_396,
}
ABLATIONS = [
    {"table_input": "concat"},
    {"table_input": "none"},
    {"luma_stages": "block"},
    {"luma_stages": "frequency"},
    {"fusion": False},
    {"luma_stages": "frequency", "fusion": False},
]


def _side(data: bytes) -> JpegSide:
    tables = torch.from_numpy(luma_chroma_tables(read_qtables(data)).astype(np.float32))[None]
    return JpegSide.from_file(tables, read_coefficients(data))


def _perturbed(model: Qgac) -> Qgac:
    """``model`` with its zero-initialised last layers drawn at random, so that its output depends on the network."""
    torch.manual_seed(1)
    for layer in (model.luma.fusion.layers[-1], model.chroma.unblock.weight_generator):
        torch.nn.init.normal_(layer.weight, std=1e-2)
    return model


@pytest.mark.slow
def test_full_configuration_size_and_forward():
    # 259,408,742 parameters: the same number the modules of the reference code add up to (its QGAC: BlockNet 1->64,
    # FrequencyNet, BlockNet 64->64, FrequencyFuser, ColorRestore; filter manifolds of 64 generator channels,
    # RRDBs whose five convolutions all output the block's width, one-parameter PReLUs), layer shape for layer
    # shape; later papers quote it as "about 259 M". Three quarters of it are the transposed convolutions that
    # generate the 256 x 64 kernels of 8x8 of the three filter manifolds between 256-channel maps and blocks of 64
    # coefficient channels: 64 x (256 x 64) x 64 weights each, 67.1 M. The RRDBs of 256 channels are 26.5 M each.
    torch.manual_seed(0)
    model = create_model("qgac", pretrained=False)
    assert type(model) is Qgac
    assert count_params(model) == 259_408_742
    data = encode(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8), quality=30)
    with torch.inference_mode():
        out = _perturbed(model)(torch.zeros(1, 3, 32, 32), _side(data))
    assert out.shape == (1, 3, 32, 32) and torch.isfinite(out).all()


def test_small_configuration_size():
    # Width 32, 8 coefficient channels, 2 channels per frequency, colour maps of 16, generators of 16 channels.
    assert count_params(create_model("qgac_small", pretrained=False)) == 2_406_534


@pytest.mark.parametrize(("channels", "subsampling", "tolerance"), [(1, "444", 2), (3, "444", 2)])
def test_an_untrained_network_returns_the_decoded_file(natural_image, channels, subsampling, tolerance):
    # The last layers start at zero, so the output is the file's coefficients made into pixels: Pillow's decode up
    # to libjpeg's integer IDCT and colour conversion (a grey level or two).
    data = encode(natural_image(72, 88, channels=channels), quality=20, subsampling=subsampling)
    restored = dejpeg.restore(data, create_model("qgac_small", pretrained=False), consistency=False, precision="fp32")
    assert np.abs(restored.astype(int) - decode(data).astype(int)).max() <= tolerance


@pytest.mark.parametrize(("channels", "subsampling"), [(1, "444"), (3, "420"), (3, "444"), (3, "422")])
def test_restores_gray_and_colour_files_of_every_subsampling(natural_image, channels, subsampling):
    data = encode(natural_image(72, 88, channels=channels), quality=20, subsampling=subsampling)
    untrained = create_model("qgac_small", pretrained=False)
    restored = dejpeg.restore(data, _perturbed(untrained), consistency=False, precision="fp32")
    identity = dejpeg.restore(data, create_model("qgac_small", pretrained=False), consistency=False, precision="fp32")
    assert restored.shape == decode(data).shape and restored.dtype == np.uint8
    assert np.abs(restored.astype(int) - identity.astype(int)).mean() > 0.5  # the network's correction shows


def test_cb_and_cr_share_one_network(natural_image):
    data = encode(natural_image(48, 64), quality=20, subsampling="420")
    side = _side(data)
    swapped = dataclasses.replace(side, coefficients=(side.coefficients[0], side.coefficients[2], side.coefficients[1]))
    model = _perturbed(create_model("qgac_small", pretrained=False))  # Cb's and Cr's statistics alike (the defaults)
    with torch.inference_mode():
        ycc = dejpeg.jpeg.rgb_to_ycbcr_jfif(model(torch.zeros(1, 3, 48, 64), side))
        ycc_swapped = dejpeg.jpeg.rgb_to_ycbcr_jfif(model(torch.zeros(1, 3, 48, 64), swapped))
    torch.testing.assert_close(ycc_swapped[:, [0, 2, 1]], ycc, atol=1e-4, rtol=0)


def test_restores_from_a_run_folder_on_the_command_line(tmp_path, natural_image):
    run = tmp_path / "run"
    run.mkdir()
    model = _perturbed(create_model("qgac_small", pretrained=False))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(run / FINAL_WEIGHTS))
    (run / CONFIG).write_text(json.dumps({"model": "qgac_small", "model_kwargs": {}}))
    for name, channels, subsampling in (("gray", 1, "444"), ("c420", 3, "420"), ("c444", 3, "444")):
        (tmp_path / f"{name}.jpg").write_bytes(encode(natural_image(40, 56, channels), 15, subsampling=subsampling))
    assert main(["restore", str(tmp_path / "gray.jpg"), str(tmp_path / "c420.jpg"), str(tmp_path / "c444.jpg"),
                 "-o", str(tmp_path / "out"), "--model", str(run), "--quiet"]) == 0  # fmt: skip
    assert load_rgb_u8(tmp_path / "out" / "c420.png").shape == (40, 56, 3)
    assert np.asarray(dejpeg.codec.images.Image.open(tmp_path / "out" / "gray.png")).shape == (40, 56)


def test_refuses_what_it_cannot_restore(natural_image):
    model = create_model("qgac_small", pretrained=False)
    side = _side(encode(natural_image(32, 32), quality=20))
    with pytest.raises(ValueError, match="coefficients"):
        model(torch.zeros(1, 3, 32, 32), JpegSide(side.qtables))
    with pytest.raises(ValueError, match="luma is at full resolution"):
        model(torch.zeros(1, 3, 32, 32), dataclasses.replace(side, sampling=((1, 1), (2, 2), (2, 2))))
    with pytest.raises(ValueError, match="cannot restore a 40x32 image"):
        model(torch.zeros(1, 3, 40, 32), side)


def _jpeg_folder(folder: Path, natural_image, count: int = 4) -> Path:
    folder.mkdir()
    for i in range(count):
        (folder / f"{i}.jpg").write_bytes(encode(natural_image(64, 80, seed=i), quality=95))
    return folder


def test_coefficient_statistics_of_known_images(tmp_path):
    # Flat grey images at quality 100 (every step 1): Y's DC is 8 (v - 128), every AC and all of Cb, Cr are 0.
    for value in (60, 200):
        (tmp_path / f"{value}.jpg").write_bytes(encode(np.full((32, 48, 3), value, np.uint8), quality=100))
    mean, std = coefficient_statistics(tmp_path)
    assert mean.shape == std.shape == (3, 64)
    assert mean[0, 0] == 8 * (130 - 128) and std[0, 0] == 8 * 70  # the two images have as many blocks each
    assert mean.abs()[:, 1:].max() == 0 and mean[1:].abs().max() == 0
    assert std[:, 1:].max() == 1 and std[1:].max() == 1  # the floor, MIN_STD


def test_coefficient_statistics_need_colour_jpegs(tmp_path, natural_image):
    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(ValueError, match="no JPEG"):
        coefficient_statistics(tmp_path)
    (tmp_path / "g.jpg").write_bytes(encode(natural_image(32, 32, channels=1), quality=90))
    with pytest.raises(ValueError, match="no colour JPEG"):
        coefficient_statistics(tmp_path)


def _settings(options: dict) -> TaskSettings:
    return TaskSettings(
        lr=1e-3,
        lr_lambda=lambda step: 1.0,
        grad_clip=0.0,
        freeze=(),
        loss=make_loss({"l1": 1.0, "ssim": 0.05}),
        autocast=contextlib.nullcontext,
        parallel=lambda module: module,
        device=torch.device("cpu"),
        options=options,
    )


@pytest.mark.parametrize(("stage", "gray_prob"), [("y", 1.0), ("y", 0.0), ("color", 0.0)])
def test_a_training_step_lowers_the_loss_and_trains_its_stage_only(tmp_path, natural_image, stage, gray_prob):
    folder = _jpeg_folder(tmp_path / "jpegs", natural_image)
    torch.manual_seed(0)
    model = Qgac(**TINY)
    task = QgacTask(model, _settings({"stage": stage, "statistics": str(folder)}))
    assert model.coefficient_std.min() >= 1 and model.coefficient_std[0, 0] > 10  # statistics in the buffers
    (optimizer,), _ = task.configure_optimizers()
    config = PatchConfig(str(folder), patch_size=32, batch_size=4, quality=(10, 30), gray_prob=gray_prob)
    batch = training_batch(JpegPatchStream(config, coefficients=True).make_batch(0), torch.device("cpu"))
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    losses = []
    for step in range(3):
        loss, terms = task.training_step(model, batch, step)
        assert set(terms) == {"l1", "ssim"}
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert task.training_step(model, batch, 3)[0] < losses[0]
    trained = "luma." if stage == "y" else "chroma."
    changed = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    assert changed and all(name.startswith(trained) for name in changed)


def test_task_options_are_checked(tmp_path):
    model = Qgac(**TINY)
    with pytest.raises(ValueError, match="stage must be one of"):
        QgacTask(model, _settings({"stage": "texture"}))
    with pytest.raises(ValueError, match="statistics"):
        QgacTask(model, _settings({"stage": "y"}))
    with pytest.raises(ValueError, match="unknown task_options"):
        QgacTask(model, _settings({"stage": "color", "alpha": 0.7}))


def test_statistics_are_saved_with_the_weights():
    model = Qgac(**TINY)
    model.set_statistics(torch.full((3, 64), 2.0), torch.full((3, 64), 3.0))
    copy = Qgac(**TINY)
    copy.load_state_dict(model.state_dict(), strict=True)
    assert copy.coefficient_mean[0, 0] == 2 and copy.coefficient_std[2, 63] == 3
    with pytest.raises(ValueError, match="positive"):
        model.set_statistics(torch.zeros(3, 64), torch.zeros(3, 64))


def test_table5_arms_have_equal_parameter_counts():
    counts = {}
    for arm in TABLE5_LUMA_PARAMS:
        cfg = load_config(CONFIGS / "ehrlich2020" / f"table5_{arm}.yaml")
        assert cfg.model == "qgac_small" and cfg.steps == 1500
        model = create_model(cfg.model, pretrained=False, **cfg.model_kwargs)
        counts[arm] = count_params(model.luma)
    assert counts == TABLE5_LUMA_PARAMS
    assert all(abs(count / counts["cfm"] - 1) < 0.02 for count in counts.values())
    # The per-quality models of Table 3 are the table-free arm trained at one quality.
    for quality in (10, 20):
        cfg = load_config(CONFIGS / "ehrlich2020" / f"table3_q{quality}.yaml")
        assert cfg.model_kwargs == load_config(CONFIGS / "ehrlich2020" / "table5_none.yaml").model_kwargs
        assert cfg.data.quality == quality


@pytest.mark.parametrize("ablation", ABLATIONS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_ablations_start_as_the_decoded_file_and_learn(natural_image, ablation):
    data = encode(natural_image(40, 48, channels=1), quality=20)
    model = create_model("qgac_small", pretrained=False, **{**TINY, **ablation})
    restored = dejpeg.restore(data, model, consistency=False, precision="fp32")
    assert np.abs(restored.astype(int) - decode(data).astype(int)).max() <= 2  # the residual starts at zero
    side = _side(data)
    pred = model(torch.zeros(1, 1, 40, 48), side)
    pred.square().mean().backward()
    luma = {name: p.grad for name, p in model.luma.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in luma.values())
    assert any(g.abs().sum() > 0 for g in luma.values())
    if ablation.get("table_input") == "none":  # the Y network never reads the table (it still dequantizes)
        blocks = torch.randn(1, 64, 5, 6)
        with torch.no_grad():
            assert torch.equal(model.luma(torch.rand(1, 8, 8), blocks), model.luma(torch.rand(1, 8, 8), blocks))


def test_ablation_options_are_checked():
    with pytest.raises(ValueError, match="table_input"):
        Qgac(**TINY, table_input="film")
    with pytest.raises(ValueError, match="luma_stages"):
        Qgac(**TINY, luma_stages="frequency_block")
