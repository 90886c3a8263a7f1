"""L4 and L8 (Svoboda et al. 2016) and ARCNN (Dong et al. 2015): their layer tables, receptive fields, the
symmetric initialisation, the two objectives at initialisation, the training recipe and the luma-only restore."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

import dejpeg
from dejpeg.codec import decode, encode
from dejpeg.jpeg import ijg_qtables, rgb_to_ycbcr_jfif
from dejpeg.models import JpegSide, TaskSettings, count_params, create_model
from dejpeg.train.losses import make_loss

FAMILIES = ("l4", "l8", "arcnn")


def _conv(kernel: int, c_in: int, c_out: int) -> int:
    return kernel * kernel * c_in * c_out + c_out


#: The papers' layer tables, counted by hand: L8's layers 5 and 7 take 64 + 32 skip channels.
EXPECTED_PARAMS = {
    "l4": _conv(11, 1, 48) + _conv(3, 48, 64) + _conv(3, 64, 64) + _conv(5, 64, 1),
    "l8": _conv(11, 1, 32)
    + _conv(3, 32, 64)
    + 2 * _conv(3, 64, 64)
    + _conv(1, 64 + 32, 64)
    + _conv(5, 64, 64)
    + _conv(1, 64 + 32, 128)
    + _conv(5, 128, 1),
    "arcnn": _conv(9, 1, 64) + _conv(7, 64, 32) + _conv(1, 32, 16) + _conv(5, 16, 1),
}
RECEPTIVE_FIELD = {"l4": 11 + 2 + 2 + 4, "l8": 11 + 2 + 2 + 2 + 4 + 4, "arcnn": 9 + 6 + 4}


def _tables(batch: int, quality: int = 10) -> torch.Tensor:
    return torch.from_numpy(ijg_qtables(quality)).float().expand(batch, 2, 8, 8)


def _settings(options: dict | None = None, lr: float = 1e-3) -> TaskSettings:
    return TaskSettings(
        lr=lr,
        lr_lambda=lambda step: 1.0,
        grad_clip=0.0,
        freeze=(),
        loss=make_loss({"mse": 1.0}),
        autocast=contextlib.nullcontext,
        parallel=lambda module: module,
        device=torch.device("cpu"),
        options=options or {},
    )


@pytest.mark.parametrize("name", FAMILIES)
def test_parameter_count_matches_the_layer_table(name):
    assert count_params(create_model(name, pretrained=False)) == EXPECTED_PARAMS[name]


def test_parameter_counts_are_those_the_issue_quotes():
    assert round(EXPECTED_PARAMS["l4"], -3) == 72_000 and round(EXPECTED_PARAMS["l8"], -4) == 220_000


@pytest.mark.parametrize("name", FAMILIES)
def test_receptive_field_is_the_impulse_response_support(name):
    torch.manual_seed(0)
    model = create_model(name, pretrained=False)
    image = torch.rand(1, 1, 48, 48, requires_grad=True)
    model(image, JpegSide(_tables(1)))[0, 0, 24, 24].backward()
    rows = torch.nonzero(image.grad[0, 0].abs().sum(1)).flatten()
    cols = torch.nonzero(image.grad[0, 0].abs().sum(0)).flatten()
    assert rows.max() - rows.min() + 1 == cols.max() - cols.min() + 1 == RECEPTIVE_FIELD[name]


@pytest.mark.parametrize("name", FAMILIES)
def test_symmetric_initialisation_centres_every_filter(name):
    torch.manual_seed(0)
    centred = create_model(name, pretrained=False)
    torch.manual_seed(0)
    plain = create_model(name, pretrained=False, symmetric_init=False)
    for a, b in zip(centred.convs, plain.convs):
        assert a.weight.mean(dim=(1, 2, 3)).abs().max() < 1e-6
        assert torch.allclose(
            a.weight - a.weight.mean(dim=(1, 2, 3), keepdim=True), b.weight - b.weight.mean(dim=(1, 2, 3), keepdim=True)
        )
    assert plain.convs[0].weight.mean(dim=(1, 2, 3)).abs().max() > 1e-3  # the same draws, uncentred
    assert centred.convs[-1].weight.std() < 0.01 < centred.convs[0].weight.std()  # small Gaussian last, Xavier first


@pytest.mark.parametrize("name", FAMILIES)
def test_residual_starts_near_the_input_and_direct_near_zero(name):
    torch.manual_seed(0)
    image = 0.4 + 0.5 * torch.rand(2, 1, 32, 32)
    residual = create_model(name, pretrained=False, residual=True)(image, JpegSide(_tables(2)))
    direct = create_model(name, pretrained=False, residual=False)(image, JpegSide(_tables(2)))
    assert (residual - image).abs().max() < 0.05
    assert direct.abs().max() < 0.05 and (direct - image).abs().mean() > 0.3


def test_the_papers_objectives_are_the_defaults():
    assert create_model("l4", pretrained=False).residual and create_model("l8", pretrained=False).residual
    assert not create_model("arcnn", pretrained=False).residual


@pytest.mark.parametrize("name", FAMILIES)
def test_the_last_layer_learns_at_a_tenth_of_the_rate(name):
    model = create_model(name, pretrained=False)
    [optimizer], _ = model.training_task(model, _settings()).configure_optimizers()
    body, last = optimizer.param_groups
    assert isinstance(optimizer, torch.optim.Adam)
    assert body["lr"] == pytest.approx(1e-3) and last["lr"] == pytest.approx(1e-4)
    assert {id(p) for p in last["params"]} == {id(p) for p in model.convs[-1].parameters()}
    assert len(body["params"]) + len(last["params"]) == len(list(model.parameters()))


def test_task_options_choose_sgd_and_refuse_unknown_keys():
    model = create_model("l4", pretrained=False)
    options = {"optimizer": "sgd", "momentum": 0.8, "last_lr_scale": 0.5}
    [optimizer], _ = model.training_task(model, _settings(options)).configure_optimizers()
    assert isinstance(optimizer, torch.optim.SGD)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([1e-3, 5e-4])
    assert optimizer.param_groups[0]["momentum"] == 0.8
    with pytest.raises(ValueError, match="unknown task_options"):
        model.training_task(model, _settings({"optimiser": "sgd"}))
    with pytest.raises(ValueError, match="'adam' or 'sgd'"):
        model.training_task(model, _settings({"optimizer": "rmsprop"}))


@pytest.mark.parametrize("name", FAMILIES)
def test_training_steps_lower_the_loss(name, natural_image):
    torch.manual_seed(0)
    clean = np.stack([natural_image(32, 32, channels=1, seed=s) for s in range(4)])
    damaged = np.stack([decode(encode(c, quality=10)) for c in clean])
    batch = {
        "input": torch.from_numpy(damaged)[:, None].float() / 255,
        "target": torch.from_numpy(clean)[:, None].float() / 255,
        "side": JpegSide(_tables(4)),
    }
    model = create_model(name, pretrained=False)
    task = model.training_task(model, _settings(lr=1e-4))
    [optimizer], _ = task.configure_optimizers()
    losses = []
    for step in range(6):
        loss, _ = task.training_step(model, batch, step)
        losses.append(float(loss.detach()))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("name", FAMILIES)
def test_restores_the_luma_of_gray_and_colour_files_and_keeps_the_chroma(name, natural_image):
    model = create_model(name, pretrained=False)
    with torch.no_grad():
        model.convs[-1].bias.fill_(0.1)  # a visible change of the luma
    gray = encode(natural_image(48, 64, channels=1), quality=20)
    restored_gray = dejpeg.restore(gray, model, consistency=False, precision="fp32")
    assert restored_gray.shape == (48, 64)
    assert np.abs(restored_gray.astype(int) - decode(gray).astype(int)).mean() > 5
    colour = encode(natural_image(48, 64) // 2, quality=50, subsampling="444")  # dark: no clipping after +0.1
    restored = dejpeg.restore(colour, model, consistency=False, precision="fp32")
    before, after = (
        rgb_to_ycbcr_jfif(torch.from_numpy(a).permute(2, 0, 1)[None].double() / 255) * 255
        for a in (decode(colour), restored)
    )
    assert (after[:, 0] - before[:, 0]).abs().mean() > 5
    assert (after[:, 1:] - before[:, 1:]).abs().mean() < 1.0
