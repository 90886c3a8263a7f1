"""One training loop for every registered model: ``fit(cfg) -> History``.

Single process, or data-parallel under ``torchrun`` (gloo on CPU, nccl on GPU): each rank draws its
own batches, gradients are averaged by DDP, rank 0 logs, validates and writes checkpoints.
The model's :class:`~dejpeg.models.TrainingTask` supplies the optimizers and the step. Checkpoints hold model,
optimizers, schedulers, the task's own state and step; batches are a pure function of the step, so a resumed run
continues exactly where it stopped.
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from dejpeg.evaluation import evaluate
from dejpeg.files import atomic_write
from dejpeg.models import JpegSide, TaskSettings, autocast_for, create_model
from dejpeg.runs import CHECKPOINT, CONFIG, LOG, final_weights_path, load_checkpoint, load_run_state
from dejpeg.train.config import TrainConfig
from dejpeg.train.data import JpegPatchStream, patch_loader
from dejpeg.train.losses import make_loss


@dataclass
class History:
    """What a run did: one record per log interval and per validation."""

    train: list[dict[str, Any]] = field(default_factory=list)
    val: list[dict[str, Any]] = field(default_factory=list)
    steps_done: int = 0
    weights: str = ""


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Multiplier of ``cfg.lr`` at ``step``: linear warm-up, then cosine to ``lr_min`` or step decay."""
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    if cfg.schedule == "step":
        return cfg.gamma ** sum(step >= m for m in cfg.milestones)
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    floor = cfg.lr_min / cfg.lr
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def initial_state(source: str) -> dict[str, torch.Tensor]:
    """Weights named by ``init_from``: a run folder, a ``.safetensors`` file or a registry name."""
    path = Path(source)
    if path.is_dir():
        return load_run_state(path)
    if path.suffix == ".safetensors":
        return load_file(str(path))
    return create_model(source, pretrained=True).state_dict()


def _same(module: nn.Module) -> nn.Module:
    """A single process trains a module as it is."""
    return module


def _init_distributed() -> tuple[int, int, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, torch.device("cpu")
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend=backend)
    rank = dist.get_rank()
    if backend == "nccl":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return rank, world, torch.device("cuda", local)
    return rank, world, torch.device("cpu")


def validate(model: nn.Module, cfg: TrainConfig, device: torch.device) -> dict[str, float]:
    """Mean PSNR gain over JPEG on the first ``val_images`` of ``val_folder``, by ``dejpeg.evaluate``."""
    result = evaluate(
        cfg.val_folder,
        model=model,
        qualities=cfg.val_qualities,
        gray=cfg.val_gray,
        max_images=cfg.val_images,
        device=device,
        progress=False,
        precision=cfg.precision,
    )
    return {f"q{row['quality']}_{key}": row[key] for row in result["rows"] for key in ("psnr_gain", "ssim_gain")}


def training_batch(batch: dict[str, Any], device: torch.device) -> dict[str, Tensor | JpegSide]:
    """A batch of :class:`~dejpeg.train.data.JpegPatchStream` as a task's step reads it, on ``device``:
    ``input``, ``target`` and the ``side`` information (tables, and coefficients where the stream read them)."""
    coefficients, sampling = batch.get("coefficients"), batch.get("sampling")
    if coefficients is not None:  # the DataLoader hands tuples over as lists
        coefficients, sampling = tuple(coefficients), tuple(tuple(factors) for factors in sampling)
    side = JpegSide(batch["qtables"], coefficients, sampling).to(device)
    return {"input": batch["input"].to(device), "target": batch["target"].to(device), "side": side}


