"""benchmarks/ehrlich2020.py: each subcommand on a run folder trained for two steps, on one image, in seconds."""

from __future__ import annotations

import importlib
import json
import shutil
import sys
from pathlib import Path

import pytest
from conftest import _natural_image, write_image_folder

from dejpeg.codec import encode
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
