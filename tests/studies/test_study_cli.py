from pathlib import Path

import pytest
import yaml
from synthetic_data import write_dataset

from dejpeg.cli.__main__ import main
from dejpeg.studies import STUDIES, load_study_config
from dejpeg.train import load_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "studies"


def test_study_command_runs_resumes_and_prints_the_report(tmp_path, capsys):
    root = write_dataset(tmp_path / "data", {"train": 6, "test": 3})
    config = tmp_path / "pre.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "study": "preprocessing",
                "out_dir": str(tmp_path / "ignored"),
                "data": {"root": str(root)},
                "classifier": "cifar_resnet8",
                "levels": {"kind": "quality", "values": [10]},
                "train": {"epochs": 1, "batch_size": 9},
            }
        )
    )
    out = tmp_path / "results"
    assert main(["study", "preprocessing", "--config", str(config), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "q10" in printed and f"report: {out / 'report.html'}" in printed
    assert (out / "report.html").is_file() and not (tmp_path / "ignored").exists()
    assert main(["study", "preprocessing", "--config", str(config), "--out", str(out), "--quiet"]) == 0


def test_study_command_errors_are_reported(tmp_path, capsys):
    assert main(["study", "restoration", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("study: preprocessing\nout_dir: x\n")
    assert main(["study", "restoration", "--config", str(bad)]) == 2
    assert "not 'restoration'" in capsys.readouterr().err
    assert main(["study", "nonsense", "--config", str(bad)]) == 2  # a usage error: one line, no SystemExit
    assert capsys.readouterr().err.startswith("dejpeg study: error: argument name: invalid choice")


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_study_and_unet_configs_load(path):
    raw = yaml.safe_load(path.read_text())
    if "study" in raw:
        cfg = load_study_config(raw["study"], path)
        assert isinstance(cfg, STUDIES[raw["study"]][0])
    else:
        cfg = load_config(path)
        assert cfg.model == "unet" and cfg.data.patch_size == 32 and cfg.data.recursive
