"""One model made of several trained at one JPEG quality each, as the early CNN restorers were: per image, the
member trained nearest the file's estimated quality restores it, so a user names the family, not a quality."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor, nn

from dejpeg.jpeg import estimate_quality
from dejpeg.models._base import JpegSide, RestorationModel, SteeredTables


def nearest_member(members: Mapping[int, str], luma_table: np.ndarray | Tensor) -> tuple[int, str]:
    """The (training quality, name) of the member nearest the IJG quality of ``luma_table`` (8, 8); the lower of
    two equally near (its model removes more, where the file's damage may be the larger)."""
    if not members:
        raise ValueError("no per-quality members")
    table = np.rint(np.asarray(luma_table, dtype=np.float64)).reshape(8, 8)
    quality = estimate_quality(table).quality
    best = min(members, key=lambda q: (abs(q - quality), q))
    return best, members[best]


class PerQualityModel(RestorationModel):
    """Members of one architecture trained at different qualities; each image of a batch goes to the member
    nearest its luma table's quality.

    Args:
        members: training quality -> (registry name, model); the models share ``channels``, ``side_info`` and
            ``size_multiple``, which this model takes on so that callers treat it as one of them.
    """

    def __init__(self, members: Mapping[int, tuple[str, RestorationModel]]) -> None:
        super().__init__()
        if not members:
            raise ValueError("a per-quality model needs members")
        models = [model for _, model in members.values()]
        kinds = {(m.channels, m.side_info, m.size_multiple) for m in models}
        if len(kinds) > 1:
            raise ValueError(f"members differ in channels, side_info or size_multiple: {kinds}")
        self.channels, self.side_info, self.size_multiple = kinds.pop()
        self.names = {quality: name for quality, (name, _) in sorted(members.items())}
        self.members = nn.ModuleDict({f"q{quality}": model for quality, (_, model) in members.items()})

    def member_for(self, qtables: np.ndarray | Tensor) -> tuple[int, str]:
        """The (training quality, name) of the member that restores a file with ``qtables`` (N, 8, 8), luma first."""
        return nearest_member(self.names, qtables[0])

    def with_strength(self, strength: float) -> RestorationModel:
        """The member nearest the quality of steered tables: a stronger restoration comes from a member trained at a
        lower quality."""
        if len(self.names) < 2:
            only = ", ".join(self.names.values())
            raise ValueError(f"{only} is this family's one member: it has no strength to choose")
        return SteeredTables(self, strength)

    def forward(self, image: Tensor, side: JpegSide) -> Tensor:
        outputs = []
        for i in range(image.shape[0]):
            quality, _ = self.member_for(side.qtables[i].detach().cpu())
            outputs.append(self.members[f"q{quality}"](image[i : i + 1], _one_image(side, i)))
        return torch.cat(outputs)


def _one_image(side: JpegSide, i: int) -> JpegSide:
    """Image ``i`` of a batch's side information."""
    planes = None if side.coefficients is None else tuple(plane[i : i + 1] for plane in side.coefficients)
    return dataclasses.replace(side, qtables=side.qtables[i : i + 1], coefficients=planes)
