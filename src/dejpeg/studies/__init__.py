"""Classification studies: what JPEG compression, and its repair, does to classifiers.

``restoration``: restoration before classification (after dos Reis et al.).
``preprocessing``: JPEG as pre-processing of a training set (after Nayak & Friedland).

Each runs end to end on an image-folder data set with any offline classifier
(:func:`dejpeg.classifiers.load_classifier`), caches every finished cell in its results folder (so an
interrupted run resumes), and writes CSV/JSON tables, PNG plots and a one-page ``report.html``.
Library code returns JSON-serialisable results and never prints.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dejpeg.config_files import dataclass_from_dict, read_config
from dejpeg.studies.data import ImageSet, load_split
from dejpeg.studies.preprocessing import (
    PreprocessingStudyConfig,
    add_noise,
    render_preprocessing_report,
    run_preprocessing_study,
)
from dejpeg.studies.restoration import RestorationStudyConfig, render_restoration_report, run_restoration_study

STUDIES: dict[str, tuple[type, Callable[..., dict[str, Any]]]] = {
    "restoration": (RestorationStudyConfig, run_restoration_study),
    "preprocessing": (PreprocessingStudyConfig, run_preprocessing_study),
}
RENDERERS: dict[str, Callable[[str | Path], Path]] = {
    "restoration": render_restoration_report,
    "preprocessing": render_preprocessing_report,
}


def load_study_config(name: str, source: str | Path | dict[str, Any], out_dir: str | None = None) -> Any:
    """The config of study ``name`` from a YAML file or a mapping; ``out_dir`` overrides the file's.

    A top-level ``study:`` key, if present, must name the same study (catches running the wrong file).
    """
    if name not in STUDIES:
        raise ValueError(f"unknown study {name!r}; choose from {sorted(STUDIES)}")
    raw = dict(source) if isinstance(source, dict) else read_config(source)
    declared = raw.pop("study", name)
    if declared != name:
        raise ValueError(f"the config is for study {declared!r}, not {name!r}")
    if out_dir is not None:
        raw["out_dir"] = out_dir
    return dataclass_from_dict(STUDIES[name][0], raw, name)


def run_study(name: str, cfg: Any, device: str = "cpu", progress: bool = True) -> dict[str, Any]:
    """Run (or resume) study ``name`` with a config from :func:`load_study_config`."""
    config_type, runner = STUDIES[name]
    if not isinstance(cfg, config_type):
        raise ValueError(f"study {name!r} needs a {config_type.__name__}, got {type(cfg).__name__}")
    return runner(cfg, device=device, progress=progress)


def render_report(results_dir: str | Path) -> Path:
    """Re-write the plots and ``report.html`` of a finished study's results folder from its saved tables
    (``config.json``, ``results.json``), without the data or any model; returns the report's path."""
    folder = Path(results_dir)
    results = folder / "results.json"
    if not results.is_file():
        raise FileNotFoundError(f"{results} not found: not the results folder of a finished study")
    name = json.loads(results.read_text()).get("study")
    if name not in RENDERERS:
        raise ValueError(f"{results}: unknown study {name!r}")
    return RENDERERS[name](folder)


__all__ = [
    "STUDIES",
    "ImageSet",
    "PreprocessingStudyConfig",
    "RestorationStudyConfig",
    "add_noise",
    "load_split",
    "load_study_config",
    "render_report",
    "run_preprocessing_study",
    "run_restoration_study",
    "run_study",
]
