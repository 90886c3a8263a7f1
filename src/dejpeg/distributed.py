"""Restore a batch on a Ray cluster (``dejpeg restore --ray``), when one machine is not enough.

The driver walks the inputs, keeps the manifest and decides what to skip exactly as :class:`dejpeg.batch.Batch`
does. Actors, each holding the model and a few CPUs, restore chunks of files with the same pipeline and write each
output complete to a temporary file beside its target (on the file system all nodes share); the driver writes the
row and renames the file into place, as a single-process run does. So an actor killed at any point leaves at most
temporary files, which the driver removes, and its unfinished chunks go to the other actors: nothing is lost, and
no output is written twice. Outputs are those of a single-process run (the same functions run on each file).

Ray is an optional dependency (``pip install "dejpeg[ray]"``), imported only when a run asks for it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import logging
import os
import tempfile
import time
import warnings
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from dejpeg.batch import Batch, Job, RestoreOptions, remove_stale_temporaries
from dejpeg.files import _UMASK

RAY_MISSING = '--ray needs Ray, which is not installed: pip install "dejpeg[ray]"'
#: Chunks handed to an actor at a time: one to restore and one waiting, so it never idles while the driver commits.
IN_FLIGHT = 2
#: How often the driver replaces a dead actor (on any node with free CPUs) before the run does without it. The
#: driver does it rather than Ray (``max_restarts``), which warns of the model's reference in every actor's arguments.
MAX_RESTARTS = 3
#: How long the driver waits for every actor to load the model before handing out work to those that have (the
#: others join when they have; some never do, e.g. those meant for a node that died but is not yet known dead).
START_SECONDS = 20.0
#: How long the driver waits for an actor to (re)start while none is alive, before giving up.
NO_ACTOR_SECONDS = 300.0
#: Seconds an actor sleeps after writing each file: lets tests kill a node while it holds unfinished files.
DELAY_VARIABLE = "DEJPEG_RAY_FILE_DELAY"


def ray_available() -> bool:
    """Whether Ray can be imported, without importing it (``import dejpeg`` never needs Ray)."""
    return importlib.util.find_spec("ray") is not None


def _ray() -> ModuleType:
    if not ray_available():
        raise RuntimeError(RAY_MISSING)
    import ray

    return ray


@contextlib.contextmanager
def ray_cluster(address: str) -> Iterator[None]:
    """Join the Ray cluster at ``address`` for the ``with`` block: "auto" (the cluster this machine belongs to:
    ``RAY_ADDRESS`` or the one ``ray start`` made here), "local" (a cluster started here, on this machine's CPUs),
    ``HOST:PORT`` of a head node, or ``ray://HOST:PORT`` (Ray Client). A program that already called ``ray.init``
    keeps its connection."""
    ray = _ray()
    if ray.is_initialized():
        yield
        return
    if address == "local":
        ray.init(include_dashboard=False, logging_level=logging.WARNING)
    else:
        ray.init(address=address, logging_level=logging.WARNING)
    try:
        yield
    finally:
        ray.shutdown()


def _write_temporary(data: bytes, target: Path) -> Path:
    """The first half of :func:`dejpeg.files.atomic_write_bytes`, done on an actor: the complete file, named as
    :data:`dejpeg.files.TEMPORARY_NAME` matches, so that cleanup finds it if the driver never renames it."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.chmod(name, 0o666 & ~_UMASK)  # mkstemp makes 0600
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


class _TemporaryOutputs(Batch):
    """The batch pipeline inside an actor: outputs go to temporary files and outcomes to :attr:`outcomes`, for
    the driver to commit; no manifest, no signals (the driver has those)."""

    def __init__(self, model: nn.Module, options: RestoreOptions, workers: int) -> None:
        super().__init__(model, options, None, workers=workers)
        self.outcomes: list[tuple[Job, dict[str, Any]]] = []
        self.delay = float(os.environ.get(DELAY_VARIABLE, "0"))

    def _store(self, job: Job, data: bytes, pixels: int, began: float) -> None:
        temporary = _write_temporary(data, job.target)
        outcome = {"status": "written", "temporary": str(temporary), "pixels": pixels}
        self.outcomes.append((job, {**outcome, "seconds": time.perf_counter() - began}))
        time.sleep(self.delay)

    def _record(self, job: Job, outcome: dict[str, Any]) -> None:
        self.outcomes.append((job, outcome))


class RestoreActor:
    """A Ray actor: the model, loaded once, and ``cpus`` threads for it (and as many for decoding and encoding)."""

    def __init__(self, model: nn.Module, options: RestoreOptions, cpus: int) -> None:
        torch.set_num_threads(cpus)
        self.batch = _TemporaryOutputs(model.to(options.device).eval(), options, cpus)

    def ready(self) -> None:
        """Returns once the actor is constructed: the driver hands out work to actors that hold the model."""

    def restore(self, jobs: list[Job]) -> tuple[str, list[tuple[Job, dict[str, Any]]]]:
        """This node's id, and each job's outcome: written to a temporary file (``written``) or ``failed``, as a
        batch row says."""
        import ray

        self.batch.outcomes = []
        self.batch._restore_jobs(jobs)
        return ray.get_runtime_context().get_node_id(), self.batch.outcomes


def actor_plan(nodes: list[dict[str, Any]], cpus_per_actor: int) -> list[tuple[str, int]]:
    """(node id, CPUs) of each actor: each live node's CPUs split evenly among as many actors as hold about
    ``cpus_per_actor`` (at least one, so no CPU idles). ``nodes`` as ``ray.nodes()`` lists them."""
    plan = []
    for node in nodes:
        cpus = int(node["Resources"].get("CPU", 0)) if node["Alive"] else 0
        if cpus:
            count = max(1, cpus // cpus_per_actor)
            plan += [(node["NodeID"], cpus // count)] * count
    if not plan:
        raise RuntimeError("the Ray cluster has no node with a CPU")
    return plan


def _chunks(jobs: Iterable[Job], size: int) -> Iterator[list[Job]]:
    iterator = iter(jobs)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


class RayBatch(Batch):
    """A :class:`dejpeg.batch.Batch` whose files Ray actors restore, ``chunk`` at a time, inside
    :func:`ray_cluster`. Every node must see the inputs and outputs at the same paths as the driver."""

    def __init__(
        self,
        model: nn.Module,
        options: RestoreOptions,
        output_root: Path | None,
        existing: str = "update",
        retry_failed: bool = False,
        cpus_per_actor: int = 4,
        chunk: int = 4,
        report: Callable[[Path, dict[str, Any]], None] = lambda source, row: None,
    ) -> None:
        super().__init__(model, options, output_root, existing, retry_failed, 1, report)
        self.cpus_per_actor = cpus_per_actor
        self.chunk = chunk
        #: Outputs whose actor died holding them: their temporary files are removed once the run is over.
        self.lost: set[Path] = set()
        #: The CPUs of each actor started.
        self.actor_cpus: list[int] = []
        self.deaths = 0
        #: Files restored per Ray node id.
        self.restored_by_node: Counter[str] = Counter()

    def _restore_jobs(self, jobs: Iterable[Job]) -> None:
        chunks = _chunks(jobs, self.chunk)
        first = next(chunks, None)
        if first is None:  # everything skipped (a re-run of a finished batch): no actor to start
            return
        ray = _ray()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        plan = actor_plan(ray.nodes(), self.cpus_per_actor)
        model = ray.put(self.model)  # once: every actor of a node reads the same copy
        remote = ray.remote(RestoreActor)

        def start(index: int) -> Any:
            node, cpus = plan[index]
            where = NodeAffinitySchedulingStrategy(node, soft=True)  # soft: a replacement may go anywhere
            return remote.options(num_cpus=cpus, scheduling_strategy=where).remote(model, self.options, cpus)

        actors = [start(index) for index in range(len(plan))]
        self.actor_cpus = [cpus for _, cpus in plan]
        try:
            self._dispatch(ray, actors, start, itertools.chain([first], chunks))
        finally:
            for actor in actors:
                ray.kill(actor, no_restart=True)
            for target in self.lost:  # every lost file was redone elsewhere: what is left is the dead actors'
                remove_stale_temporaries(target.parent, target.name)

    def _dispatch(
        self, ray: ModuleType, actors: list[Any], start: Callable[[int], Any], chunks: Iterator[list[Job]]
    ) -> None:
        """Keep IN_FLIGHT chunks on each live actor, commit what comes back, re-queue a dead actor's chunks and
        replace it (``start(index)``: a new ``actors[index]``)."""
        from ray.exceptions import RayActorError, RayError

        starting = {actor.ready.remote(): index for index, actor in enumerate(actors)}
        ray.wait(list(starting), num_returns=len(starting), timeout=START_SECONDS)  # then all start with work
        live: set[int] = set()
        running: dict[Any, tuple[int, Any, list[Job]]] = {}  # reference -> (index, actor, chunk)
        restarts = [0] * len(actors)
        requeued: deque[list[Job]] = deque()
        more = True
        last_error: Exception | None = None

        def take() -> list[Job] | None:
            nonlocal more
            if requeued:
                return requeued.popleft()
            chunk = next(chunks, None) if more else None
            more = chunk is not None
            return chunk

        while True:
            for ref in ray.wait(list(starting), num_returns=len(starting), timeout=0)[0] if starting else []:
                index = starting.pop(ref)
                try:
                    ray.get(ref)
                    live.add(index)
                except RayError as error:  # it could not start: the run goes without it
                    last_error = error
            for index in live:
                in_flight = sum(actor is actors[index] for _, actor, _ in running.values())
                while in_flight < IN_FLIGHT and self.summary.stopped_by is None and (chunk := take()):
                    running[actors[index].restore.remote(chunk)] = (index, actors[index], chunk)
                    in_flight += 1
            if not running and (self.summary.stopped_by is not None or not (more or requeued)):
                return
            if not (running or starting):
                raise RuntimeError(f"every Ray actor died (the last error: {last_error})")
            done, _ = ray.wait([*running, *starting], num_returns=1, timeout=None if running else NO_ACTOR_SECONDS)
            if not done:
                raise RuntimeError(f"no Ray actor alive for {NO_ACTOR_SECONDS:.0f} s (the last error: {last_error})")
            if done[0] not in running:
                continue  # an actor (re)started: taken in at the top
            index, actor, chunk = running.pop(done[0])
            try:
                node, outcomes = ray.get(done[0])
            except RayActorError as error:
                last_error = error
                requeued.append(chunk)
                self.lost.update(job.target for job in chunk)
                if index in live and actor is actors[index]:  # its other chunk in flight fails too: count it once
                    live.remove(index)
                    self.deaths += 1
                    if restarts[index] < MAX_RESTARTS:
                        restarts[index] += 1
                        ray.kill(actor, no_restart=True)
                        actors[index] = start(index)
                        starting[actors[index].ready.remote()] = index
                    warnings.warn(f"a Ray actor died; its files go to other actors: {_first_line(error)}", stacklevel=2)
                continue
            except RayError as error:  # not a death: an error in the actor's code, which a retry would repeat
                failed = {"status": "failed", "error": _first_line(error), "seconds": 0}
                node, outcomes = "", [(job, failed) for job in chunk]
            for job, outcome in outcomes:
                if outcome["status"] != "written":
                    self._record(job, outcome)
                elif self._commit(job, Path(outcome["temporary"]), outcome["pixels"], outcome["seconds"]):
                    self.restored_by_node[node] += 1

    def _commit(self, job: Job, temporary: Path, pixels: int, seconds: float) -> bool:
        """Rename into place an output an actor wrote to ``temporary``, row first, as :meth:`Batch._store` does;
        whether it was."""
        try:
            with self._writing(job):
                self._record_restored(job, temporary, pixels, seconds)
                os.replace(temporary, job.target)
            return True
        except Exception as error:
            temporary.unlink(missing_ok=True)
            self._fail(job, error, seconds)
            return False

    def lines(self) -> list[str]:
        """What the cluster did, for a person (after :meth:`dejpeg.batch.Summary.lines`)."""
        if not self.actor_cpus:  # nothing was left to restore
            return []
        per_node = ", ".join(f"{node[:8]} {count}" for node, count in sorted(self.restored_by_node.items())) or "none"
        sizes = "/".join(str(cpus) for cpus in sorted(set(self.actor_cpus)))
        lines = [f"on Ray: {len(self.actor_cpus)} actor(s) of {sizes} CPU(s); files restored per node: {per_node}"]
        if self.deaths:
            lines.append(f"{self.deaths} actor death(s): their unfinished files were restored by other actors")
        return lines


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
