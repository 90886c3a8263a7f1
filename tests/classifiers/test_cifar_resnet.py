import io
import tarfile

import numpy as np
import pytest
import torch
from conftest import shared_path
from PIL import Image

from dejpeg.classifiers import CifarResNet, load_classifier, predict

# Parameter counts of He et al. 2016, table 6 (option A shortcuts have none).
PARAMS = {20: 0.27e6, 32: 0.46e6, 44: 0.66e6, 56: 0.85e6}


@pytest.mark.parametrize("depth", sorted(PARAMS))
def test_parameter_count_matches_the_paper(depth):
    count = sum(p.numel() for p in CifarResNet(depth).parameters())
    assert count == pytest.approx(PARAMS[depth], rel=0.02)


def test_shapes_and_bad_depth():
    net = CifarResNet(8, num_classes=3).eval()
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 3)
    assert net(torch.rand(1, 3, 48, 40)).shape == (1, 3)  # global pooling: any size
    with pytest.raises(ValueError, match="6n \\+ 2"):
        CifarResNet(21)


def test_option_a_shortcut_subsamples_and_zero_pads():
    block = CifarResNet(8).layer2[0]
    x = torch.rand(1, 16, 8, 8)
    out = block.shortcut(x)
    assert out.shape == (1, 32, 4, 4)
    torch.testing.assert_close(out[:, 8:24], x[:, :, ::2, ::2])
    assert out[:, :8].abs().sum() == 0 and out[:, 24:].abs().sum() == 0


def _cifar_test_images(per_class: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The first ``per_class`` test images of each class, read straight from the shared tarball."""
    tarball = shared_path("data/cifar10-jpeg75.tar.gz")
    found: dict[str, list[np.ndarray]] = {}
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar:
            parts = member.name.split("/")
            if member.isfile() and len(parts) == 3 and parts[0] == "test" and len(found.get(parts[1], [])) < per_class:
                data = tar.extractfile(member).read()
                found.setdefault(parts[1], []).append(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
    classes = sorted(found)
    images = np.stack([im for c in classes for im in found[c]])
    labels = np.repeat(np.arange(len(classes)), per_class)
    return images, labels, classes


@pytest.mark.shared
def test_shared_resnet20_loads_strictly_and_reaches_the_readme_accuracy():
    weights = shared_path("weights/cifar10-resnet")
    images, labels, classes = _cifar_test_images(per_class=30)
    assert classes[:3] == ["airplane", "automobile", "bird"] and len(classes) == 10
    classifier = load_classifier(f"cifar_resnet20:{next(weights.glob('resnet20-*.th'))}")  # strict=True inside
    accuracy = float(np.mean(predict(classifier, images, batch_size=100) == labels))
    assert 0.72 <= accuracy <= 0.92  # README: about 81 % on the q75 copy


@pytest.mark.shared
@pytest.mark.parametrize("depth", [32, 44, 56])
def test_every_shared_checkpoint_loads_strictly(depth):
    path = next(shared_path("weights/cifar10-resnet").glob(f"resnet{depth}-*.th"))
    classifier = load_classifier(f"cifar_resnet{depth}:{path}")
    assert type(classifier.net) is CifarResNet and classifier.num_classes == 10
