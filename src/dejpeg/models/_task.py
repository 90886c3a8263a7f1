"""How a model family trains: the optimizers and the step, owned by the family (the BasicSR/Lightning pattern),
while the engine (:func:`dejpeg.train.fit`) keeps the batches, resume, data parallelism, checkpoints, logging and
validation. Lives in ``models`` so a family's own module can subclass it without importing ``dejpeg.train``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

if TYPE_CHECKING:  # _base imports this module for RestorationModel.training_task
    from dejpeg.models._base import JpegSide, RestorationModel

#: A loss: (prediction, target) -> (the value to minimise, each term's value for the log).
TaskLoss = Callable[[Tensor, Tensor], tuple[Tensor, dict[str, float]]]
#: A training batch: "input" and "target" (B, C, P, P) in [0, 1], "side" the :class:`JpegSide` the model declares.
Batch = Mapping[str, "Tensor | JpegSide"]


@dataclasses.dataclass(frozen=True)
class TaskSettings:
    """What the engine gives a task, from the run's configuration.

    Attributes:
        lr: base learning rate (``lr``).
        lr_lambda: multiplier of a learning rate at a step: the run's warm-up and cosine or step schedule.
        grad_clip: gradient-norm limit (0: none); the engine applies it unless the task optimizes by hand.
        freeze: parameter-name prefixes held fixed (``freeze``).
        loss: the run's ``loss`` terms combined by weight.
        autocast: a fresh context to run the model in at the run's ``precision``.
        parallel: wraps a module for data-parallel training (DistributedDataParallel under ``torchrun``, else
            the module itself); the engine wraps the model, a task wraps any module it owns and trains.
        device: where the model and the batches are.
        options: the run's free-form ``task_options``, read by the task alone.
    """

    lr: float
    lr_lambda: Callable[[int], float]
    grad_clip: float
    freeze: tuple[str, ...]
    loss: TaskLoss
    autocast: Callable[[], AbstractContextManager[Any]]
    parallel: Callable[[nn.Module], nn.Module]
    device: torch.device
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)


class TrainingTask:
    """The default task: Adam over the unfrozen parameters, one learning-rate schedule, the run's loss on the
    model's output. A family that trains otherwise (stages, a discriminator, per-layer learning rates) subclasses
    it in its own module and names the subclass in :attr:`RestorationModel.training_task`.

    Randomness inside :meth:`training_step` should derive from ``step`` (e.g. ``torch.Generator().manual_seed(step)``)
    so that a resumed run repeats an uninterrupted one; the engine checkpoints no random state.
    """

    #: False: :meth:`training_step` returns a loss and the engine zeroes the gradients, back-propagates, clips
    #: (``grad_clip``) and steps every optimizer. True: the step does all that itself (a GAN alternates
    #: discriminator and generator updates) and returns a detached loss for the log. In both cases the engine
    #: steps every scheduler once per step, so the run's schedule and ``steps`` mean the same for every task.
    manual_optimization: ClassVar[bool] = False

    def __init__(self, model: RestorationModel, settings: TaskSettings) -> None:
        self.model = model
        self.settings = settings
        _freeze_parameters(model, settings.freeze)

    def configure_optimizers(self) -> tuple[list[Optimizer], list[LRScheduler]]:
        """The optimizers and their schedulers; called once, before a checkpoint's state is loaded into them."""
        optimizer = torch.optim.Adam(self.trainable_parameters(), lr=self.settings.lr)
        return [optimizer], [LambdaLR(optimizer, self.settings.lr_lambda)]

    def training_step(self, net: nn.Module, batch: Batch, step: int) -> tuple[Tensor, dict[str, float]]:
        """One step's loss and its logged terms. ``net`` is the model as the engine runs it (wrapped for data
        parallelism): call it, not ``self.model``, so gradients are averaged over processes."""
        with self.settings.autocast():
            pred = net(batch["input"], batch["side"])
        return self.settings.loss(pred.float(), batch["target"])

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The model's parameters left trainable by ``freeze``."""
        return [param for param in self.model.parameters() if param.requires_grad]

    def state_dict(self) -> dict[str, Any]:
        """State the task owns beyond the model and the optimizers (a discriminator), saved in every checkpoint."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` when a run resumes."""
        if state:
            raise ValueError(f"{type(self).__name__} keeps no state, the checkpoint has {sorted(state)}")


def _freeze_parameters(model: nn.Module, freeze: tuple[str, ...]) -> None:
    """Hold the parameters named by a ``freeze`` prefix fixed (no gradient, no backward pass through them)."""
    params = dict(model.named_parameters())
    unmatched = [prefix for prefix in freeze if not any(name.startswith(prefix) for name in params)]
    if unmatched:
        raise ValueError(f"freeze prefixes match no parameter: {unmatched}")
    for name, param in params.items():
        param.requires_grad_(not name.startswith(tuple(freeze)))
    if not any(param.requires_grad for param in params.values()):
        raise ValueError("freeze leaves nothing to train")
