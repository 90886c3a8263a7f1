"""JPEG as pre-processing (after Nayak & Friedland): what storing a data set as JPEG costs a classifier.

The whole data set (train and test) is compressed at each level: the original, then a series of size
ratios (``compress_to_ratio``: JPEG bytes / raw bytes, 0.9 .. 0.1 by default) or IJG qualities. A
pretrained classifier is fine-tuned on each copy for the same epoch budget and tested on the same copy.
Reported: accuracy (label-free: agreement with the pretrained classifier's top-1 on the original) per
level and per epoch (convergence, epoch 0 = before fine-tuning), storage on disk against accuracy,
the smallest against the largest model of a family on compressed and original input, and
multiplicative Gaussian noise ``x + x * n``, ``n ~ N(0, std^2)``, applied before the optional JPEG.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from tqdm import tqdm

from dejpeg.classifiers import load_classifier, predict, train_classifier
from dejpeg.codec import SUBSAMPLING
from dejpeg.config_files import dataclass_from_dict
from dejpeg.studies.common import (
    CellStore,
    ClassifierConfig,
    DataConfig,
    TrainRecipe,
    compress_set,
    file_fingerprint,
    load_sets,
    mean_finite,
    psnr_u8,
    source_note,
    write_csv,
    write_json,
)
from dejpeg.studies.data import ImageSet
from dejpeg.studies.report import Section, bar_plot, line_plot, percent, write_report

ORIGINAL = "original"


class Level(NamedTuple):
    """A copy of the data set: the original, or JPEG at a size ratio or an IJG quality."""

    kind: str  # "original" | "ratio" | "quality"
    value: float = 1.0

    @property
    def label(self) -> str:
        if self.kind == ORIGINAL:
            return ORIGINAL
        return f"q{int(self.value)}" if self.kind == "quality" else f"r{self.value:g}"


@dataclass(frozen=True)
class LevelsConfig:
    """The compressed copies; the original is always studied too."""

    kind: str = "ratio"
    values: tuple[float, ...] = (0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1)

    def __post_init__(self) -> None:
        if self.kind not in ("ratio", "quality"):
            raise ValueError(f"levels.kind must be 'ratio' or 'quality', got {self.kind!r}")
        for value in self.values:
            self.level(value)

    def level(self, value: str | float) -> Level:
        """``"original"`` or a number of this kind, validated."""
        if value == ORIGINAL:
            return Level(ORIGINAL)
        if isinstance(value, str) or isinstance(value, bool):
            raise ValueError(f"a level is 'original' or a number, got {value!r}")
        if self.kind == "quality" and not (float(value).is_integer() and 1 <= value <= 100):
            raise ValueError(f"quality levels are integers in 1..100, got {value}")
        if self.kind == "ratio" and not 0 < value < 1:
            raise ValueError(f"ratio levels are in (0, 1) (1.0 is the original, always included), got {value}")
        return Level(self.kind, float(value))


@dataclass(frozen=True)
class ModelSizeConfig:
    """Smallest and largest model of a family, each fine-tuned at the same budget on these levels."""

    small: ClassifierConfig
    large: ClassifierConfig
    levels: tuple[str | float, ...] = (ORIGINAL,)


@dataclass(frozen=True)
class NoiseConfig:
    """Multiplicative Gaussian noise on train and test images, before JPEG, at these levels."""

    std: float = 1.0
    levels: tuple[str | float, ...] = (ORIGINAL,)


@dataclass(frozen=True)
class PreprocessingStudyConfig:
    """Settings of the pre-processing study (YAML keys of the same names)."""

    out_dir: str
    data: DataConfig
    classifier: ClassifierConfig
    levels: LevelsConfig = field(default_factory=LevelsConfig)
    train: TrainRecipe = field(default_factory=TrainRecipe)
    model_size: ModelSizeConfig | None = None
    noise: NoiseConfig | None = None
    subsampling: str = "420"
    batch_size: int = 256
    threads: int = 0
    notes: str = ""

    def __post_init__(self) -> None:
        if self.subsampling not in SUBSAMPLING:
            raise ValueError(f"subsampling must be one of {sorted(SUBSAMPLING)}, got {self.subsampling!r}")
        for part in (self.model_size, self.noise):
            for value in part.levels if part else ():
                self.levels.level(value)


class Cell(NamedTuple):
    """One fine-tuning run: which model ("main", "small", "large"), on which copy, with which noise."""

    role: str
    classifier: ClassifierConfig
    level: Level
    noise: float


@dataclass
class Version:
    """Train and test images of one copy, with what storing it costs."""

    train: np.ndarray
    test: np.ndarray
    info: dict[str, Any]


def add_noise(images_u8: np.ndarray, std: float, seed: int) -> np.ndarray:
    """``x + x * n`` with ``n ~ N(0, std^2)`` per pixel and channel, rounded and clipped to uint8."""
    rng = np.random.default_rng(seed)
    out = np.empty_like(images_u8)
    for start in range(0, len(images_u8), 1024):
        x = images_u8[start : start + 1024].astype(np.float32)
        n = rng.standard_normal(x.shape, dtype=np.float32) * std
        out[start : start + 1024] = np.clip(np.round(x + x * n), 0, 255).astype(np.uint8)
    return out


def _version(
    cfg: PreprocessingStudyConfig, train: ImageSet, test: ImageSet, level: Level, noise: float, progress: bool
) -> Version:
    sets = {"train": train.images, "test": test.images}
    if noise:
        sets = {k: add_noise(v, noise, cfg.data.seed + i + 1) for i, (k, v) in enumerate(sets.items())}
    raw = sum(v.size for v in sets.values())
    if level.kind == ORIGINAL:
        # The original's cost is its files on disk; a noisy original was never a file: count it raw.
        stored = raw if noise else int(train.file_bytes.sum() + test.file_bytes.sum())
        info = {"storage_bytes": stored, "ratio_mean": stored / raw, "quality_mean": "", "on_target": 1.0}
        info["psnr_mean"] = mean_finite(psnr_u8(sets["test"], test.images))
        return Version(sets["train"], sets["test"], info)
    arg = {"quality": int(level.value)} if level.kind == "quality" else {"ratio": level.value}
    done = {
        k: compress_set(v, subsampling=cfg.subsampling, progress=progress, desc=f"{k} {level.label}", **arg)
        for k, v in sets.items()
    }
    sizes = np.concatenate([d.file_bytes for d in done.values()])
    pixels = np.concatenate([np.full(len(d.file_bytes), d.images[0].size) for d in done.values()])
    info = {
        "storage_bytes": int(sizes.sum()),
        "ratio_mean": float(np.mean(sizes / pixels)),
        "quality_mean": float(np.concatenate([d.qualities for d in done.values()]).mean()),
        "on_target": float(np.concatenate([d.on_target for d in done.values()]).mean()),
        "psnr_mean": mean_finite(psnr_u8(done["test"].images, test.images)),
    }
    return Version(done["train"].images, done["test"].images, info)


def _cells(cfg: PreprocessingStudyConfig) -> list[Cell]:
    levels = [Level(ORIGINAL)] + [cfg.levels.level(v) for v in cfg.levels.values]
    cells = [Cell("main", cfg.classifier, level, 0.0) for level in levels]
    if cfg.model_size:
        for role, classifier in (("small", cfg.model_size.small), ("large", cfg.model_size.large)):
            cells += [Cell(role, classifier, cfg.levels.level(v), 0.0) for v in cfg.model_size.levels]
    if cfg.noise:
        for value in cfg.noise.levels:
            level = cfg.levels.level(value)
            cells += [Cell("main", cfg.classifier, level, 0.0), Cell("main", cfg.classifier, level, cfg.noise.std)]
    return list(dict.fromkeys(cells))


def _labels(
    cfg: PreprocessingStudyConfig, store: CellStore, train: ImageSet, test: ImageSet, device: str, progress: bool
) -> tuple[np.ndarray, np.ndarray, int]:
    """Labels to train and score against, and the number of classes; label-free data gets the pretrained
    classifier's top-1 on the originals (so scores are agreement with it)."""
    if train.labelled:
        return train.labels, test.labels, len(train.classes)
    c = cfg.classifier
    params = {"data": cfg.data, "classifier": c, "weights": file_fingerprint(c.spec)}
    key = CellStore.key("pseudo_labels", params)
    cached = store.get(key)
    classifier = load_classifier(c.spec, None, c.mean, c.std, c.input_size)
    if cached is None:
        cached = store.put(
            key,
            {
                "train": predict(classifier, train.images, cfg.batch_size, device, progress, "label train").tolist(),
                "test": predict(classifier, test.images, cfg.batch_size, device, progress, "label test").tolist(),
            },
        )
    return np.asarray(cached["train"]), np.asarray(cached["test"]), classifier.num_classes


