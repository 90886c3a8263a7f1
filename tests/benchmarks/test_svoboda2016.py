"""benchmarks/svoboda2016.py: the Figure 8, Figure 5 and speed parts on tiny image folders, in seconds."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest
from conftest import write_image_folder

from dejpeg.models import create_model, resolve_precision
from dejpeg.train import fit
from dejpeg.train.config import load_config

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))  # the scripts import each other's helpers by module name
svoboda2016 = importlib.import_module("svoboda2016")


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A root with 4 training and 2 test images, where only Figure 8's L4-on-4-images run has finished (two steps)."""
    base = tmp_path_factory.mktemp("svoboda2016")
    write_image_folder(base / "train", 4)
    write_image_folder(base / "test", 2, size=(48, 64))
    recipe = svoboda2016.SIZES[("l4", 4)]
    overrides = {
        "out_dir": str(svoboda2016.out_dir(recipe, base)),
        "steps": 2,
        "milestones": [],
        "log_every": 1,
        "checkpoint_every": 2,
        "val_every": 0,
        "data": {
            "folder": str(base / "train"),
            "patch_size": 32,
            "batch_size": 2,
            "quality": 10,
            "max_images": 4,
            "gray_prob": 1.0,
        },
    }
    fit(load_config(BENCHMARKS.parent / "configs" / recipe, overrides), progress=False)
    return base


def _run(root: Path, tmp_path: Path, argv: list[str], json_name: str) -> dict:
    argv = [*argv, "--root", str(root), "--data", str(root / "test")]
    argv += ["--results", str(tmp_path / "results"), "--figures", str(tmp_path / "figures")]
    assert svoboda2016.main(argv) == 0
    return json.loads((tmp_path / "results" / f"svoboda2016_{json_name}.json").read_text())


def test_sizes_scores_the_finished_run_on_its_training_images_and_held_out(root, tmp_path, capsys):
    record = _run(root, tmp_path, ["sizes", "--train-data", str(root / "train"), "--train-images", "3"], "sizes")
    assert list(record["results"]) == ["l4_4"]
    result = record["results"]["l4_4"]
    # min(4 training images, --train-images 3) of the training photos; both test photos held out
    assert result["train"]["images"] == 3 and result["held_out"]["images"] == 2
    assert len(record["notes"]) == len(svoboda2016.SIZES) - 1
    assert all("no finished run" in note for note in record["notes"])
    gap = f"{result['train']['psnr_gain'] - result['held_out']['psnr_gain']:+.2f}"
    assert gap in capsys.readouterr().out


def test_matrix_evaluates_each_available_l4_at_every_quality(root, tmp_path):
    record = _run(root, tmp_path, ["matrix", "--max-images", "1"], "matrix")
    assert record["results"], "the shipped L4 members are registry models: at least those are evaluated"
    assert len(record["results"]) + len(record["notes"]) == len(svoboda2016.MATRIX_MODELS)
    for label, rows in record["results"].items():
        assert label in svoboda2016.MATRIX_MODELS and sorted(map(int, rows)) == list(svoboda2016.MATRIX_QUALITIES)
    assert (tmp_path / "figures" / "svoboda2016_matrix.png").is_file()


def test_speed_counts_operations_and_records_the_precision(root, tmp_path):
    record = _run(root, tmp_path, ["speed", "--models", "l4", "tv_decoder", "--repeats", "1"], "speed")
    l4, tv = record["results"]["l4"], record["results"]["tv_decoder"]
    # 11x11x1x48 + 3x3x48x64 + 3x3x64x64 + 5x5x64x1 multiply-accumulates per pixel, two operations each
    assert l4["ops_per_pixel"] == 2 * (121 * 48 + 9 * 48 * 64 + 9 * 64 * 64 + 25 * 64) == 143_840
    assert l4["paper_ops_per_pixel"] == 140_000 and tv["ops_per_pixel"] is None
    assert l4["precision"] == resolve_precision(create_model("l4.q10_bsds300", pretrained=False), "cpu")
    assert record["image"] == [864, 1152] and len(l4["seconds"]) == 1 and l4["seconds_per_megapixel"] > 0


def test_table_add_merges_new_models_into_the_same_measurement(root, tmp_path, capsys):
    base = ["table", "--max-images", "1", "--qualities", "10"]
    first = _run(root, tmp_path, [*base, "--models", "jpeg", "l4"], "table")
    added = _run(root, tmp_path, [*base, "--qualities", "20", "--models", "arcnn", "--add"], "table")
    assert list(added["results"]) == ["jpeg", "l4", "arcnn"] and added["qualities"] == [10, 20]
    assert added["results"]["l4"] == first["results"]["l4"], "the rows not measured again are kept as they were"
    arcnn = added["results"]["arcnn"]
    assert list(arcnn) == ["20"] and arcnn["20"]["source"] == "arcnn"
    assert arcnn["20"]["precision"] == resolve_precision(create_model("arcnn.q20_bsds300", pretrained=False), "cpu")
    again = _run(root, tmp_path, [*base, "--models", "jpeg", "arcnn", "--add"], "table")
    assert list(again["results"]["jpeg"]) == ["10", "20"], "JPEG's row is measured again under every model present"
    assert list(again["results"]["arcnn"]) == ["20", "10"]
    with pytest.raises(SystemExit, match="max_images 1 \\(now 2\\)"):
        _run(root, tmp_path, ["table", "--max-images", "2", "--models", "l8", "--add"], "table")
    with pytest.raises(SystemExit, match="run the table without --add first"):
        _run(root, tmp_path, [*base, "--color", "--models", "l8", "--add"], "table_color")
