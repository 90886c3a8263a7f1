"""Top-1 prediction and the one fine-tuning loop for classifiers (restoration models train with ``fit``).

Images enter as uint8 ``(N, H, W, 3)`` arrays, the form the studies keep data sets in, and are turned
into [0, 1] tensors batch by batch, so a whole data set never exists as float.
"""

from __future__ import annotations

import functools
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from dejpeg.arrays import u8_to_tensor
from dejpeg.classifiers.loading import ImageClassifier
from dejpeg.files import atomic_write


def _batch(images_u8: np.ndarray, index: np.ndarray | slice, device: torch.device) -> Tensor:
    return u8_to_tensor(images_u8[index]).to(device)


def _check_images(images_u8: np.ndarray) -> None:
    if not isinstance(images_u8, np.ndarray) or images_u8.dtype != np.uint8:
        raise ValueError(f"expected a uint8 array of images, got {getattr(images_u8, 'dtype', type(images_u8))}")
    if images_u8.ndim != 4 or images_u8.shape[3] != 3 or len(images_u8) == 0:
        raise ValueError(f"expected (N, H, W, 3) RGB images with N > 0, got shape {images_u8.shape}")


@torch.inference_mode()
def predict(
    classifier: ImageClassifier,
    images_u8: np.ndarray,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    progress: bool = False,
    desc: str = "predict",
) -> np.ndarray:
    """Top-1 class of each image, (N,) int64, in eval mode (the module's mode is restored after)."""
    _check_images(images_u8)
    device = torch.device(device)
    was_training = classifier.training
    classifier.to(device).eval()
    out = []
    try:
        for start in tqdm(range(0, len(images_u8), batch_size), desc=desc, disable=not progress, leave=False):
            out.append(classifier(_batch(images_u8, slice(start, start + batch_size), device)).argmax(1).cpu())
    finally:
        classifier.train(was_training)
    return torch.cat(out).numpy().astype(np.int64)


def _augment(batch: Tensor, generator: torch.Generator) -> Tensor:
    """Random horizontal flip and a random crop of the image padded by 1/8 of its size (the CIFAR recipe)."""
    n, _, h, w = batch.shape
    flip = torch.rand(n, generator=generator) < 0.5
    batch = torch.where(flip[:, None, None, None], batch.flip(3), batch)
    pad_h, pad_w = h // 8, w // 8
    padded = F.pad(batch, (pad_w, pad_w, pad_h, pad_h))
    ys = torch.randint(0, 2 * pad_h + 1, (n,), generator=generator).tolist()
    xs = torch.randint(0, 2 * pad_w + 1, (n,), generator=generator).tolist()
    return torch.stack([padded[i, :, y : y + h, x : x + w] for i, (y, x) in enumerate(zip(ys, xs))])


def train_classifier(
    classifier: ImageClassifier,
    images_u8: np.ndarray,
    labels: np.ndarray,
    epochs: int,
    test: tuple[np.ndarray, np.ndarray] | None = None,
    batch_size: int = 128,
    lr: float = 0.01,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    augment: bool = True,
    seed: int = 0,
    checkpoint: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    progress: bool = False,
    desc: str = "fine-tune",
) -> list[dict[str, float]]:
    """Fine-tune ``classifier`` in place with SGD and a per-step cosine schedule; one record per epoch.

    Each record holds ``epoch``, the mean training ``loss`` and ``train_seconds``, plus ``test_top1``
    (the share of ``test`` images whose top-1 equals the given label) when ``test`` is given, which is
    what convergence curves plot. With ``checkpoint``, the state after every epoch is saved there and a
    later call resumes after the last finished epoch (shuffling and augmentation depend on the epoch only,
    so a resumed run matches an uninterrupted one); the file is removed when training ends.
    """
    _check_images(images_u8)
    labels = np.asarray(labels, dtype=np.int64)
    if labels.shape != (len(images_u8),):
        raise ValueError(f"need one label per image: {len(images_u8)} images, labels of shape {labels.shape}")
    if labels.min() < 0 or labels.max() >= classifier.num_classes:
        raise ValueError(f"labels must be in 0..{classifier.num_classes - 1} (the classifier's outputs)")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
    device = torch.device(device)
    classifier.to(device)
    optimizer = torch.optim.SGD(classifier.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    steps_per_epoch = math.ceil(len(images_u8) / batch_size)
    total = epochs * steps_per_epoch
    cosine = lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total))  # noqa: E731
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine)
    history: list[dict[str, float]] = []
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and ckpt.is_file():
        state = torch.load(ckpt, map_location=device, weights_only=True)
        classifier.net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history = list(state["history"])
    target = torch.from_numpy(labels)
    for epoch in tqdm(range(len(history), epochs), desc=desc, disable=not progress, leave=False):
        generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
        order = torch.randperm(len(images_u8), generator=generator).numpy()
        classifier.train()
        losses = []
        tick = time.perf_counter()
        for step in range(steps_per_epoch):
            index = np.sort(order[step * batch_size : (step + 1) * batch_size])
            batch = _batch(images_u8, index, device)
            if augment:
                batch = _augment(batch, generator)
            loss = F.cross_entropy(classifier(batch), target[index].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
        seconds = time.perf_counter() - tick
        record = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "train_seconds": seconds}
        if test is not None:
            record["test_top1"] = float(np.mean(predict(classifier, test[0], device=device) == test[1]))
        history.append(record)
        if ckpt is not None and epoch + 1 < epochs:
            state = {
                "model": classifier.net.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "history": history,
            }
            atomic_write(ckpt, functools.partial(torch.save, state))
    if ckpt is not None:
        ckpt.unlink(missing_ok=True)
    classifier.eval()
    return history
