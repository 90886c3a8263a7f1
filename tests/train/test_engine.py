import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from dejpeg.runs import CHECKPOINT, FINAL_WEIGHTS
from dejpeg.train import fit
from dejpeg.train.config import config_from_dict, load_config
from dejpeg.train.engine import initial_state, lr_factor

REPO = Path(__file__).resolve().parents[2]
TINY = {"luma_width": 8, "luma_blocks": 1, "chroma_width": 8, "chroma_blocks": 1}


def _config(folder: Path, out: Path, **overrides):
    raw = {
        "model": "dejpeg_net",
        "model_kwargs": TINY,
        "out_dir": str(out),
        "steps": 6,
        "lr": 1e-3,
        "warmup": 2,
        "loss": {"l1": 1.0, "ssim": 0.1},
        "workers": 0,
        "log_every": 2,
        "checkpoint_every": 3,
        "val_every": 0,
        "data": {"folder": str(folder), "patch_size": 32, "batch_size": 2, "quality": [10, 50]},
    }
    raw.update(overrides)
    return config_from_dict(raw)


def test_lr_schedules():
    cfg = _config(Path("x"), Path("y"), steps=100, warmup=10, lr=1.0, lr_min=0.0)
    assert lr_factor(0, cfg) == pytest.approx(0.1)
    assert lr_factor(10, cfg) == pytest.approx(1.0)
    assert lr_factor(55, cfg) == pytest.approx(0.5)
    assert lr_factor(100, cfg) == pytest.approx(0.0, abs=1e-12)
    step = _config(Path("x"), Path("y"), schedule="step", milestones=[20, 40], gamma=0.1, warmup=0)
    assert [lr_factor(s, step) for s in (0, 20, 45)] == pytest.approx([1.0, 0.1, 0.01])


def test_bf16_training_learns_and_keeps_fp32_weights(image_folder, tmp_path):
    history = fit(_config(image_folder, tmp_path / "run", steps=30, log_every=5, precision="bf16"), progress=False)
    losses = [r["loss"] for r in history.train]
    assert min(losses[-3:]) < losses[0]
    weights = load_file(str(tmp_path / "run" / FINAL_WEIGHTS))
    assert {w.dtype for w in weights.values()} == {torch.float32}
    with pytest.raises(ValueError, match="precision"):
        _config(image_folder, tmp_path / "x", precision="fp16")


def test_config_rejects_unknown_keys_and_does_not_mutate(tmp_path):
    raw = {"model": "dejpeg_net", "out_dir": "o", "data": {"folder": "f", "patch_size": 32}}
    with pytest.raises(ValueError, match="train: unknown keys"):
        config_from_dict({**raw, "lr_typo": 1})
    with pytest.raises(ValueError, match="train.data: unknown keys"):
        config_from_dict({**raw, "data": {"folder": "f", "size": 3}})
    before = json.dumps(raw, sort_keys=True)
    config_from_dict(raw)
    assert json.dumps(raw, sort_keys=True) == before


def test_numbers_written_as_yaml_strings_are_read_as_numbers():
    raw = {"model": "dejpeg_net", "out_dir": "o", "lr_min": "1e-06", "data": {"folder": "f"}}
    assert config_from_dict(raw).lr_min == 1e-6
    with pytest.raises(ValueError, match="expected a number"):
        config_from_dict({**raw, "lr": "fast"})


def test_shipped_configs_load():
    # configs/studies/ is covered by tests/studies/test_study_cli.py
    recipes = [p for p in (REPO / "configs").rglob("*.yaml") if p.parent.name != "studies"]
    paths = [*recipes, *(REPO / "docs" / "experiments" / "configs").glob("*.yaml")]
    assert len(recipes) >= 10
    for path in paths:
        cfg = load_config(path)
        assert cfg.steps > 0 and cfg.model


def test_recipe_stages_chain_in_order():
    """configs/<registry name>/NN_<stage>.yaml: each stage starts from the previous stage's run folder.

    The default model's folder holds only its last stage (07) and continues the chain of
    dejpeg_net_dct_w160.blind_bsds300 (stages 01-06)."""
    chain = sorted((REPO / "configs").glob("dejpeg_net*.*/*.yaml"), key=lambda p: p.name)
    assert [int(p.name.split("_", 1)[0]) for p in chain] == list(range(1, len(chain) + 1))
    configs = [load_config(p) for p in chain]
    for before, after, path in zip(configs, configs[1:], chain[1:]):
        # stage 02 has no init_from: it resumes from a copy of stage 01's last.pt (optimizer and step carried over)
        assert after.init_from in (before.out_dir, "") and after.out_dir != before.out_dir, path
    fresh = [p.name for p, cfg in zip(chain, configs) if not cfg.init_from]
    assert fresh == ["01_dct_blind.yaml", "02_warm_restart.yaml"]


def test_training_reduces_loss_and_writes_outputs(image_folder, tmp_path):
    cfg = _config(image_folder, tmp_path / "run", steps=30, log_every=5, checkpoint_every=10)
    history = fit(cfg, progress=False)
    losses = [r["loss"] for r in history.train]
    assert len(losses) == 6 and all(r["patches_per_s"] > 0 for r in history.train)
    assert min(losses[-3:]) < losses[0]
    out = tmp_path / "run"
    assert (out / CHECKPOINT).is_file() and (out / FINAL_WEIGHTS).is_file()
    assert set(load_file(str(out / FINAL_WEIGHTS))) == set(torch.load(out / CHECKPOINT, weights_only=True)["model"])
    logged = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged] == [5, 10, 15, 20, 25, 30]