def _run_cell(
    cfg: PreprocessingStudyConfig,
    store: CellStore,
    key: str,
    cell: Cell,
    version: Version,
    labels: tuple[np.ndarray, np.ndarray],
    num_classes: int,
    device: str,
    progress: bool,
) -> dict[str, Any]:
    c = cell.classifier
    torch.manual_seed(cfg.data.seed)  # a replaced head (or an untrained net) starts the same in every cell
    classifier = load_classifier(c.spec, num_classes, c.mean, c.std, c.input_size)
    before = predict(classifier, version.test, cfg.batch_size, device)
    r = cfg.train
    history = train_classifier(
        classifier,
        version.train,
        labels[0],
        r.epochs,
        test=(version.test, labels[1]),
        batch_size=r.batch_size,
        lr=r.lr,
        momentum=r.momentum,
        weight_decay=r.weight_decay,
        augment=r.augment,
        seed=cfg.data.seed,
        checkpoint=store.cells / f"{key}.ckpt",
        device=device,
        progress=progress,
        desc=f"{cell.role} {cell.level.label}{f' noise {cell.noise:g}' if cell.noise else ''}",
    )
    curve = [{"epoch": 0, "test_top1": float(np.mean(before == labels[1]))}] + history
    return store.put(
        key,
        {
            "classifier": c.spec,
            "level": cell.level.label,
            "kind": cell.level.kind,
            "value": cell.level.value,
            "noise": cell.noise,
            **version.info,
            "top1": curve[-1]["test_top1"],
            "train_seconds": float(sum(h["train_seconds"] for h in history)),
            "curve": curve,
        },
    )


