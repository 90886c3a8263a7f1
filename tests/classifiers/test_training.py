import numpy as np
import pytest
import torch

from dejpeg.classifiers import load_classifier, predict, train_classifier, training


def _two_classes(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Dark vs bright noisy 16x16 images: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    base = np.where(labels[:, None, None, None] == 1, 170.0, 80.0)
    images = np.clip(base + rng.normal(0, 25, (n, 16, 16, 3)), 0, 255).astype(np.uint8)
    return images, labels


def _fresh():
    torch.manual_seed(0)
    return load_classifier("cifar_resnet8", num_classes=2)


def test_predict_returns_top1_and_keeps_the_mode():
    classifier = _fresh().train()
    images, _ = _two_classes(10)
    preds = predict(classifier, images, batch_size=4)
    assert preds.shape == (10,) and preds.dtype == np.int64 and set(preds) <= {0, 1}
    assert classifier.training
    with pytest.raises(ValueError, match="uint8"):
        predict(classifier, images.astype(np.float32))
    with pytest.raises(ValueError, match="N, H, W, 3"):
        predict(classifier, images[..., 0])


def test_training_learns_and_reports_each_epoch():
    classifier = _fresh()
    images, labels = _two_classes(64)
    test_images, test_labels = _two_classes(32, seed=1)
    history = train_classifier(
        classifier, images, labels, epochs=3, test=(test_images, test_labels), batch_size=16, lr=0.05
    )
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["test_top1"] >= 0.9
    assert all(h["train_seconds"] > 0 for h in history)
    assert not classifier.training


def test_bad_labels_are_rejected():
    images, labels = _two_classes(8)
    with pytest.raises(ValueError, match="one label per image"):
        train_classifier(_fresh(), images, labels[:3], epochs=1)
    with pytest.raises(ValueError, match="labels must be in 0..1"):
        train_classifier(_fresh(), images, labels + 5, epochs=1)


def test_interrupted_training_resumes_to_the_same_weights(tmp_path, monkeypatch):
    images, labels = _two_classes(32)
    test = _two_classes(8, seed=1)
    straight = _fresh()
    expected = train_classifier(straight, images, labels, epochs=2, test=test, batch_size=8, lr=0.05)

    calls = {"n": 0}
    real_predict = training.predict

    def failing_predict(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # evaluation after epoch 2: the run dies before finishing
            raise KeyboardInterrupt
        return real_predict(*args, **kwargs)

    checkpoint = tmp_path / "cell.ckpt"
    monkeypatch.setattr(training, "predict", failing_predict)
    with pytest.raises(KeyboardInterrupt):
        train_classifier(_fresh(), images, labels, epochs=2, test=test, batch_size=8, lr=0.05, checkpoint=checkpoint)
    assert checkpoint.is_file()
    monkeypatch.setattr(training, "predict", real_predict)
    resumed = _fresh()
    history = train_classifier(
        resumed, images, labels, epochs=2, test=test, batch_size=8, lr=0.05, checkpoint=checkpoint
    )
    assert not checkpoint.exists()
    assert [h["loss"] for h in history] == pytest.approx([h["loss"] for h in expected])
    for a, b in zip(resumed.state_dict().values(), straight.state_dict().values()):
        torch.testing.assert_close(a, b)
