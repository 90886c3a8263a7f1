"""``dejpeg restore --ray`` on a local cluster this module starts: a head node and worker nodes, each a separate
``ray start`` process. Two one-CPU workers restore a folder to the bytes of a single-process fp32 run, and a node
killed mid-run loses no file and writes none twice."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from conftest import _natural_image
from ray_cluster import ENV, Cluster, local_cluster

from dejpeg.batch import DONE, MANIFEST_NAME
from dejpeg.cli.__main__ import main
from dejpeg.codec import encode
from dejpeg.distributed import DELAY_VARIABLE, actor_plan, ray_available
from dejpeg.files import TEMPORARY_NAME

needs_ray = pytest.mark.skipif(not ray_available(), reason='needs Ray: pip install "dejpeg[ray]"')

FILES = 12


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with local_cluster(head_cpus=1, workers=1) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Twelve small JPEGs, one gray, of a few sizes (none a multiple of 8 on both sides)."""
    folder = tmp_path_factory.mktemp("in")
    for i in range(FILES):
        image = _natural_image(40 + 3 * i, 56 - 2 * i, channels=1 if i == 5 else 3, seed=i)
        (folder / f"f{i:02d}.jpg").write_bytes(encode(image, quality=20))
    return folder


@pytest.fixture(scope="module")
def reference(folder, tmp_path_factory) -> Path:
    """The outputs of a single-process fp32 run with one thread, as each actor has (oneDNN's fp32 convolutions sum
    in an order that depends on the thread count: 1 pixel in 10^5 or so ends one grey level apart)."""
    out = tmp_path_factory.mktemp("reference")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["restore", str(folder), "-o", str(out), "--quiet", "--precision", "fp32"]) == 0
    finally:
        torch.set_num_threads(threads)
    return out


def _restore_on_ray(folder: Path, out: Path, address: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "dejpeg", "restore", str(folder), "-o", str(out), "--quiet"]
    command += ["--precision", "fp32", "--ray", address, "--ray-cpus", "1", "--ray-chunk", "2"]
    return subprocess.Popen(command, env=ENV, stderr=subprocess.PIPE, text=True)


def _finish(run: subprocess.Popen) -> str:
    """The run's stderr once it ended well (a hung run is killed, and its stderr shown)."""
    try:
        _, err = run.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        run.kill()
        pytest.fail(f"hung: {run.communicate()[1]}")
    assert run.returncode == 0, err
    return err


def _rows(out: Path) -> list[dict]:
    path = out / MANIFEST_NAME
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _restored_once_as(reference: Path, out: Path, rows: list[dict]) -> None:
    """Each file restored exactly once, to the reference's bytes, and the manifest saying so of the file as it is."""
    assert Counter(row["status"] for row in rows) == {"restored": FILES}
    assert len({row["input"] for row in rows}) == FILES
    assert sorted(p.name for p in out.iterdir()) == sorted([MANIFEST_NAME, *(p.name for p in reference.glob("*.png"))])
    for row in rows:
        output = out / row["output"]
        assert output.read_bytes() == (reference / row["output"]).read_bytes(), row["output"]
        assert (output.stat().st_size, output.stat().st_mtime_ns) == (row["output_size"], row["output_mtime_ns"])


def test_actors_split_each_live_nodes_cpus():
    nodes = [
        {"NodeID": "a", "Alive": True, "Resources": {"CPU": 10.0}},
        {"NodeID": "b", "Alive": True, "Resources": {"CPU": 2.0}},
        {"NodeID": "c", "Alive": False, "Resources": {"CPU": 4.0}},
        {"NodeID": "d", "Alive": True, "Resources": {"GPU": 1.0}},
    ]
    assert actor_plan(nodes, 4) == [("a", 5), ("a", 5), ("b", 2)]
    assert actor_plan(nodes, 1) == [("a", 1)] * 10 + [("b", 1)] * 2
    with pytest.raises(RuntimeError, match="no node with a CPU"):
        actor_plan(nodes[2:], 4)


def test_without_ray_the_command_says_what_to_install(folder, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("dejpeg.cli.restore.ray_available", lambda: False)
    assert main(["restore", str(folder), "-o", str(tmp_path / "out"), "--ray", "auto"]) == 2
    assert capsys.readouterr().err.strip().endswith('pip install "dejpeg[ray]"')
    assert not (tmp_path / "out").exists()


@needs_ray
@pytest.mark.slow
def test_two_workers_restore_the_bytes_of_one_process(cluster, folder, reference, tmp_path):
    out = tmp_path / "out"
    err = _finish(_restore_on_ray(folder, out, cluster.address))
    _restored_once_as(reference, out, _rows(out))
    per_node = err.split("files restored per node: ")[1].splitlines()[0].split(", ")
    assert len(per_node) == 2 and all(int(node.split()[1]) > 0 for node in per_node), err  # both nodes worked


def _held_temporaries(out: Path, age: float = 2.0) -> list[Path]:
    """Temporary outputs written more than ``age`` seconds ago and not yet renamed into place."""
    now, held = time.time(), []
    for path in out.iterdir():
        try:  # a fast actor's file may be renamed between the listing and the stat
            if TEMPORARY_NAME.fullmatch(path.name) and now - path.stat().st_mtime > age:
                held.append(path)
        except FileNotFoundError:
            pass
    return held


@needs_ray
@pytest.mark.slow
def test_a_node_killed_mid_run_loses_nothing_and_writes_nothing_twice(cluster, folder, reference, tmp_path):
    """A third node restores so slowly that it still holds its chunks when it is killed: the head and the other
    worker restore them, and a re-run has nothing left to do."""
    slow = cluster.start(env={DELAY_VARIABLE: "60"})
    out = tmp_path / "out"
    run = _restore_on_ray(folder, out, cluster.address)
    deadline = time.monotonic() + 120
    # Three actors, two chunks of two files each: the fast two finish 8 files; the slow one has written one and holds
    # it. The fast actors' temporary files live for milliseconds before the driver renames them: only the slow
    # node's is seconds old.
    while len(_rows(out)) < FILES - 4 or not _held_temporaries(out):
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()[1]
        time.sleep(0.1)
    (written_by_the_slow_node,) = _held_temporaries(out)
    cluster.kill(slow)
    err = _finish(run)
    assert "a Ray actor died; its files go to other actors" in err and "1 actor death(s)" in err
    assert not written_by_the_slow_node.exists()  # removed, not renamed into place
    rows = _rows(out)
    _restored_once_as(reference, out, rows)
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    _finish(_restore_on_ray(folder, out, cluster.address))
    assert [(row["status"], row["reason"]) for row in _rows(out)[len(rows) :]] == [("skipped", DONE)] * FILES
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name != MANIFEST_NAME} == {
        name: mtime for name, mtime in mtimes.items() if name != MANIFEST_NAME
    }