def run_preprocessing_study(
    cfg: PreprocessingStudyConfig, device: str = "cpu", progress: bool = True
) -> dict[str, Any]:
    """Run (or resume) every cell, then write tables, plots and the report; returns the tables."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out_dir)
    store = CellStore(out)
    write_json(cfg, out / "config.json")
    train, test = load_sets(cfg.data, train=True, progress=progress)
    labels_train, labels_test, num_classes = _labels(cfg, store, train, test, device, progress)
    shared = {"data": cfg.data, "train": cfg.train, "subsampling": cfg.subsampling}
    keyed = []
    for cell in _cells(cfg):
        params = {
            **shared,
            "classifier": cell.classifier,
            "weights": file_fingerprint(cell.classifier.spec),
            "level": cell.level,
            "noise": cell.noise,
            "label_free": not train.labelled,
        }
        # The role is not part of the key: "small" with the main classifier's spec is the same run.
        name = f"{cell.classifier.spec.partition(':')[0]}_{cell.level.label}_n{cell.noise:g}"
        keyed.append((CellStore.key(name, params), cell))
    pending: dict[tuple[Level, float], dict[str, Cell]] = defaultdict(dict)
    for key, cell in keyed:
        if store.get(key) is None:
            pending[(cell.level, cell.noise)][key] = cell
    bar = tqdm(total=sum(map(len, pending.values())), desc="cells", disable=not progress)
    for (level, noise), group in pending.items():
        version = _version(cfg, train, test, level, noise, progress)  # computed once for all its cells
        for key, cell in group.items():
            _run_cell(cfg, store, key, cell, version, (labels_train, labels_test), num_classes, device, progress)
            bar.update(1)
    bar.close()
    records = {cell: store.get(key) for key, cell in keyed}
    return _report(cfg, out, train, test, records)


def _report(
    cfg: PreprocessingStudyConfig, out: Path, train: ImageSet, test: ImageSet, records: dict[Cell, dict[str, Any]]
) -> dict[str, Any]:
    """Tables (CSV and ``results.json``) from the cells, then the plots and the report from the tables."""
    metric = "accuracy" if train.labelled else "agreement"
    main = [r for c, r in records.items() if c.role == "main" and not c.noise]
    main.sort(key=lambda r: (r["kind"] != ORIGINAL, -r["value"]))
    levels = [
        {
            "level": r["level"],
            "quality_mean": r["quality_mean"],
            "ratio_mean": r["ratio_mean"],
            "on_target": r["on_target"],
            "storage_mb": r["storage_bytes"] / 1e6,
            "psnr_mean": r["psnr_mean"],
            f"{metric}_pretrained": r["curve"][0]["test_top1"],
            metric: r["top1"],
            "train_seconds": r["train_seconds"],
        }
        for r in main
    ]
    epochs = [{"level": r["level"], "epoch": p["epoch"], metric: p["test_top1"]} for r in main for p in r["curve"]]
    sizes = [
        {
            "model": c.role,
            "classifier": c.classifier.spec,
            "level": r["level"],
            metric: r["top1"],
            "train_seconds": r["train_seconds"],
        }
        for c, r in records.items()
        if c.role in ("small", "large")
    ]
    noise = [
        {"noise_std": c.noise, "level": r["level"], metric: r["top1"], "psnr_mean": r["psnr_mean"]}
        for c, r in records.items()
        if cfg.noise and c.role == "main" and c.level in {cfg.levels.level(v) for v in cfg.noise.levels}
    ]
    write_csv(levels, out / "levels.csv")
    write_csv(epochs, out / "epochs.csv")
    if sizes:
        write_csv(sizes, out / "model_size.csv")
    if noise:
        write_csv(noise, out / "noise.csv")
    result = {
        "study": "preprocessing",
        "metric": metric,
        "levels": levels,
        "model_size": sizes,
        "noise": noise,
        "epochs": epochs,
        "setup": {
            "train_images": len(train),
            "test_images": len(test),
            "classes": len(train.classes) if train.labelled else None,
            "source_note": source_note(cfg.data.root, cfg.data.test_split, test.names),
        },
        "report": str(out / "report.html"),
    }
    write_json(result, out / "results.json")
    _write_report(out, cfg, result)
    return result


def render_preprocessing_report(out: str | Path) -> Path:
    """Re-draw the plots and ``report.html`` of a results folder from its ``config.json`` and ``results.json``
    alone (no data or training), e.g. after the report's layout changed."""
    out = Path(out)
    cfg = dataclass_from_dict(PreprocessingStudyConfig, json.loads((out / "config.json").read_text()), "config.json")
    _write_report(out, cfg, json.loads((out / "results.json").read_text()))
    return out / "report.html"


