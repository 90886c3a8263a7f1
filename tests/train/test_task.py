"""Training tasks: the default reproduces Adam on one loss; families own their optimizers and step (per-layer
learning rates, manual two-optimizer GAN steps, frozen stages) and receive the side information they declare."""

import contextlib
import dataclasses
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import Tensor, nn

from dejpeg.jpeg.dct import idct_8x8
from dejpeg.models import JpegSide, RestorationModel, TaskSettings, TrainingTask
from dejpeg.runs import CHECKPOINT, FINAL_WEIGHTS
from dejpeg.train import engine
from dejpeg.train.config import config_from_dict
from dejpeg.train.data import JpegPatchStream, PatchConfig
from dejpeg.train.engine import fit, lr_factor, training_batch
from dejpeg.train.losses import make_loss


class LayerLrTask(TrainingTask):
    """Svoboda-style per-layer learning rates: the last layer at ``last_lr_ratio`` of the others."""

    def configure_optimizers(self):
        last = {id(p) for p in self.model.conv2.parameters()}
        trainable = self.trainable_parameters()
        ratio = self.settings.options.get("last_lr_ratio", 0.1)
        groups = [
            {"params": [p for p in trainable if id(p) not in last]},
            {"params": [p for p in trainable if id(p) in last], "lr": self.settings.lr * ratio},
        ]
        optimizer = torch.optim.Adam([g for g in groups if g["params"]], lr=self.settings.lr)
        return [optimizer], [torch.optim.lr_scheduler.LambdaLR(optimizer, self.settings.lr_lambda)]


class GanTask(TrainingTask):
    """A discriminator owned by the task and two optimizers stepped by hand."""

    manual_optimization = True

    def __init__(self, model, settings):
        super().__init__(model, settings)
        self.discriminator = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 3)).to(
            settings.device
        )
        self.critic = settings.parallel(self.discriminator)

    def configure_optimizers(self):
        self.g_opt, self.d_opt = (
            torch.optim.Adam(self.trainable_parameters(), lr=self.settings.lr),
            torch.optim.Adam(self.discriminator.parameters(), lr=self.settings.lr * 2),
        )
        optimizers = [self.g_opt, self.d_opt]
        return optimizers, [torch.optim.lr_scheduler.LambdaLR(o, self.settings.lr_lambda) for o in optimizers]

    def training_step(self, net, batch, step):
        fake = net(batch["input"], batch["side"])
        d_loss = F.softplus(self.critic(fake.detach())).mean() + F.softplus(-self.critic(batch["target"])).mean()
        self.d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_opt.step()
        pixel, terms = self.settings.loss(fake, batch["target"])
        g_loss = pixel + 0.01 * F.softplus(-self.critic(fake)).mean()
        self.g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        self.g_opt.step()
        return g_loss.detach(), {**terms, "d_loss": float(d_loss.detach())}

    def state_dict(self):
        return {"discriminator": self.discriminator.state_dict()}

    def load_state_dict(self, state):
        self.discriminator.load_state_dict(state["discriminator"])


class TwoConv(RestorationModel):
    """A tiny luma model: two convolutions and a skip."""

    channels = "gray"
    training_task: ClassVar[type[TrainingTask]] = TrainingTask

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 1, 3, padding=1)

    def forward(self, image: Tensor, side: JpegSide) -> Tensor:
        return image + self.conv2(F.relu(self.conv1(image)))


class LayerLrNet(TwoConv):
    training_task = LayerLrTask


class GanNet(TwoConv):
    training_task = GanTask


class CoefficientProbe(RestorationModel):
    """Checks in every training forward that the coefficients it gets decode to its input pixels."""

    side_info = frozenset({"qtables", "coefficients"})
    seen: ClassVar[list[tuple[int, tuple[tuple[int, int], ...]]]] = []

    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(()))

    def forward(self, image: Tensor, side: JpegSide) -> Tensor:
        check_coefficients(image, side)
        type(self).seen.append((image.shape[1], side.sampling))
        return image * self.gain


