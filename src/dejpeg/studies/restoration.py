"""Restoration before classification (after dos Reis et al.): does repairing JPEG damage help a classifier?

The test split is compressed at each quality (QF 1..10 in the paper), restored by an artifact-reduction
model (any of the registry, e.g. a per-quality U-Net), and a classifier trained on clean data labels the
original, compressed and restored copies. Reported: accuracy (label-free: top-1 agreement with the
prediction on the original) per copy and quality, mean PSNR of each copy against the original, accuracy
against PSNR, and the images whose prediction flips between the compressed and the restored copy.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn
from tqdm import tqdm

from dejpeg.api import load_model, restore_array
from dejpeg.classifiers import ImageClassifier, load_classifier, predict, save_classifier, train_classifier
from dejpeg.codec import SUBSAMPLING
from dejpeg.config_files import dataclass_from_dict
from dejpeg.studies.common import (
    CellStore,
    ClassifierConfig,
    CompressedSet,
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
from dejpeg.studies.report import Section, image_grid, line_plot, paired_scatter, percent, spans, write_report


@dataclass(frozen=True)
class RestorationStudyConfig:
    """Settings of the restoration study (YAML keys of the same names).

    restorer: one restorer for every quality, or ``{quality: restorer}`` (a quality without its own
        model uses the nearest trained one, ties going to the lower quality). A restorer is a registry
        name with weights or the folder of a ``dejpeg train`` run.
    finetune: fine-tune the classifier on the clean train split first (for a classifier not trained on
        this data set, e.g. ImageNet weights on your own classes); None uses it as loaded.
    """

    out_dir: str
    data: DataConfig
    classifier: ClassifierConfig
    restorer: str | dict[int, str]
    qualities: tuple[int, ...] = tuple(range(1, 11))
    subsampling: str = "420"
    finetune: TrainRecipe | None = None
    batch_size: int = 256
    flip_examples: int = 6
    threads: int = 0
    notes: str = ""

    def __post_init__(self) -> None:
        if not self.qualities or any(not 1 <= int(q) <= 100 for q in self.qualities):
            raise ValueError(f"qualities must be IJG qualities in 1..100, got {self.qualities}")
        if self.subsampling not in SUBSAMPLING:
            raise ValueError(f"subsampling must be one of {sorted(SUBSAMPLING)}, got {self.subsampling!r}")
        if isinstance(self.restorer, dict) and not self.restorer:
            raise ValueError("restorer mapping is empty")

    def restorer_for(self, quality: int) -> str:
        if isinstance(self.restorer, str):
            return self.restorer
        trained = sorted(int(q) for q in self.restorer)
        nearest = min(trained, key=lambda q: (abs(q - quality), q))
        return str(self.restorer[nearest] if nearest in self.restorer else self.restorer[str(nearest)])


def restore_set(model: nn.Module, compressed: CompressedSet, device: str, progress: bool, desc: str) -> np.ndarray:
    """Restore every image with the tables of its own file (``dejpeg.api.restore_array``)."""
    pairs = zip(compressed.images, compressed.qtables)
    bar = tqdm(pairs, total=len(compressed.images), desc=desc, disable=not progress, leave=False)
    return np.stack([restore_array(image, tables, model, device) for image, tables in bar])


@dataclass
class _Context:
    """What every cell of one run needs; restorers are loaded once each."""

    cfg: RestorationStudyConfig
    store: CellStore
    test: ImageSet
    classifier: ImageClassifier
    classifier_params: dict[str, Any]
    device: str
    progress: bool
    restorers: dict[str, nn.Module] = field(default_factory=dict)

    def restorer(self, spec: str) -> nn.Module:
        if spec not in self.restorers:
            self.restorers[spec] = load_model(spec, self.device)
        return self.restorers[spec]


def _prepare_classifier(
    cfg: RestorationStudyConfig, store: CellStore, train: ImageSet | None, test: ImageSet, device: str, progress: bool
) -> tuple[ImageClassifier, dict[str, Any]]:
    """The classifier to study (fine-tuned on the clean train split first when configured, once: the
    weights are kept in the results folder) and the settings that identify it in cell keys."""
    c = cfg.classifier
    params: dict[str, Any] = {"classifier": c, "weights": file_fingerprint(c.spec), "finetune": cfg.finetune}
    if cfg.finetune is None:
        classifier = load_classifier(c.spec, None, c.mean, c.std, c.input_size)
        if test.labelled and classifier.num_classes != len(test.classes):
            raise ValueError(
                f"the classifier has {classifier.num_classes} outputs but the data set has {len(test.classes)} "
                "classes: set 'finetune' to train it on the clean train split, or use a label-free data set"
            )
        return classifier, params
    if train is None or not train.labelled:
        raise ValueError("'finetune' needs a labelled train split")
    params["data"] = cfg.data
    weights = store.out_dir / f"{CellStore.key('classifier', params)}.safetensors"
    torch.manual_seed(cfg.data.seed)  # a new head's initialisation, reproducible
    classifier = load_classifier(c.spec, len(train.classes), c.mean, c.std, c.input_size)
    if weights.is_file():
        state = load_file(str(weights))
        classifier.net.load_state_dict(state, strict=True)
        return classifier.eval(), params
    r = cfg.finetune
    train_classifier(
        classifier,
        train.images,
        train.labels,
        r.epochs,
        batch_size=r.batch_size,
        lr=r.lr,
        momentum=r.momentum,
        weight_decay=r.weight_decay,
        augment=r.augment,
        seed=cfg.data.seed,
        checkpoint=weights.with_suffix(".ckpt"),
        device=device,
        progress=progress,
        desc="fine-tune on clean",
    )
    save_classifier(classifier, weights)
    return classifier, params


def _original_cell(ctx: _Context) -> dict[str, Any]:
    params = {"data": ctx.cfg.data, **ctx.classifier_params}
    key = CellStore.key("original", params)
    cached = ctx.store.get(key)
    if cached is not None:
        return cached
    preds = predict(ctx.classifier, ctx.test.images, ctx.cfg.batch_size, ctx.device, ctx.progress, "classify original")
    return ctx.store.put(key, {"pred_original": preds.tolist()})


def _quality_cell(ctx: _Context, quality: int) -> dict[str, Any]:
    spec = ctx.cfg.restorer_for(quality)
    params = {
        "data": ctx.cfg.data,
        **ctx.classifier_params,
        "quality": quality,
        "subsampling": ctx.cfg.subsampling,
        "restorer": spec,
        "restorer_weights": file_fingerprint(spec),
    }
    key = CellStore.key(f"q{quality}", params)
    cached = ctx.store.get(key)
    if cached is not None:
        return cached
    originals = ctx.test.images
    compressed = compress_set(
        originals, quality=quality, subsampling=ctx.cfg.subsampling, progress=ctx.progress, desc=f"JPEG q{quality}"
    )
    restored = restore_set(ctx.restorer(spec), compressed, ctx.device, ctx.progress, f"restore q{quality}")
    bs, dev, prog = ctx.cfg.batch_size, ctx.device, ctx.progress
    record = {
        "quality": quality,
        "restorer": spec,
        "bytes_mean": float(compressed.file_bytes.mean()),
        "psnr_jpeg": psnr_u8(compressed.images, originals).tolist(),
        "psnr_restored": psnr_u8(restored, originals).tolist(),
        "pred_jpeg": predict(ctx.classifier, compressed.images, bs, dev, prog, f"classify q{quality}").tolist(),
        "pred_restored": predict(ctx.classifier, restored, bs, dev, prog, f"classify restored q{quality}").tolist(),
    }
    return ctx.store.put(key, record)


def _summarise(test: ImageSet, original: dict[str, Any], cells: list[dict[str, Any]]) -> tuple[list, list, str]:
    """Summary rows (one per copy and quality) and flip rows, from the cells."""
    metric = "accuracy" if test.labelled else "agreement"
    pred_original = np.asarray(original["pred_original"])
    truth = test.labels if test.labelled else pred_original
    name_of = (lambda i: test.classes[i]) if test.labelled else str
    summary = [
        {
            "set": "original",
            "quality": "",
            metric: float(np.mean(pred_original == truth)),
            "psnr_mean": "",
            "fixed": "",
            "broken": "",
            "restorer": "",
            "images": len(test),
        }
    ]
    flips = []
    for cell in cells:
        right_jpeg = np.asarray(cell["pred_jpeg"]) == truth
        right_restored = np.asarray(cell["pred_restored"]) == truth
        fixed, broken = ~right_jpeg & right_restored, right_jpeg & ~right_restored
        for copy, right, psnrs in (("jpeg", right_jpeg, "psnr_jpeg"), ("restored", right_restored, "psnr_restored")):
            summary.append(
                {
                    "set": copy,
                    "quality": cell["quality"],
                    metric: float(right.mean()),
                    "psnr_mean": mean_finite(cell[psnrs]),
                    "fixed": int(fixed.sum()) if copy == "restored" else "",
                    "broken": int(broken.sum()) if copy == "restored" else "",
                    "restorer": cell["restorer"] if copy == "restored" else "",
                    "images": len(test),
                }
            )
        for kind, mask in (("fixed", fixed), ("broken", broken)):
            for i in np.flatnonzero(mask):
                flips.append(
                    {
                        "quality": cell["quality"],
                        "kind": kind,
                        "image": test.names[i],
                        "truth": name_of(int(truth[i])),
                        "pred_jpeg": name_of(cell["pred_jpeg"][i]),
                        "pred_restored": name_of(cell["pred_restored"][i]),
                        "psnr_jpeg": cell["psnr_jpeg"][i],
                        "psnr_restored": cell["psnr_restored"][i],
                        "index": int(i),
                    }
                )
    return summary, flips, metric


def _db(value: float | None) -> str:
    return "inf dB" if value is None else f"{value:.1f} dB"


def _flip_grid(ctx: _Context, flips: list[dict[str, Any]], path: Path) -> None:
    """Original | JPEG | restored for a few flips of each kind (recomputed: only these few images)."""
    chosen = []
    for kind in ("fixed", "broken"):
        chosen += [f for f in flips if f["kind"] == kind][: ctx.cfg.flip_examples]
    if not chosen:
        return
    rows, captions = [], []
    for flip in chosen:
        original = ctx.test.images[flip["index"]]
        compressed = compress_set(original[None], quality=flip["quality"], subsampling=ctx.cfg.subsampling)
        restorer = ctx.restorer(ctx.cfg.restorer_for(flip["quality"]))
        restored = restore_array(compressed.images[0], compressed.qtables[0], restorer, ctx.device)
        rows.append([original, compressed.images[0], restored])
        captions.append(
            [
                f"{flip['kind']}: {Path(flip['image']).name}\ntruth {flip['truth']}",
                f"JPEG q{flip['quality']} {_db(flip['psnr_jpeg'])}\n-> {flip['pred_jpeg']}",
                f"restored {_db(flip['psnr_restored'])}\n-> {flip['pred_restored']}",
            ]
        )
    image_grid(path, rows, captions)


def run_restoration_study(cfg: RestorationStudyConfig, device: str = "cpu", progress: bool = True) -> dict[str, Any]:
    """Run (or resume) the study and write its results folder; returns the summary rows and file names."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out_dir)
    store = CellStore(out)
    write_json(cfg, out / "config.json")
    train, test = load_sets(cfg.data, train=cfg.finetune is not None, progress=progress)
    classifier, classifier_params = _prepare_classifier(cfg, store, train, test, device, progress)
    ctx = _Context(cfg, store, test, classifier, classifier_params, device, progress)
    original = _original_cell(ctx)
    cells = [_quality_cell(ctx, int(q)) for q in tqdm(cfg.qualities, desc="qualities", disable=not progress)]
    summary, flips, metric = _summarise(test, original, cells)
    write_csv(summary, out / "summary.csv")
    write_csv(flips or [{"quality": "", "kind": "", "image": ""}], out / "flips.csv")
    (out / "flips.png").unlink(missing_ok=True)  # a grid from an earlier run would show other images
    _flip_grid(ctx, flips, out / "flips.png")
    fixed = sum(1 for f in flips if f["kind"] == "fixed")
    result = {
        "study": "restoration",
        "metric": metric,
        "summary": summary,
        "flips": {"fixed": fixed, "broken": len(flips) - fixed},
        "setup": {
            "images": len(test),
            "classes": len(test.classes) if test.labelled else None,
            "source_note": source_note(cfg.data.root, cfg.data.test_split, test.names),
        },
        "report": str(out / "report.html"),
    }
    write_json(result, out / "results.json")
    _write_report(out, cfg, result)
    return result


