"""``dejpeg models [--json]``: the registry with what each model is for, its size and measured scores."""

from __future__ import annotations

import argparse
import json
from typing import Any

from dejpeg.models import count_params, create_model, get_entry, list_models, quality_members, retired_models


def describe_models() -> list[dict[str, Any]]:
    """One JSON-serialisable record per registered name; an architecture with per-quality weights lists them as
    its ``members`` (its name restores with the one nearest each file's quality)."""
    records = []
    for name in list_models():
        entry = get_entry(name)
        weights = entry.weights
        members = quality_members(name) if weights is None else {}
        use = entry.use or ("an architecture to train (dejpeg train)" if weights is None else "")
        if members:
            use = f"{use}; picks per file the nearest of q{', q'.join(map(str, members))}"
        records.append(
            {
                "name": name,
                "default": entry.default,
                "params": count_params(create_model(name, pretrained=False)),
                "has_weights": all(get_entry(m).weights.path.is_file() for m in members.values())
                if members
                else weights is not None and weights.path.is_file(),
                "members": members,
                "needs_weights": entry.needs_weights,
                "scores": dict(weights.scores) if weights else {},
                "data": weights.data if weights else None,
                "origin": weights.origin if weights else None,
                "card": weights.card if weights else None,
                "paper": entry.paper,
                "use": use,
            }
        )
    return records


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the registered models")
    p.add_argument("--json", action="store_true", help="machine-readable list")


def run(args: argparse.Namespace) -> int:
    records = describe_models()
    if args.json:
        print(json.dumps(records, indent=2))
        return 0
    width = max(len(r["name"]) for r in records)
    use_width = max(len(r["use"]) for r in records)
    for r in records:
        mark = "*" if r["default"] else " "
        weights = "weights" if r["has_weights"] else "no weights" if r["needs_weights"] else "no training needed"
        scores = ", ".join(f"{k}={v:+.2f}" if "gain" in k else f"{k}={v}" for k, v in r["scores"].items())
        line = f"{mark} {r['name']:<{width}} {r['params'] / 1e6:6.2f} M params  {weights:<18}  {r['use']:<{use_width}}"
        print(f"{line}  {scores}".rstrip())
    print("* = default model")
    retired = retired_models()
    if retired:
        print("retired names (still accepted, with a warning): " + ", ".join(f"{a} -> {b}" for a, b in retired.items()))
    return 0