def check_coefficients(image: Tensor, side: JpegSide) -> None:
    """Dequantized IDCT of the luma coefficients = the decoded luma, up to the decoder's rounding; chroma planes
    on the grid their sampling factors give."""
    b, c, h, w = image.shape
    luma = side.coefficients[0] * side.qtables[:, 0, None, None]  # (B, rows, cols, 8, 8)
    pixels = (idct_8x8(luma.double()) + 128).clamp(0, 255).permute(0, 1, 3, 2, 4).reshape(b, h, w)
    y = image[:, 0] if c == 1 else 0.299 * image[:, 0] + 0.587 * image[:, 1] + 0.114 * image[:, 2]
    error = (pixels - 255 * y.double()).abs()
    if c == 1:  # integer IDCT and rounding of the decoder
        assert error.max() <= 1.0, float(error.max())
    else:  # and the RGB rounding and clipping between the decoder's Y and ours
        assert error.mean() < 0.6 and error.max() < 6, (float(error.mean()), float(error.max()))
    assert len(side.coefficients) == len(side.sampling) == (1 if c == 1 else 3)
    vmax, hmax = max(v for v, _ in side.sampling), max(h_ for _, h_ in side.sampling)
    for plane, (v, h_) in zip(side.coefficients, side.sampling):
        assert plane.shape == (b, h * v // (8 * vmax), w * h_ // (8 * hmax), 8, 8)


TOYS = {"two_conv": TwoConv, "layer_lr": LayerLrNet, "gan": GanNet, "coefficient_probe": CoefficientProbe}


@pytest.fixture(autouse=True)
def toy_models(monkeypatch):
    """The toy families, built by the engine without entering the global registry."""
    real = engine.create_model
    monkeypatch.setattr(engine, "create_model", lambda name, **kw: TOYS[name]() if name in TOYS else real(name, **kw))


def _config(folder: Path, out: Path, model: str, **overrides: Any):
    raw = {
        "model": model,
        "out_dir": str(out),
        "steps": 6,
        "lr": 1e-3,
        "warmup": 2,
        "loss": {"l1": 1.0},
        "workers": 0,
        "log_every": 2,
        "checkpoint_every": 3,
        "val_every": 0,
        "data": {"folder": str(folder), "patch_size": 32, "batch_size": 2, "quality": [10, 50], "gray_prob": 1.0},
    }
    raw.update(overrides)
    return config_from_dict(raw)


def test_default_task_is_adam_on_the_run_loss_with_its_schedule(image_folder, tmp_path):
    cfg = _config(image_folder, tmp_path / "run", "two_conv", loss={"l1": 1.0, "ssim": 0.1}, grad_clip=0.05)
    fit(cfg, progress=False)
    torch.manual_seed(cfg.seed)
    model = TwoConv()
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, cfg))
    loss_fn, stream = make_loss(cfg.loss), JpegPatchStream(cfg.data, seed=cfg.seed)
    for step in range(cfg.steps):
        batch = stream.make_batch(step)
        loss, _ = loss_fn(model(batch["input"], JpegSide(batch["qtables"])), batch["target"])
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        scheduler.step()
    trained = load_file(str(tmp_path / "run" / FINAL_WEIGHTS))
    for key, value in model.state_dict().items():
        torch.testing.assert_close(trained[key], value, rtol=0, atol=0)


def test_checkpoints_written_before_tasks_resume(image_folder, tmp_path):
    fit(_config(image_folder, tmp_path / "a", "two_conv"), progress=False)
    fit(_config(image_folder, tmp_path / "b", "two_conv"), progress=False, stop_at=3)
    state = torch.load(tmp_path / "b" / CHECKPOINT, weights_only=True)
    (optimizer,), (scheduler,) = state.pop("optimizers"), state.pop("schedulers")
    del state["task"]
    torch.save({**state, "optimizer": optimizer, "scheduler": scheduler}, tmp_path / "b" / CHECKPOINT)
    fit(_config(image_folder, tmp_path / "b", "two_conv"), progress=False)
    a, b = (load_file(str(tmp_path / run / FINAL_WEIGHTS)) for run in ("a", "b"))
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_task_sets_per_layer_learning_rates(image_folder, tmp_path):
    cfg = _config(image_folder, tmp_path / "run", "layer_lr", steps=1, warmup=0, task_options={"last_lr_ratio": 0.1})
    fit(cfg, progress=False)
    state = torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)
    assert [g["initial_lr"] for g in state["optimizers"][0]["param_groups"]] == pytest.approx([1e-3, 1e-4])
    torch.manual_seed(cfg.seed)
    before, after = LayerLrNet().state_dict(), load_file(str(tmp_path / "run" / FINAL_WEIGHTS))
    # Adam's first step moves every weight by about its learning rate.
    moved = {key: float((after[key] - before[key]).abs().max()) for key in before}
    assert moved["conv1.weight"] == pytest.approx(1e-3, rel=0.01)
    assert moved["conv2.weight"] == pytest.approx(1e-4, rel=0.01)