def render_restoration_report(out: str | Path) -> Path:
    """Re-draw the plots and ``report.html`` of a results folder from its ``config.json`` and ``results.json``
    alone (no data, classifier or restorer needed), e.g. after the report's layout changed."""
    out = Path(out)
    cfg = dataclass_from_dict(RestorationStudyConfig, json.loads((out / "config.json").read_text()), "config.json")
    result = json.loads((out / "results.json").read_text())
    _write_report(out, cfg, result)
    return out / "report.html"


def _restorers(cfg: RestorationStudyConfig) -> str:
    """Which restorer handled which qualities, in words."""
    by_spec: dict[str, list[int]] = {}
    for q in cfg.qualities:
        by_spec.setdefault(cfg.restorer_for(int(q)), []).append(int(q))
    if len(by_spec) == 1:
        return next(iter(by_spec))
    return "; ".join(f"{spec} at QF {spans(qs)}" for spec, qs in by_spec.items())


def restoration_findings(summary: list[dict[str, Any]], metric: str, flips: dict[str, int], restorer: str) -> list[str]:
    """The report's opening sentences, computed from the summary rows (so every results folder states its own
    conclusion: where restoring helped the classifier, where it hurt, and whether PSNR predicted it)."""
    original = summary[0][metric]
    jpeg = {r["quality"]: r for r in summary if r["set"] == "jpeg"}
    restored = {r["quality"]: r for r in summary if r["set"] == "restored"}
    qs = list(jpeg)
    first, last = qs[0], qs[-1]
    drop = f"{percent(jpeg[first][metric])} at QF {first}"
    if last != first:
        drop += f" and {percent(jpeg[last][metric])} at QF {last}"
    out = [f"JPEG compression lowered {metric} from {percent(original)} on the original to {drop}."]
    delta = {q: restored[q][metric] - jpeg[q][metric] for q in qs}
    parts = []
    for word, chosen in (("raised", [q for q in qs if delta[q] > 0]), ("lowered", [q for q in qs if delta[q] < 0])):
        if chosen:
            q = max(chosen, key=lambda k: abs(delta[k]))
            where = f"{percent(jpeg[q][metric])} \u2192 {percent(restored[q][metric])}"
            where = f"most at QF {q}: {where}" if len(chosen) > 1 else where
            parts.append(f"{word} {metric} at QF {spans(chosen)} ({where})")
    same = [q for q in qs if delta[q] == 0]
    if same:
        parts.append(f"left it unchanged at QF {spans(same)}")
    out.append(f"Restoring before classification ({restorer}) {' and '.join(parts)}.")
    gain = {q: restored[q]["psnr_mean"] - jpeg[q]["psnr_mean"] for q in qs}
    up = [q for q in qs if gain[q] > 0]
    low, high = min(gain.values()), max(gain.values())
    size = f"{low:+.2f} dB" if low == high else f"{low:+.2f} to {high:+.2f} dB"
    where = "at every QF" if len(up) == len(qs) > 1 else f"at QF {spans(up)}" if up else "at no QF"
    out.append(f"It raised the mean PSNR against the original {where} ({size}).")
    against = [q for q in qs if gain[q] > 0 and delta[q] < 0]
    if against:
        q = min(against, key=lambda k: delta[k])
        out.append(
            f"A higher PSNR did not mean a higher {metric}: at QF {q} PSNR rose by {gain[q]:.2f} dB while "
            f"{metric} fell by {-100 * delta[q]:.1f} points."
        )
    out.append(
        f"Over all qualities restoration fixed {flips['fixed']:,} predictions (wrong on the JPEG copy, right after "
        f"restoration) and broke {flips['broken']:,}."
    )
    return out


