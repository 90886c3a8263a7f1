"""benchmarks/ehrlich2020.py: each subcommand on a run folder trained for two steps, on one image, in seconds."""

from __future__ import annotations

import importlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import _natural_image, write_image_folder
from PIL import Image
from safetensors.torch import load_file, save_file

from dejpeg.api import load_model, restore
from dejpeg.codec import encode
from dejpeg.evaluation import load_reference
from dejpeg.metrics import image_metrics
from dejpeg.runs import FINAL_WEIGHTS as FINAL
from dejpeg.train import fit
from dejpeg.train.config import load_config

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # the scripts import each other's helpers by module name
ehrlich2020 = importlib.import_module("ehrlich2020")

TINY = {"width": 8, "coefficient_channels": 2, "per_frequency": 1, "chroma_width": 4, "manifold_channels": 4}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A root whose table5_cfm run (a tiny QGAC trained for two steps) has finished, and a colour stage run (a copy
    of it); every other arm has no run."""
    base = tmp_path_factory.mktemp("ehrlich2020")
    images = write_image_folder(base / "images", 2)
    jpegs = base / "jpegs"
    jpegs.mkdir()
    for i in range(2):
        (jpegs / f"{i}.jpg").write_bytes(encode(_natural_image(64, 80, seed=i), quality=95))
    recipe = ehrlich2020.TABLE5["cfm"]
    overrides = {
        "model_kwargs": TINY,
        "out_dir": str(ehrlich2020.out_dir(recipe, base)),
        "task_options": {"stage": "y", "statistics": str(jpegs)},
        "steps": 2,
        "warmup": 0,
        "workers": 0,
        "log_every": 1,
        "checkpoint_every": 2,
    }
    data = {"folder": str(images), "patch_size": 32, "batch_size": 2, "quality": [10, 30]}
    fit(load_config(BENCHMARKS.parent / "configs" / recipe, {**overrides, "data": data}), progress=False)
    shutil.copytree(overrides["out_dir"], ehrlich2020.out_dir(ehrlich2020.COLOUR_RECIPE, base))
    return base


def _run(root: Path, tmp_path: Path, part: str, capsys) -> tuple[dict, str]:
    argv = [part, "--root", str(root), "--data", str(root / "images"), "--max-images", "1"]
    argv += ["--results", str(tmp_path / "results"), "--figures", str(tmp_path / "figures")]
    assert ehrlich2020.main(argv) == 0
    return json.loads((tmp_path / "results" / f"ehrlich2020_{part}.json").read_text()), capsys.readouterr().out


def test_table3_evaluates_the_finished_runs_and_names_the_others(root, tmp_path, capsys):
    record, out = _run(root, tmp_path, "table3", capsys)
    steered = record["results"]["Q10-100, table-steered (CFM)"]
    assert sorted(steered["rows"]) == ["10", "20", "50"] and steered["rows"]["10"]["images"] == 1
    assert len(record["notes"]) == 2 and all("no finished run" in note for note in record["notes"])
    assert "Q10 only, no table: skipped" in out


def test_table5_scores_and_curves(root, tmp_path, capsys):
    record, out = _run(root, tmp_path, "table5", capsys)
    assert list(record["results"]) == ["cfm"] and record["results"]["cfm"]["curve"]["steps"] == [1, 2]
    assert len(record["notes"]) == len(ehrlich2020.TABLE5) - 1
    assert "Q50" in out and "no fusion: skipped" in out


def test_curves_are_drawn_relative_to_the_base_arm_on_shared_steps():
    base = ([25, 50, 75], [0.02, 0.04, 0.03])
    arm = ([50, 75, 100], [0.042, 0.027, 0.05])  # 5 % above, 10 % below, and a step the base did not log
    steps, percent = ehrlich2020.relative_to(base, arm)
    assert steps == [50, 75] and percent == pytest.approx([5.0, -10.0])
    assert ehrlich2020.relative_to(base, base)[1] == [0.0, 0.0, 0.0]


def test_fig11_sweeps_the_colour_model_over_qualities(root, tmp_path, capsys):
    record, out = _run(root, tmp_path, "fig11", capsys)
    assert sorted(map(int, record["results"])) == list(range(10, 101, 10))
    assert record["source"].endswith("qgac_small_color") and "Q100" in out


def test_fig11_without_a_colour_model_says_so(tmp_path, capsys, root, monkeypatch):
    monkeypatch.setattr(ehrlich2020, "COLOUR_MODEL", "qgac_small.not_registered")
    empty = tmp_path / "empty"
    shutil.copytree(root / "images", empty / "images")
    record, out = _run(empty, tmp_path, "fig11", capsys)
    assert record["results"] == {} and "skipped" in out


def test_table4_blends_the_gan_weights_and_measures_psnr_and_frechet_distance(root, tmp_path, capsys):
    colour = ehrlich2020.out_dir(ehrlich2020.COLOUR_RECIPE, root)
    gan = tmp_path / "gan"
    shutil.copytree(colour, gan)
    torch.manual_seed(0)
    weights = {
        k: v + 0.05 * torch.randn_like(v) if v.is_floating_point() else v for k, v in load_file(gan / FINAL).items()
    }
    save_file(weights, gan / FINAL)  # a GAN stage that moved every weight
    argv = ["table4", "--root", str(root), "--data", str(root / "images"), "--gan", str(gan), "--qualities", "10", "30"]
    argv += ["--features", "cifar_resnet20", "--feature-layer", "layer3", "--tile", "16", "--crop", "48"]
    argv += ["--results", str(tmp_path / "results"), "--figures", str(tmp_path / "figures")]
    assert ehrlich2020.main(argv) == 0
    record = json.loads((tmp_path / "results" / "ehrlich2020_table4.json").read_text())
    results = record["results"]
    assert list(results) == ["JPEG", "alpha 0", "alpha 0.7", "alpha 1"] and record["regression"] == str(colour)
    references = [load_reference(path, gray=False) for path in sorted((root / "images").glob("*.png"))]
    assert record["tiles"] == sum((r.shape[0] // 16) * (r.shape[1] // 16) for r in references)
    for label, source in (("alpha 0", colour), ("alpha 1", gan)):  # the ends are the two networks themselves
        net = load_model(str(source))
        for quality in (10, 30):
            psnrs = [
                image_metrics(restore(encode(r, quality=quality), net, precision="fp32"), r)["psnr"] for r in references
            ]
            assert results[label][str(quality)]["psnr"] == pytest.approx(np.mean(psnrs), abs=1e-9)
    middle = results["alpha 0.7"]["10"]["psnr"]
    assert middle not in (results["alpha 0"]["10"]["psnr"], results["alpha 1"]["10"]["psnr"])
    assert all(row[str(q)]["frechet"] > 0 for row in results.values() for q in (10, 30))
    assert Image.open(tmp_path / "figures" / "ehrlich2020_table4.png").size[0] > 5 * 48
    assert "Q30 Fréchet" in capsys.readouterr().out
