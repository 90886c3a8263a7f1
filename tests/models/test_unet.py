import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from dejpeg.api import load_model, restore_array
from dejpeg.codec import decode, encode
from dejpeg.jpeg import ijg_qtables
from dejpeg.models import JpegSide, RestorationModel, UNet, create_model
from dejpeg.train import JpegPatchStream, PatchConfig, fit
from dejpeg.train.config import config_from_dict

TINY = {"width": 4, "depth": 2}


def _tables(batch: int) -> torch.Tensor:
    return torch.from_numpy(ijg_qtables(10)).float().expand(batch, 2, 8, 8)


def test_registry_builds_the_unet():
    model = create_model("unet", pretrained=False, **TINY)
    assert type(model) is UNet and isinstance(model, RestorationModel)
    assert not model.side_info and model.size_multiple == 8


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("channels", [1, 3])
def test_output_has_the_input_shape_and_backward_is_finite(depth, channels):
    torch.manual_seed(0)
    model = UNet(width=4, depth=depth)
    torch.nn.init.normal_(model.out.weight, std=0.1)  # leave the identity start so gradients reach every layer
    x = torch.rand(2, channels, 24, 40, requires_grad=True)
    out = model(x, JpegSide(_tables(2)))
    assert out.shape == x.shape
    out.square().mean().backward()
    assert torch.isfinite(x.grad).all()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_starts_as_identity_and_ignores_the_tables():
    model = UNet(**TINY)
    x = torch.rand(1, 3, 16, 16)
    torch.testing.assert_close(model(x, JpegSide(_tables(1))), x)
    torch.nn.init.normal_(model.out.weight, std=0.1)
    torch.testing.assert_close(model(x, JpegSide(_tables(1))), model(x, JpegSide(_tables(1) * 3)))


def test_skip_concatenation_and_pooling_layout():
    model = UNet(width=8, depth=3)
    assert [b[0].out_channels for b in model.down] == [8, 16, 32] and model.bottom[0].out_channels == 64
    assert [b[0].in_channels for b in model.up] == [16, 32, 64]  # upsampled + skip, concatenated


def test_bad_arguments():
    with pytest.raises(ValueError, match="depth"):
        UNet(depth=4)
    with pytest.raises(ValueError, match="1 or 3 channels"):
        UNet(**TINY)(torch.rand(1, 2, 8, 8))


def test_any_image_size_through_restore_array(natural_image):
    model = UNet(**TINY)
    image = natural_image(21, 30)
    assert restore_array(image, ijg_qtables(10), model).shape == image.shape  # padded to 8, cropped back


def _stream(folder, **data) -> JpegPatchStream:
    cfg = PatchConfig(folder=str(folder), patch_size=32, batch_size=1, gray_prob=0.0, augment=False, **data)
    return JpegPatchStream(cfg, seed=3)


def test_noise2noise_target_is_an_independent_jpeg_copy_of_the_same_patch(image_folder):
    clean = _stream(image_folder, quality=10).make_batch(0)
    fixed = _stream(image_folder, quality=10, target="jpeg", target_quality=30, target_shift=False).make_batch(0)
    torch.testing.assert_close(fixed["input"], clean["input"])  # same patch, same input damage
    patch = (clean["target"][0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    expected = decode(encode(patch, quality=30))
    assert np.array_equal((fixed["target"][0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy(), expected)

    shifted = _stream(image_folder, quality=10, target="jpeg", target_quality=10).make_batch(0)
    target = shifted["target"]
    assert target.shape == clean["target"].shape
    assert not torch.equal(target, clean["target"]) and not torch.equal(target, shifted["input"])
    same_grid = torch.from_numpy(decode(encode(patch, quality=10))).permute(2, 0, 1)[None].float() / 255
    assert not torch.allclose(target, same_grid)  # another grid: other artifacts
    assert (target - clean["target"]).abs().mean() < 0.1  # still a copy of that patch


def test_noise2noise_config_errors(image_folder):
    with pytest.raises(ValueError, match="target must be"):
        PatchConfig(folder=str(image_folder), target="noisy")
    with pytest.raises(ValueError, match="equals the input"):
        PatchConfig(folder=str(image_folder), quality=10, target="jpeg", target_shift=False)


def test_recursive_folder(tmp_path, natural_image):
    for i, cls in enumerate(["a", "b"]):
        (tmp_path / cls).mkdir()
        Image.fromarray(natural_image(32, 32, seed=i)).save(tmp_path / cls / "x.png")
    assert len(_stream(tmp_path, recursive=True).images) == 2
    with pytest.raises(ValueError, match="no images"):
        _stream(tmp_path)


@pytest.mark.parametrize("target", ["clean", "jpeg"])
def test_tiny_supervised_and_noise2noise_runs_train_and_load_as_restorers(image_folder, tmp_path, target):
    cfg = config_from_dict(
        {
            "model": "unet",
            "model_kwargs": TINY,
            "out_dir": str(tmp_path / target),
            "steps": 4,
            "lr": 1e-3,
            "warmup": 1,
            "workers": 0,
            "log_every": 2,
            "checkpoint_every": 4,
            "val_every": 0,
            "data": {
                "folder": str(image_folder),
                "patch_size": 32,
                "batch_size": 2,
                "quality": 5,
                "gray_prob": 0.0,
                "target": target,
            },
        }
    )
    history = fit(cfg, progress=False)
    assert history.steps_done == 4 and all(np.isfinite(r["loss"]) for r in history.train)
    restorer = load_model(str(tmp_path / target))
    assert type(restorer) is UNet and not restorer.training
    state = load_file(str(tmp_path / target / "final.safetensors"))
    torch.testing.assert_close(restorer.out.weight, state["out.weight"])