def _write_report(out: Path, cfg: RestorationStudyConfig, result: dict[str, Any]) -> None:
    """Plots and ``report.html`` from the saved results (the flip grid is drawn by the run: it needs images)."""
    metric, summary, setup = result["metric"], result["summary"], result.get("setup", {})
    jpeg = [r for r in summary if r["set"] == "jpeg"]
    restored = [r for r in summary if r["set"] == "restored"]
    figures, missing = [], []

    def draw(name: str, plot: Callable[..., bool], *args: Any, **kwargs: Any) -> None:
        (figures if plot(out / name, *args, **kwargs) else missing).append(name)

    draw(
        "accuracy_vs_quality.png",
        line_plot,
        {
            "JPEG": ([r["quality"] for r in jpeg], [r[metric] for r in jpeg]),
            "restored": ([r["quality"] for r in restored], [r[metric] for r in restored]),
        },
        "JPEG quality (QF)",
        metric,
        f"{metric} vs quality",
        hlines={"original": summary[0][metric]},
        ticks_at_x=True,
    )
    draw(
        "accuracy_vs_psnr.png",
        paired_scatter,
        {j["quality"]: ((j["psnr_mean"], j[metric]), (r["psnr_mean"], r[metric])) for j, r in zip(jpeg, restored)},
        ("JPEG", "restored"),
        "mean PSNR against the original (dB)",
        metric,
        f"{metric} vs PSNR",
        "QF",
    )
    flips = result["flips"]
    has_grid = flips["fixed"] + flips["broken"] > 0 and (out / "flips.png").is_file()
    labelled = metric == "accuracy"
    what = (
        f"{metric} = share of test images whose top-1 equals the label"
        if labelled
        else f"{metric} = share of images whose top-1 equals the classifier's top-1 on the original (no labels)"
    )
    images = summary[0]["images"]
    classes = f" in {setup['classes']} classes" if setup.get("classes") else "" if labelled else " (label-free)"
    restorer = _restorers(cfg)
    sections = [
        Section(
            "Setup",
            [
                f"Data: {cfg.data.root} split '{cfg.data.test_split}', {images:,} images{classes}; "
                f"classifier {cfg.classifier.spec}{' fine-tuned on the clean train split' if cfg.finetune else ''}.",
                f"JPEG: IJG qualities {spans([int(q) for q in cfg.qualities])}, {cfg.subsampling} subsampling. "
                f"Restorer: {restorer}.",
                *([setup["source_note"]] if setup.get("source_note") else []),
                what + ".",
                *([cfg.notes] if cfg.notes else []),
            ],
        ),
        Section(
            "Accuracy with and without restoration",
            ["Right: each line joins the JPEG copy (circle) and the restored copy (triangle) of one quality."],
            figures=[f for f in figures if f.startswith("accuracy")],
            tables=[("summary.csv", summary)],
        ),
        Section(
            "Prediction flips",
            [
                f"'fixed': wrong on the JPEG copy, right after restoration ({flips['fixed']:,} over all qualities); "
                f"'broken': right on the JPEG copy, wrong after restoration ({flips['broken']:,}). Full list: "
                "flips.csv."
            ],
            figures=["flips.png"] if has_grid else [],
        ),
    ]
    findings = restoration_findings(summary, metric, flips, restorer)
    write_report(out / "report.html", "Restoration before classification", findings, sections, missing)