def test_freeze_holds_a_stage_fixed_under_a_custom_task(image_folder, tmp_path):
    cfg = _config(image_folder, tmp_path / "run", "layer_lr", steps=2, freeze=["conv1."])
    fit(cfg, progress=False)
    state = torch.load(tmp_path / "run" / CHECKPOINT, weights_only=True)
    assert len(state["optimizers"][0]["param_groups"]) == 1  # the frozen layer's group is empty, left out
    torch.manual_seed(cfg.seed)
    before, after = LayerLrNet().state_dict(), load_file(str(tmp_path / "run" / FINAL_WEIGHTS))
    assert torch.equal(before["conv1.weight"], after["conv1.weight"])
    assert not torch.equal(before["conv2.weight"], after["conv2.weight"])


def test_manual_two_optimizer_task_resumes_exactly(image_folder, tmp_path):
    straight = fit(_config(image_folder, tmp_path / "a", "gan"), progress=False)
    fit(_config(image_folder, tmp_path / "b", "gan"), progress=False, stop_at=3)
    resumed = fit(_config(image_folder, tmp_path / "b", "gan"), progress=False)
    a, b = (torch.load(tmp_path / run / CHECKPOINT, weights_only=True) for run in ("a", "b"))
    assert len(a["optimizers"]) == len(a["schedulers"]) == 2
    for part in ("model", "task"):
        flat_a, flat_b = (dict(_flatten(state[part])) for state in (a, b))
        assert flat_a.keys() == flat_b.keys() and all(torch.equal(flat_a[k], flat_b[k]) for k in flat_a)
    assert resumed.train[-1]["d_loss"] == straight.train[-1]["d_loss"]
    torch.manual_seed(0)
    initial = GanTask(GanNet(), _settings()).discriminator.state_dict()
    assert not torch.equal(initial["0.weight"], a["task"]["discriminator"]["0.weight"])  # the discriminator trained


def _settings():
    """Settings for building a task outside the engine."""
    return TaskSettings(
        lr=1e-3,
        lr_lambda=lambda step: 1.0,
        grad_clip=0.0,
        freeze=(),
        loss=make_loss({"l1": 1.0}),
        autocast=contextlib.nullcontext,
        parallel=lambda module: module,
        device=torch.device("cpu"),
    )


def _flatten(state: dict[str, Any], prefix: str = ""):
    for key, value in state.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield prefix + key, value


def test_declared_coefficients_reach_the_training_step(image_folder, tmp_path):
    CoefficientProbe.seen.clear()
    data = {"gray_prob": 0.5, "subsampling": ["420", "444"], "double_prob": 0.5, "double_shift": False}
    cfg = _config(image_folder, tmp_path / "run", "coefficient_probe", steps=6)
    fit(dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, **data)), progress=False)
    assert {channels for channels, _ in CoefficientProbe.seen} == {1, 3}
    colour = {sampling for channels, sampling in CoefficientProbe.seen if channels == 3}
    assert colour == {((2, 2), (1, 1), (1, 1)), ((1, 1), (1, 1), (1, 1))}


def test_coefficient_batches_share_one_subsampling_and_refuse_padded_patches(image_folder):
    data = PatchConfig(str(image_folder), patch_size=32, batch_size=4, gray_prob=0.0, subsampling=("420", "444"))
    stream = JpegPatchStream(data, coefficients=True)
    samplings = set()
    for index in range(6):
        batch = training_batch(stream.make_batch(index), torch.device("cpu"))
        check_coefficients(batch["input"], batch["side"])
        samplings.add(batch["side"].sampling)
    assert samplings == {((2, 2), (1, 1), (1, 1)), ((1, 1), (1, 1), (1, 1))}
    assert "coefficients" not in JpegPatchStream(data).make_batch(0)  # only models that read them pay for them
    with pytest.raises(ValueError, match="double_shift"):
        JpegPatchStream(dataclasses.replace(data, double_prob=0.5), coefficients=True)
