"""``dejpeg`` command line: one subcommand per module, each a thin wrapper over one library call."""

from __future__ import annotations

import argparse
import sys

from dejpeg.cli import compress, evaluate, info, models, restore, study, train

COMMANDS = {
    "restore": restore,
    "compress": compress,
    "evaluate": evaluate,
    "info": info,
    "models": models,
    "train": train,
    "study": study,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dejpeg", description="Remove JPEG artifacts and measure JPEG damage.")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS.values():
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 on success), so tests call ``main([...])``."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command].run(args)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"dejpeg {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