def _checkpoint_states(state: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The optimizers' or schedulers' states of a checkpoint; those written before tasks hold a single one."""
    return state[key + "s"] if key + "s" in state else [state[key]]


def fit(cfg: TrainConfig, resume: bool = True, progress: bool = True, stop_at: int | None = None) -> History:
    """Train ``cfg.model`` for ``cfg.steps`` steps, resuming from ``out_dir/last.pt`` if present.

    ``stop_at`` ends this invocation early after that step (checkpoint written, schedule untouched),
    for runs split over several invocations; final weights are written only when ``cfg.steps`` is reached.
    """
    rank, world, device = _init_distributed()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out_dir)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / CONFIG).write_text(json.dumps(cfg.to_dict(), indent=2))
    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    model = create_model(cfg.model, pretrained=False, **cfg.model_kwargs).to(device)
    # Gray batches leave the colour branch of some models unused: DDP must allow that.
    parallel = functools.partial(DistributedDataParallel, find_unused_parameters=True) if world > 1 else _same
    settings = TaskSettings(
        lr=cfg.lr,
        lr_lambda=lambda step: lr_factor(step, cfg),
        grad_clip=cfg.grad_clip,
        freeze=cfg.freeze,
        loss=make_loss(cfg.loss),
        autocast=functools.partial(autocast_for, model, device, cfg.precision),
        parallel=parallel,
        device=device,
        options=cfg.task_options,
    )
    task = model.training_task(model, settings)
    optimizers, schedulers = task.configure_optimizers()
    history = History()
    start = 0
    state = load_checkpoint(out, map_location=device) if resume else None
    if state is not None:
        model.load_state_dict(state["model"])
        saved = _checkpoint_states(state, "optimizer"), _checkpoint_states(state, "scheduler")
        if (len(saved[0]), len(saved[1])) != (len(optimizers), len(schedulers)):
            raise ValueError(
                f"the checkpoint has {len(saved[0])} optimizers and {len(saved[1])} schedulers, "
                f"{type(task).__name__} {len(optimizers)} and {len(schedulers)}"
            )
        for part, part_state in zip(optimizers + schedulers, saved[0] + saved[1]):
            part.load_state_dict(part_state)
        task.load_state_dict(state.get("task", {}))
        start = int(state["step"])
    elif cfg.init_from:
        source = {k: v.float() for k, v in initial_state(cfg.init_from).items()}
        if cfg.init_grow:
            model.load_smaller_state(source)
        else:
            model.load_state_dict(source, strict=True)
    train_model = parallel(model)
    trainable = [param for optimizer in optimizers for group in optimizer.param_groups for param in group["params"]]
    coefficients = "coefficients" in model.side_info
    stream = JpegPatchStream(cfg.data, seed=cfg.seed, rank=rank, start_batch=start, coefficients=coefficients)
    batches = iter(patch_loader(stream, cfg.workers))
    log_file = open(out / LOG, "a") if rank == 0 else None
    bar = tqdm(total=cfg.steps, initial=start, disable=not progress or rank != 0, desc="train", unit="step")
    window_start, window_patches = time.perf_counter(), 0
    end = cfg.steps if stop_at is None else min(stop_at, cfg.steps)
    try:
        for step in range(start, end):
            batch = training_batch(next(batches), device)
            train_model.train()
            loss, terms = task.training_step(train_model, batch, step)
            if not task.manual_optimization:
                if not loss.requires_grad:
                    raise RuntimeError(
                        "a batch reached no trainable parameter (a gray batch while only the colour stage trains?): "
                        "set data.gray_prob to 0"
                    )
                for optimizer in optimizers:
                    optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip:
                    nn.utils.clip_grad_norm_(trainable, cfg.grad_clip)
                for optimizer in optimizers:
                    optimizer.step()
            for scheduler in schedulers:
                scheduler.step()
            window_patches += batch["input"].shape[0] * world
            done = step + 1
            bar.update(1)
            if rank != 0:
                continue
            if done % cfg.log_every == 0 or done == end:
                elapsed = time.perf_counter() - window_start
                record = {
                    "step": done,
                    "loss": float(loss.detach()),
                    **terms,
                    "lr": optimizers[0].param_groups[0]["lr"],
                    "patches_per_s": window_patches / elapsed,
                    "time": time.time(),
                }
                history.train.append(record)
                log_file.write(json.dumps(record) + "\n")
                log_file.flush()
                bar.set_postfix(loss=f"{record['loss']:.4f}", pps=f"{record['patches_per_s']:.1f}")
                window_start, window_patches = time.perf_counter(), 0
            if cfg.val_folder and cfg.val_every and (done % cfg.val_every == 0 or done == cfg.steps):
                record = {"step": done, **validate(model, cfg, device), "time": time.time()}
                history.val.append(record)
                log_file.write(json.dumps({"val": record}) + "\n")
                log_file.flush()
            if done % cfg.checkpoint_every == 0 or done == end:
                checkpoint = {
                    "model": model.state_dict(),
                    "optimizers": [optimizer.state_dict() for optimizer in optimizers],
                    "schedulers": [scheduler.state_dict() for scheduler in schedulers],
                    "task": task.state_dict(),
                    "step": done,
                }
                atomic_write(out / CHECKPOINT, functools.partial(torch.save, checkpoint))
        history.steps_done = max(start, end)
        if rank == 0 and history.steps_done == cfg.steps:
            final = final_weights_path(out)
            weights = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
            metadata = {"model": cfg.model, "steps": str(cfg.steps)}
            atomic_write(final, lambda tmp: save_file(weights, str(tmp), metadata=metadata))
            history.weights = str(final)
    finally:
        bar.close()
        if log_file:
            log_file.close()
        if world > 1:
            dist.destroy_process_group()
    return history
