"""Turn a training run's checkpoint into a shipped, checksummed safetensors file.

Usage: ``python -m dejpeg.zoo.export runs/<run> <arch>.<tag> --storage int8``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from safetensors.torch import save

from dejpeg.files import atomic_write_bytes, sha256_file
from dejpeg.runs import load_checkpoint, load_run_state
from dejpeg.zoo import WEIGHTS_DIR
from dejpeg.zoo.int8 import quantize_state

#: How the exported weights may be stored (see :func:`export_weights`).
STORAGE = ("float16", "float32", "int8")


def export_weights(
    run: str | Path,
    name: str,
    storage: str = "float16",
    keep_float: tuple[str, ...] = ("entry",),
    out_dir: Path = WEIGHTS_DIR,
) -> dict[str, str]:
    """Write ``out_dir/<name>.safetensors``.

    ``storage``: "float16" (half the size of float32, < 0.001 dB change), "float32", or "int8"
    (a quarter, :mod:`dejpeg.zoo.int8`; measured on the v4 default, BSDS500 Q10/40/90 gray and colour:
    within 0.002 dB of float16 with ``keep_float=("entry",)``). Returns the file path and sha256 to paste
    into its record in :mod:`dejpeg.zoo`.
    """
    if storage not in STORAGE:
        raise ValueError(f"storage must be one of {STORAGE}, got {storage!r}")
    run = Path(run)
    state = load_run_state(run)
    if storage == "float16":
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    elif storage == "int8":
        state = quantize_state(state, keep_float)
    checkpoint = load_checkpoint(run)
    step = "" if checkpoint is None else str(checkpoint["step"])
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.safetensors"
    # atomic, with the usual file permissions (safetensors' own writer makes 0600 files)
    atomic_write_bytes(save({k: v.contiguous() for k, v in state.items()}, metadata={"name": name, "step": step}), path)
    return {"file": path.name, "path": str(path), "sha256": sha256_file(path), "step": step}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="training run folder (out_dir of its config)")
    parser.add_argument("name", help="registry name arch.tag, e.g. dejpeg_net_dct_w192.blind_bsds300")
    parser.add_argument("--storage", default="float16", choices=STORAGE, help="how the weights are stored")
    parser.add_argument(
        "--keep-float",
        nargs="*",
        default=["entry"],
        help="with int8: layers (name parts) kept in float16 (default: entry)",
    )
    args = parser.parse_args(argv)
    print(json.dumps(export_weights(args.run, args.name, args.storage, tuple(args.keep_float)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