def _named(level: str) -> str:
    return "the original" if level == ORIGINAL else level


def _model(spec: str) -> str:
    return spec.partition(":")[0]


def preprocessing_findings(result: dict[str, Any], noise_std: float | None) -> list[str]:
    """The report's opening sentences, computed from the tables: what each level costs, what fine-tuning buys
    back, and (when studied) the bigger model and the noise."""
    metric, levels = result["metric"], result["levels"]
    original, compressed = levels[0], levels[1:]
    out = []
    if compressed:
        worst = compressed[-1]
        out.append(
            f"Fine-tuned and tested on each copy, the classifier reached {percent(original[metric])} on the original "
            f"({original['storage_mb']:.2f} MB on disk) and {percent(worst[metric])} at {worst['level']} "
            f"({worst['storage_mb']:.2f} MB)."
        )
        close = [r for r in compressed if original[metric] - r[metric] <= 0.01]
        if close:
            best = min(close, key=lambda r: r["storage_mb"])
            saved = 1 - best["storage_mb"] / original["storage_mb"]
            out.append(
                f"The smallest copy within 1 point of the original is {best['level']} ({percent(best[metric])}, "
                f"{best['storage_mb']:.2f} MB, {100 * saved:.1f} % less storage)."
            )
        else:
            out.append(f"Every compressed copy lost more than 1 point of {metric}.")
        larger = [r["level"] for r in compressed if r["storage_mb"] > original["storage_mb"]]
        if larger:
            out.append(f"{', '.join(larger)} took more storage than the original.")
        gain = max(compressed, key=lambda r: r[metric] - r[f"{metric}_pretrained"])
        out.append(
            f"Fine-tuning on the compressed copy helped most at {gain['level']}: "
            f"{percent(gain[f'{metric}_pretrained'])} before, {percent(gain[metric])} after."
        )
    curves: dict[str, list[float]] = {}
    for row in result["epochs"]:
        curves.setdefault(row["level"], []).append(row[metric])
    last = {level: 100 * (c[-1] - c[-2]) for level, c in curves.items() if len(c) > 2}
    if last:
        most = max(last, key=last.__getitem__)
        out.append(
            f"The last epoch changed {metric} by {min(last.values()):+.1f} to {max(last.values()):+.1f} points "
            f"across levels (most at {most})."
        )
    by_model: dict[str, dict[str, float]] = {}
    names = {}
    for row in result["model_size"]:
        by_model.setdefault(row["model"], {})[row["level"]] = row[metric]
        names[row["model"]] = _model(row["classifier"])
    if {"small", "large"} <= set(by_model):
        small, large = by_model["small"], by_model["large"]
        shared = [level for level in small if level in large]
        diffs = " and ".join(f"{100 * (large[lv] - small[lv]):+.1f} points on {_named(lv)}" for lv in shared)
        text = f"The large model ({names['large']}) against the small one ({names['small']}): {diffs}"
        costs = [lv for lv in small if lv != ORIGINAL and ORIGINAL in small]
        if costs:
            text += "; compression cost the small model " + " and ".join(
                f"{100 * (small[ORIGINAL] - small[lv]):.1f} points at {lv}" for lv in costs
            )
        out.append(text + ".")
    noisy = [row for row in result["noise"] if row["noise_std"]]
    if noisy:
        parts = " and ".join(
            f"{percent(row[metric])} on {_named(row['level'])} (PSNR {row['psnr_mean']:.1f} dB)" for row in noisy
        )
        std = f" (std {noise_std:g})" if noise_std is not None else ""
        out.append(f"With multiplicative noise{std} on train and test images, {metric} was {parts}.")
    return out


