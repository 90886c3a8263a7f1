"""``dejpeg`` command line: one subcommand per module, each a thin wrapper over one library call."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from importlib.metadata import PackageNotFoundError, version
from typing import TextIO

from dejpeg.cli import codec, compare, compress, evaluate, info, models, restore, serve, study, train

COMMANDS = {
    "restore": restore,
    "compress": compress,
    "codec": codec,
    "evaluate": evaluate,
    "info": info,
    "models": models,
    "train": train,
    "study": study,
    "compare": compare,
    "serve": serve,
}


class OneLineErrorParser(argparse.ArgumentParser):
    """Usage errors as the single line ``dejpeg <command>: error: ...`` (exit 2), like every other CLI error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def package_version() -> str:
    """The installed distribution's version; the source tree's when run without installing."""
    try:
        return version("dejpeg")
    except PackageNotFoundError:
        from dejpeg import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="dejpeg", description="Remove JPEG artifacts and measure JPEG damage.")
    parser.add_argument("--version", action="version", version=f"dejpeg {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS.values():
        module.add_parser(sub)
    return parser


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """Warnings as one line for people at a terminal, not the source location Python prints by default."""
    print(f"dejpeg: warning: {message}", file=sys.stderr if file is None else file)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 on success), so tests call ``main([...])``."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help, --version and usage errors
        return stop.code if isinstance(stop.code, int) else 2
    with warnings.catch_warnings():  # restores the default hook afterwards (main runs inside tests too)
        warnings.showwarning = _show_warning
        try:
            return COMMANDS[args.command].run(args)
        except BrokenPipeError:
            # The reader went away (``dejpeg models --json | head``): stop quietly. Python flushes stdout again at
            # exit, so point it at devnull first (https://docs.python.org/3/library/signal.html#note-on-sigpipe).
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        except (OSError, ValueError, RuntimeError) as err:  # bad input, missing or unreadable files, disk full
            print(f"dejpeg {args.command}: error: {err}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
