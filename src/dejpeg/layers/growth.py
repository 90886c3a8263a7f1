"""Function-preserving growth (Net2Net-style widening): a larger layer that starts out computing what a smaller
one did, so training can add capacity to a trained network without starting over."""

from __future__ import annotations

from torch import Tensor


def widen_tensor(narrow: Tensor, fresh: Tensor, groups: int = 1, narrow_groups: int | None = None) -> Tensor:
    """``fresh`` (a larger layer's initial weight or bias, dims (out, in, ...)) with ``narrow`` in its leading
    corner and zeros where new inputs would reach old outputs: old channels compute what they did, new ones
    start from their fresh initialisation and are ignored until training gives them weight.

    ``groups``: dim 0 holds that many equal chunks that each grew (FiLM's per-block scales and shifts);
    ``narrow_groups`` (default ``groups``): how many of them ``narrow`` holds, the leading ones (a deeper model).
    """
    wide = fresh.detach().clone().unflatten(0, (groups, -1))
    narrow = narrow.unflatten(0, (groups if narrow_groups is None else narrow_groups, -1))
    if narrow.dim() != wide.dim() or any(n > w for n, w in zip(narrow.shape, wide.shape)):
        raise ValueError(f"cannot widen {tuple(narrow.shape)} to {tuple(wide.shape)}")
    old_out = narrow.shape[1]
    if wide.dim() > 2:  # weights: new input columns of old output rows carry nothing
        wide[:, :old_out, narrow.shape[2] :] = 0
    wide[tuple(slice(0, n) for n in narrow.shape)] = narrow
    return wide.flatten(0, 1)