def test_resume_reproduces_an_uninterrupted_run(image_folder, tmp_path):
    straight = fit(_config(image_folder, tmp_path / "a"), progress=False)
    # Interrupted after the step-3 checkpoint, then resumed to step 6.
    first = fit(_config(image_folder, tmp_path / "b"), progress=False, stop_at=3)
    assert first.steps_done == 3 and not first.weights
    resumed = fit(_config(image_folder, tmp_path / "b"), progress=False)
    a = load_file(str(tmp_path / "a" / FINAL_WEIGHTS))
    b = load_file(str(tmp_path / "b" / FINAL_WEIGHTS))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    assert resumed.train[-1]["loss"] == straight.train[-1]["loss"]


def test_init_from_starts_from_given_weights_and_rejects_others(image_folder, tmp_path):
    fit(_config(image_folder, tmp_path / "first"), progress=False, stop_at=3)
    first = initial_state(str(tmp_path / "first"))  # an unfinished run: its checkpoint's model
    cfg = _config(image_folder, tmp_path / "second", init_from=str(tmp_path / "first"), lr=1e-12, lr_min=0.0, warmup=0)
    fit(cfg, progress=False)
    second = load_file(str(tmp_path / "second" / FINAL_WEIGHTS))
    for key in first:  # at a vanishing learning rate the warm-started weights barely move
        torch.testing.assert_close(second[key], first[key], rtol=0, atol=1e-6)
    grown = _config(
        image_folder, tmp_path / "third", init_from=str(tmp_path / "first"), model_kwargs={**TINY, "luma_width": 12}
    )
    with pytest.raises(RuntimeError, match="size mismatch"):
        fit(grown, progress=False)
    # Asked to widen, the same warm start keeps the narrow run's weights in the wider model's first channels.
    widened = dataclasses.replace(grown, init_grow=True, lr=1e-12, lr_min=0.0, warmup=0)
    fit(widened, progress=False)
    wide = load_file(str(tmp_path / "third" / FINAL_WEIGHTS))
    torch.testing.assert_close(wide["luma.entry.weight"][:8], first["luma.entry.weight"], rtol=0, atol=1e-6)
    assert wide["luma.entry.weight"].shape[0] == 12 and wide["luma.exit.weight"][:, 8:].abs().max() < 1e-6


def test_freeze_holds_named_stages_fixed(image_folder, tmp_path):
    fit(_config(image_folder, tmp_path / "first"), progress=False)
    first = initial_state(str(tmp_path / "first"))
    colour = dataclasses.replace(_config(image_folder, tmp_path).data, gray_prob=0.0)
    cfg = _config(image_folder, tmp_path / "second", init_from=str(tmp_path / "first"), freeze=["luma."])
    fit(dataclasses.replace(cfg, data=colour), progress=False)
    second = load_file(str(tmp_path / "second" / FINAL_WEIGHTS))
    assert all(torch.equal(second[k], first[k]) for k in first if k.startswith("luma."))
    assert not all(torch.equal(second[k], first[k]) for k in first if k.startswith("chroma."))
    # Gray batches would reach only the frozen luma stage; no silent no-op steps.
    gray = dataclasses.replace(colour, gray_prob=1.0)
    with pytest.raises(RuntimeError, match="no trainable parameter"):
        fit(dataclasses.replace(_config(image_folder, tmp_path / "third", freeze=["luma."]), data=gray), progress=False)
    with pytest.raises(ValueError, match="match no parameter"):
        fit(_config(image_folder, tmp_path / "fourth", freeze=["lumen."]), progress=False)


def test_validation_runs_through_evaluate(image_folder, tmp_path):
    cfg = _config(
        image_folder,
        tmp_path / "v",
        steps=2,
        val_every=2,
        val_folder=str(image_folder),
        val_qualities=[10],
        val_images=2,
    )
    history = fit(cfg, progress=False)
    assert set(history.val[-1]) >= {"step", "q10_psnr_gain", "q10_ssim_gain"}


@pytest.mark.slow
def test_torchrun_two_processes_match_and_write_once(image_folder, tmp_path):
    config = tmp_path / "cfg.yaml"
    cfg = _config(image_folder, tmp_path / "ddp", steps=4, checkpoint_every=4)
    raw = cfg.to_dict()
    config.write_text(yaml.safe_dump(raw))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "dejpeg.cli",
        "train",
        str(config),
        "--quiet",
    ]
    proc = subprocess.run(cmd, env=env, timeout=300, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    state = load_file(str(tmp_path / "ddp" / FINAL_WEIGHTS))
    ckpt = torch.load(tmp_path / "ddp" / CHECKPOINT, weights_only=True)
    assert ckpt["step"] == 4
    # DDP keeps replicas identical; rank 0's final weights equal its checkpoint.
    for key, value in state.items():
        torch.testing.assert_close(value, ckpt["model"][key], rtol=0, atol=0)
    # Averaged gradients from two ranks differ from a single-process run on rank 0's data alone.
    single = fit(_config(image_folder, tmp_path / "one", steps=4, checkpoint_every=4), progress=False)
    one = load_file(single.weights)
    assert any(not torch.equal(one[k], state[k]) for k in one)