def _write_report(out: Path, cfg: PreprocessingStudyConfig, result: dict[str, Any]) -> None:
    """Plots and ``report.html`` from the saved tables."""
    metric, levels, sizes, noise = result["metric"], result["levels"], result["model_size"], result["noise"]
    setup = result.get("setup", {})
    figures: dict[str, list[str]] = defaultdict(list)
    missing: list[str] = []

    def draw(section: str, name: str, plot: Callable[..., bool], *args: Any, **kwargs: Any) -> None:
        (figures[section] if plot(out / name, *args, **kwargs) else missing).append(name)

    names = [r["level"] for r in levels]
    ratio = ([r["ratio_mean"] for r in levels], [r[metric] for r in levels])
    draw(
        "levels",
        "accuracy_vs_ratio.png",
        line_plot,
        {metric: ratio},
        "compression ratio (file bytes / raw bytes, mean)",
        metric,
        f"{metric} vs compression ratio",
        labels={metric: names},
        lines=False,
    )
    storage = ([r["storage_mb"] for r in levels], [r[metric] for r in levels])
    draw(
        "levels",
        "storage_vs_accuracy.png",
        line_plot,
        {metric: storage},
        "storage of train + test on disk (MB)",
        metric,
        f"storage vs {metric}",
        labels={metric: names},
        lines=False,
    )
    curves: dict[str, tuple[list[int], list[float]]] = {}
    for row in result["epochs"]:
        epoch, value = curves.setdefault(row["level"], ([], []))
        epoch.append(row["epoch"])
        value.append(row[metric])
    draw(
        "epochs",
        "epochs.png",
        line_plot,
        curves,
        "epoch (0 = pretrained, before fine-tuning)",
        metric,
        f"{metric} per epoch at each level",
        legend_outside=True,
        ticks_at_x=True,
    )
    if sizes:
        groups: dict[str, dict[str, float]] = defaultdict(dict)
        for s in sizes:
            groups[s["level"]][f"{s['model']} ({_model(s['classifier'])})"] = s[metric]
        draw("sizes", "model_size.png", bar_plot, dict(groups), metric, "smallest vs largest model, same epoch budget")
    if noise:
        groups = defaultdict(dict)
        for n in noise:
            groups[n["level"]]["noisy" if n["noise_std"] else "clean"] = n[metric]
        std = f" (std {cfg.noise.std:g})" if cfg.noise else ""
        draw("noise", "noise.png", bar_plot, dict(groups), metric, f"multiplicative noise{std} with and without JPEG")
    labelled = metric == "accuracy"
    what = (
        f"{metric}: share of test images whose top-1 equals the label"
        if labelled
        else f"{metric}: share of test images whose top-1 equals the pretrained classifier's top-1 on the original "
        "(label-free data: these predictions are also the fine-tuning targets)"
    )
    classes = f" in {setup['classes']} classes" if setup.get("classes") else "" if labelled else " (label-free)"
    counts = f", {setup['train_images']:,} train and {setup['test_images']:,} test images" if setup else ""
    r = cfg.train
    sections = [
        Section(
            "Setup",
            [
                f"Data: {cfg.data.root}{counts}{classes}; classifier "
                f"{cfg.classifier.spec}, fine-tuned {r.epochs} epoch(s) per copy (SGD lr {r.lr:g}, "
                f"batch {r.batch_size}, cosine schedule{', flip + crop augmentation' if r.augment else ''}).",
                f"Levels: the original plus {cfg.levels.kind} {', '.join(f'{v:g}' for v in cfg.levels.values)} "
                f"({cfg.subsampling} subsampling). Compression ratio = JPEG file bytes / raw RGB bytes; "
                "'on_target' = share of files within 5% of a target ratio (small images cannot go below the size "
                "of their JPEG headers, about 600 bytes).",
                *([setup["source_note"]] if setup.get("source_note") else []),
                what + ".",
                *([cfg.notes] if cfg.notes else []),
            ],
        ),
        Section(
            "Accuracy and storage per compression level", figures=figures["levels"], tables=[("levels.csv", levels)]
        ),
        Section("Convergence", figures=figures["epochs"]),
    ]
    if sizes:
        sections.append(
            Section(
                "Is compressing riskier than a bigger model?",
                figures=figures["sizes"],
                tables=[("model_size.csv", sizes)],
            )
        )
    if noise and cfg.noise:
        sections.append(
            Section(
                "Multiplicative Gaussian noise",
                [f"x + x*n with n ~ N(0, {cfg.noise.std:g}^2), added to train and test images before JPEG."],
                figures=figures["noise"],
                tables=[("noise.csv", noise)],
            )
        )
    findings = preprocessing_findings(result, cfg.noise.std if cfg.noise else None)
    write_report(out / "report.html", "JPEG as pre-processing for classification", findings, sections, missing)
