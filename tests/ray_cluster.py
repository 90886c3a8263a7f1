"""A local Ray cluster for tests and benchmarks: each node a ``ray start --block`` process in a process group of its
own, so that a node can be killed as a whole, as a machine that dies; stopping it leaves no process behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import dejpeg

RAY = Path(sys.executable).with_name("ray")
SOURCE = str(Path(dejpeg.__file__).parents[1])
#: For the nodes and the drivers: dejpeg importable, whatever ~/.ray holds (a token there turns authentication on).
ENV = {**os.environ, "PYTHONPATH": SOURCE, "RAY_AUTH_MODE": "disabled"}


def pids_below(root: int) -> set[int]:
    """``root`` and every process descended from it (from /proc: Ray's workers leave their node's process group)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        try:
            parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (ValueError, OSError, IndexError):
            continue
    found, grew = {root}, True
    while grew:
        below = {pid for pid, parent in parents.items() if parent in found}
        grew = not below <= found
        found |= below
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Cluster:
    """Ray nodes started by ``ray start --block`` in process groups of their own, so that a node is killed as a
    whole."""

    def __init__(self, temp: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.temp = temp
        self.nodes: list[subprocess.Popen] = []
        self.processes: set[int] = set()

    def start(self, head: bool = False, cpus: int = 1, env: dict[str, str] | None = None) -> subprocess.Popen:
        """A node of ``cpus`` CPUs; returns once it has joined."""
        where = [f"--port={self.port}", "--include-dashboard=false", "--disable-usage-stats"] if head else []
        command = [str(RAY), "start", "--head" if head else f"--address={self.address}", *where, "--block"]
        command += [f"--num-cpus={cpus}", "--num-gpus=0", "--object-store-memory=100000000", f"--temp-dir={self.temp}"]
        command += ["--node-ip-address=127.0.0.1"]
        log = self.temp / f"node{len(self.nodes)}.log"  # a file, not a pipe: a full pipe would stall the node
        with log.open("w") as output:
            node = subprocess.Popen(
                command, env={**ENV, **(env or {})}, stdout=output, stderr=subprocess.STDOUT, preexec_fn=os.setpgrp
            )
        self.nodes.append(node)
        deadline = time.monotonic() + 60
        while "Ray runtime started" not in log.read_text():
            assert node.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        return node

    def kill(self, node: subprocess.Popen) -> None:
        """SIGKILL the node's processes at once, as a machine that dies."""
        self.processes |= pids_below(node.pid)
        os.killpg(node.pid, signal.SIGKILL)
        node.wait()

    def stop(self) -> None:
        """Kill every process of every node (nothing of the cluster is worth keeping), then check none is left."""
        for node in self.nodes:
            self.processes |= pids_below(node.pid)
        for pid in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for node in self.nodes:
            node.wait()
        deadline = time.monotonic() + 10
        while [pid for pid in self.processes if alive(pid)] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in self.processes if alive(pid)], "Ray processes left running"


@contextlib.contextmanager
def local_cluster(head_cpus: int, workers: int) -> Iterator[Cluster]:
    """A head node of ``head_cpus`` CPUs and ``workers`` worker nodes of one CPU, stopped on leaving."""
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # short: Ray's socket paths live below it
    cluster = Cluster(temp)
    try:
        cluster.start(head=True, cpus=head_cpus)
        for _ in range(workers):
            cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(temp, ignore_errors=True)
