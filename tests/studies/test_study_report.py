"""Re-rendering reports from saved tables: what people read must state the findings and show no reprs."""

import html
import re

from dejpeg.cli.__main__ import main
from dejpeg.studies import load_study_config
from dejpeg.studies.common import write_json
from dejpeg.studies.report import spans


def _row(set_, quality, accuracy, psnr, restorer=""):
    return {
        "set": set_,
        "quality": quality,
        "accuracy": accuracy,
        "psnr_mean": psnr,
        "restorer": restorer,
        "images": 30,
    }


def _body(folder):
    page = (folder / "report.html").read_text()
    return html.unescape(re.sub(r"<[^>]+>", " ", page.split("</style>")[1]))


def _restoration_folder(tmp_path):
    folder = tmp_path / "restoration"
    folder.mkdir()
    raw = {
        "out_dir": "elsewhere",
        "data": {"root": "data"},
        "classifier": "cifar_resnet8",
        "restorer": {1: "runs/low", 5: "runs/high"},
        "qualities": [1, 2, 5],
    }
    write_json(load_study_config("restoration", raw), folder / "config.json")
    summary = [
        _row("original", "", 0.8, None),
        _row("jpeg", 1, 0.2, 18.0),
        _row("restored", 1, 0.25, 19.0, "runs/low"),
        _row("jpeg", 2, 0.21, 18.5),
        _row("restored", 2, 0.22, 19.1, "runs/low"),
        _row("jpeg", 5, 0.3, 21.0),
        _row("restored", 5, 0.27, 21.5, "runs/high"),
    ]
    results = {"study": "restoration", "metric": "accuracy", "summary": summary, "flips": {"fixed": 7, "broken": 4}}
    write_json(results, folder / "results.json")
    return folder


def test_restoration_report_from_saved_tables_states_findings(tmp_path, capsys):
    folder = _restoration_folder(tmp_path)
    assert main(["study", "report", str(folder)]) == 0
    assert str(folder / "report.html") in capsys.readouterr().out
    text = _body(folder)
    assert text.index("Findings") < text.index("Setup")
    assert "raised accuracy at QF 1-2 (most at QF 1: 20.0 % \u2192 25.0 %)" in text
    assert "lowered accuracy at QF 5 (30.0 % \u2192 27.0 %)" in text
    assert "at QF 5 PSNR rose by 0.50 dB while accuracy fell by 3.0 points" in text
    assert "runs/low at QF 1-2; runs/high at QF 5" in text and "fixed 7 predictions" in text
    assert "None" not in text and "{" not in text and "'runs" not in text
    assert (folder / "accuracy_vs_psnr.png").is_file() and (folder / "accuracy_vs_quality.png").is_file()


def test_preprocessing_report_from_saved_tables_states_findings(tmp_path):
    folder = tmp_path / "preprocessing"
    folder.mkdir()
    raw = {
        "out_dir": "elsewhere",
        "data": {"root": "data"},
        "classifier": "cifar_resnet8",
        "levels": {"kind": "quality", "values": [70, 10]},
        "train": {"epochs": 2},
        "noise": {"std": 0.5, "levels": ["original"]},
    }
    write_json(load_study_config("preprocessing", raw), folder / "config.json")
    levels = [
        {"level": "original", "ratio_mean": 0.3, "storage_mb": 6.0, "psnr_mean": None, "accuracy_pretrained": 0.8},
        {"level": "q70", "ratio_mean": 0.29, "storage_mb": 5.7, "psnr_mean": 38.0, "accuracy_pretrained": 0.75},
        {"level": "q10", "ratio_mean": 0.22, "storage_mb": 4.8, "psnr_mean": 23.0, "accuracy_pretrained": 0.4},
    ]
    for row, accuracy in zip(levels, (0.85, 0.845, 0.6)):
        row["accuracy"] = accuracy
    epochs = [
        {"level": r["level"], "epoch": e, "accuracy": v}
        for r in levels
        for e, v in enumerate((r["accuracy_pretrained"], (r["accuracy_pretrained"] + r["accuracy"]) / 2, r["accuracy"]))
    ]
    noise = [{"noise_std": 0.5, "level": "original", "accuracy": 0.5, "psnr_mean": 12.0}]
    results = {
        "study": "preprocessing",
        "metric": "accuracy",
        "levels": levels,
        "model_size": [],
        "noise": noise,
        "epochs": epochs,
        "setup": {"train_images": 60, "test_images": 30, "classes": 3, "source_note": "Lossless source."},
    }
    write_json(results, folder / "results.json")
    assert main(["study", "report", str(folder)]) == 0
    text = _body(folder)
    assert text.index("Findings") < text.index("Setup") and "60 train and 30 test images in 3 classes" in text
    assert "The smallest copy within 1 point of the original is q70 (84.5 %, 5.70 MB, 5.0 % less storage)" in text
    assert "helped most at q10: 40.0 % before, 60.0 % after" in text
    assert "accuracy was 50.0 % on the original (PSNR 12.0 dB)" in text
    assert "None" not in text and "\u2014" in text  # the original's PSNR is a dash
    assert (folder / "epochs.png").is_file() and (folder / "noise.png").is_file()


def test_report_command_errors(tmp_path, capsys):
    assert main(["study", "report"]) == 2
    assert "needs the results folder" in capsys.readouterr().err
    assert main(["study", "report", str(tmp_path)]) == 2
    assert "not the results folder of a finished study" in capsys.readouterr().err
    assert main(["study", "restoration"]) == 2
    assert "--config" in capsys.readouterr().err


def test_spans_groups_consecutive_integers():
    assert spans([1, 2, 3, 5, 8, 9, 10]) == "1-3, 5, 8-10"
    assert spans([4]) == "4"
