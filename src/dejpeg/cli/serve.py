"""``dejpeg serve``: a web app on this computer to drop JPEGs on, compare and download their restorations."""

from __future__ import annotations

import argparse
import ipaddress
import signal
import socket
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from dejpeg.api import load_model
from dejpeg.cli._inputs import MODEL_HELP, add_strength_option, int_in_range
from dejpeg.models import resolve_precision
from dejpeg.viewer import SERVE_MISSING, serve_available
from dejpeg.viewer.compare import model_label

if TYPE_CHECKING:
    import uvicorn


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help='a local web app: drop JPEGs, compare and download the restorations (pip install "dejpeg[serve]")',
        description="Serve a web page where JPEGs are dropped, restored one at a time (as dejpeg restore writes "
        "them), compared with a before/after slider and downloaded, singly or as a zip. Uploads and results live in "
        "a temporary folder, removed when the server stops (Ctrl-C).",
    )
    p.add_argument(
        "--port",
        type=int_in_range(0, 65535),
        default=8000,
        metavar="PORT",
        help="TCP port (default 8000; 0: any free one)",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this computer only; 0.0.0.0 lets anyone on the network upload)",
    )
    p.add_argument("--model", default=None, help=MODEL_HELP)
    add_strength_option(p)
    p.add_argument(
        "--max-mb",
        type=int_in_range(1, 10_000),
        default=50,
        metavar="MB",
        help="refuse uploads over this many MB (default 50)",
    )


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (an address in use is a one-line error, and port 0 picks a free one)."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:  # a host name, such as localhost
        family = socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as error:
        raise OSError(f"cannot listen on {host}:{port}: {error.strerror or error}") from error


def run(args: argparse.Namespace) -> int:
    if not serve_available():
        raise RuntimeError(SERVE_MISSING)
    import uvicorn

    from dejpeg.viewer.server import create_app

    model = load_model(args.model, "cpu", args.strength)  # an unknown model fails here, before the port is taken
    resolve_precision(model, "cpu", "auto")
    sock = listening_socket(args.host, args.port)
    with sock, tempfile.TemporaryDirectory(prefix="dejpeg-serve-") as folder:
        app = create_app(model, model_label(args.model, args.strength), Path(folder), args.max_mb * 1_000_000)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
        host, port = sock.getsockname()[:2]
        url_host = f"[{host}]" if ":" in host else host
        print(f"dejpeg serve: http://{url_host}:{port}/ (Ctrl-C stops it)", flush=True)
        if not ipaddress.ip_address(host).is_loopback:
            print(f"dejpeg serve: anyone who can reach {host}:{port} can upload files", file=sys.stderr, flush=True)
        _run_until_stopped(server, sock)
    print("dejpeg serve: stopped, and removed the uploads and their results", file=sys.stderr)
    return 0


def _run_until_stopped(server: uvicorn.Server, sock: socket.socket) -> None:
    """Serve until Ctrl-C or SIGTERM. uvicorn shuts down gracefully, then raises the signal again for the handler it
    found; that handler is this one, which lets the temporary folder be removed (the default would kill the process
    first, or print a traceback)."""
    previous = {signum: signal.signal(signum, lambda number, frame: None) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run(sockets=[sock])
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
