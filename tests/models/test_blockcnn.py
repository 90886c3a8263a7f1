import contextlib

import pytest
import torch
from blockcnn_helpers import TINY, smooth_images, tiny_predictor

from dejpeg.layers.context import causal_context
from dejpeg.models import TaskSettings, create_model, get_entry
from dejpeg.models.blockcnn import BlockCnn, BlockCnnPredictor, BlockCnnTask


def _settings(lr: float = 1e-3) -> TaskSettings:
    def mse(pred, target):
        loss = (pred - target).square().mean()
        return loss, {"mse": loss.item()}

    return TaskSettings(lr, lambda step: 1.0, 0.0, (), mse, contextlib.nullcontext, lambda m: m, torch.device("cpu"))


def test_registered_with_the_papers_recipe():
    assert type(create_model("blockcnn", pretrained=False)) is BlockCnn
    assert type(create_model("blockcnn_predictor", pretrained=False)) is BlockCnnPredictor
    assert get_entry("blockcnn").kwargs == {"width": 64, "blocks": 9}
    optimizer = BlockCnnTask(create_model("blockcnn", pretrained=False, **TINY), _settings()).configure_optimizers()[0][
        0
    ]
    assert type(optimizer) is torch.optim.Adam
    assert optimizer.defaults["lr"] == 1e-3 and optimizer.defaults["weight_decay"] == 1e-4


@pytest.mark.parametrize("name", ["blockcnn", "blockcnn_predictor"])
def test_one_training_step_lowers_the_loss(name):
    torch.manual_seed(0)
    net = create_model(name, pretrained=False, **TINY)
    generator = torch.Generator().manual_seed(0)
    target = smooth_images(generator, 4, 32, 32)
    batch = {"input": (target + 0.05 * torch.randn(target.shape, generator=generator)).clamp(0, 1), "target": target,
             "side": None}  # fmt: skip
    task = net.training_task(net, _settings())
    (optimizer,), _ = task.configure_optimizers()
    before, _ = task.training_step(net, batch, 0)
    optimizer.zero_grad()
    before.backward()
    optimizer.step()
    after, _ = task.training_step(net, batch, 1)
    assert after.item() < before.item()


def test_artifact_removal_sees_only_its_window():
    """A block's output depends on its 3x3 block neighbourhood and nothing further away."""
    torch.manual_seed(0)
    net = create_model("blockcnn", pretrained=False, **TINY).eval()
    torch.nn.init.normal_(net.body.head.weight, std=0.1)
    image = torch.rand(1, 1, 40, 40)
    changed = image.clone()
    changed[..., 32:, :] = torch.rand(1, 1, 8, 40)  # block row 4
    with torch.no_grad():
        a, b = net(image), net(changed)
    assert torch.equal(a[..., :24, :], b[..., :24, :])  # block rows 0..2 do not see row 4
    assert not torch.equal(a[..., 24:32, :], b[..., 24:32, :])


def test_prediction_depends_only_on_the_causal_context():
    net = tiny_predictor()
    image = smooth_images(torch.Generator().manual_seed(1), 1, 32, 40)
    changed = image.clone()
    changed[..., 16:24, 16:] = 0.5  # block (2, 2), the block to its right, and everything below
    changed[..., 24:, :] = 0.0
    with torch.no_grad():
        a, b = net(image), net(changed)
    assert torch.equal(a[..., 16:24, 16:24], b[..., 16:24, 16:24])
    assert torch.equal(a[..., 16:24, 8:16], b[..., 16:24, 8:16])  # block (2, 1): (2, 2) is after it
    assert not torch.equal(a[..., 16:24, 24:32], b[..., 16:24, 24:32])  # block (2, 3) reads (2, 2)


def test_integer_predictor_follows_the_float_one():
    """10-bit activations through the tiny network: the integer predictions stay close to the float ones (a
    measured 3 % of their spread on this model), and are whole grey levels within 0..255."""
    net = tiny_predictor()
    image = (smooth_images(torch.Generator().manual_seed(2), 2, 64, 64) * 255).round()
    positions = torch.cartesian_prod(torch.arange(8), torch.arange(8))
    contexts = causal_context(image, positions, fill=128.0)
    with torch.no_grad():
        floats = net.predict_contexts(contexts).clamp(0, 255)
    integers = net.to_integer()(contexts)
    assert torch.equal(integers, integers.round()) and integers.min() >= 0 and integers.max() <= 255
    assert (floats - integers).abs().mean() < 0.1 * floats.std()


def test_integer_form_needs_activation_ranges():
    with pytest.raises(ValueError, match="activation ranges"):
        create_model("blockcnn_predictor", pretrained=False, **TINY).to_integer()


def test_bf16_autocast_changes_the_correction_by_a_fraction_of_a_grey_level():
    """``autocast_safe``: the full-size body under bf16 (8-bit mantissa, about 0.4 % per rounding, through 20
    convolutions) moves the correction by a few per cent of its size, and the centre block stays fp32."""
    torch.manual_seed(0)
    net = create_model("blockcnn", pretrained=False).eval()
    torch.nn.init.normal_(net.body.head.weight, std=0.01)
    image = smooth_images(torch.Generator().manual_seed(0), 1, 48, 48)
    with torch.no_grad():
        exact = net(image)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            fast = net(image)
    assert net.autocast_safe and fast.dtype == torch.float32
    correction = (exact - image).abs().max()
    assert correction > 5 / 255  # a correction of some size, so the bound below says something
    assert (fast - exact).abs().max() < 0.05 * correction
    assert (fast - exact).abs().max() < 1 / 255
