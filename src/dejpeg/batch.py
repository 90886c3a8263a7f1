"""Restore a stream of files so that a batch survives interruption: a manifest of outcomes, resuming from it,
stopping cleanly on SIGINT/SIGTERM, and decoding and encoding in threads while the model runs.

The manifest (``dejpeg-manifest.jsonl`` in the output directory) is an append-only log: every run appends one
JSON row per input it meets, written before the output is renamed into place, so a kill at any point leaves no
output the manifest does not know. A re-run skips an input whose row says ``restored`` only after checking the
input's size and mtime, the output's size and mtime and the output's settings (quality, subsampling, bit depth)
against that row. What happens to other existing outputs is the run's ``existing`` policy (:data:`EXISTING`).
An output is never written over its own input, and an input that is an output of an earlier run (a JPEG written
beside the originals) is not restored again.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import json
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from dejpeg.api import _naming, decode_for_restore, restore_array
from dejpeg.codec import DecodedJpeg
from dejpeg.codec.images import OUTPUT_SUFFIXES, Encoding, encode_image
from dejpeg.files import TEMPORARY_NAME, atomic_write_bytes
from dejpeg.jpeg import JpegCoefficients
from dejpeg.jpeg.header import MAX_PIXELS

MANIFEST_NAME = "dejpeg-manifest.jsonl"
#: Exit codes of a run stopped by a signal, as a shell reports a process killed by it (128 + the number).
STOP_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
#: Reasons of ``skipped`` rows.
DONE = "restored before"
FAILED_BEFORE = "failed before (--retry-failed retries it)"
EXISTS = "exists (use --overwrite)"
KEPT = "exists (--skip-existing)"
EARLIER_OUTPUT = "an output of an earlier run"
#: What a run does with an output that exists already: "update" (the default) restores again the outputs the manifest
#: records whose input or settings changed since, and keeps every other; "skip" keeps every existing output, trusting
#: that it exists (no manifest needed); "overwrite" replaces them all.
EXISTING = ("update", "skip", "overwrite")
SLOWEST_SHOWN = 3


@dataclass(frozen=True)
class RestoreOptions:
    """How each file is restored and written (as for :func:`dejpeg.api.restore_file`)."""

    device: str = "cpu"
    consistency: bool = True
    precision: str = "auto"
    encoding: Encoding = Encoding()
    max_pixels: int | None = MAX_PIXELS
    strict: bool = False
    tile_progress: bool = False
    #: What else shapes the output (a model other than the default, a strength, no consistency step), recorded in
    #: the manifest with the encoding's settings so that a re-run with other ones redoes the outputs. Only
    #: non-default values: a manifest written before this field existed stays up to date for default runs.
    restoration: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Job:
    """One input to restore, with what its manifest row records of it."""

    source: Path
    target: Path
    #: The target's path in the manifest: below the output directory, so that the folder can move.
    output_name: str
    #: ``os.path.abspath`` of the source: the manifest's key, the same whatever the working directory.
    input_name: str
    size: int
    mtime_ns: int


def _settings_key(settings: dict[str, Any]) -> str:
    return json.dumps(settings, sort_keys=True)


def _fingerprint(*parts: object) -> int:
    """64 bits standing for a row's identity: a million finished files cost a set of ints, not of rows."""
    return int.from_bytes(hashlib.blake2b(json.dumps(parts).encode(), digest_size=8).digest(), "big")


class Manifest:
    """The append-only JSONL log of one output directory, or (``path`` None, one output file) no log at all.

    Only fingerprints of its ``restored`` and ``failed`` rows are kept in memory; a row cut short by a kill (the
    last line) is ignored.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._finished: set[int] = set()
        self._written: set[int] = set()
        self._failed: set[int] = set()
        self._lock = threading.Lock()
        self._file = None
        if path is None:
            return
        if path.exists():
            with path.open(encoding="utf-8") as lines:
                for line in lines:
                    with contextlib.suppress(ValueError, KeyError, TypeError):
                        self._remember(json.loads(line))
        self._file = path.open("a", encoding="utf-8")

    def _remember(self, row: dict[str, Any]) -> None:
        source = (row["input"], row["input_size"], row["input_mtime_ns"])
        if row["status"] == "restored":
            output = (row["output"], row["output_size"], row["output_mtime_ns"])
            settings = _settings_key(row.get("settings", {}))  # rows without are of 8-bit lossless outputs
            self._finished.add(_fingerprint(*source, *output, settings))
            self._written.add(_fingerprint(*output))
        elif row["status"] == "failed":
            self._failed.add(_fingerprint(*source))

    def finished(self, job: Job, output: os.stat_result, settings: dict[str, Any]) -> bool:
        """Whether a ``restored`` row matches the input as it is now, and the output as it is now written with
        ``settings`` (:meth:`dejpeg.codec.images.Encoding.settings`)."""
        key = (job.input_name, job.size, job.mtime_ns, job.output_name, output.st_size, output.st_mtime_ns)
        return _fingerprint(*key, _settings_key(settings)) in self._finished

    def written(self, name: str, size: int, mtime_ns: int) -> bool:
        """Whether a run wrote the output ``name`` (below the output directory) as it is now: replacing it loses
        nothing of anyone's, and restoring it again would restore a restoration."""
        return _fingerprint(name, size, mtime_ns) in self._written

    def failed_before(self, job: Job) -> bool:
        return _fingerprint(job.input_name, job.size, job.mtime_ns) in self._failed

    def append(self, row: dict[str, Any]) -> None:
        """One line, flushed at once: what a kill leaves is at most one cut line. Remembered too: a folder walked
        later in the run may hold its output."""
        if self._file is None:
            return
        with self._lock:
            self._file.write(json.dumps(row) + "\n")
            self._file.flush()
            self._remember(row)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


@dataclass
class Summary:
    """What a batch did; :meth:`lines` says it to a person."""

    restored: int = 0
    failed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    restored_pixels: int = 0
    seconds: float = 0.0
    #: The slowest restored files as (seconds, output name) (a bounded min-heap).
    slowest: list[tuple[float, str]] = field(default_factory=list)
    #: The signal that stopped the run, or None when it ran to the end.
    stopped_by: int | None = None

    def count(self, row: dict[str, Any]) -> None:
        if row["status"] == "restored":
            self.restored += 1
            self.restored_pixels += row["pixels"]
            heapq.heappush(self.slowest, (row["seconds"], row["output"]))
            if len(self.slowest) > SLOWEST_SHOWN:
                heapq.heappop(self.slowest)
        elif row["status"] == "failed":
            self.failed += 1
        else:
            self.skipped[row["reason"]] = self.skipped.get(row["reason"], 0) + 1

    @property
    def exit_code(self) -> int:
        """130 or 143 when stopped by SIGINT or SIGTERM, else 1 when a file failed, else 0 (skips are not errors)."""
        if self.stopped_by is not None:
            return STOP_CODES[self.stopped_by]
        return 1 if self.failed else 0

    def lines(self, destination: str) -> list[str]:
        total = self.restored + self.failed + sum(self.skipped.values())
        skipped = "".join(f", {count} skipped: {reason}" for reason, count in sorted(self.skipped.items()))
        lines = [f"restored {self.restored} of {total} image(s){skipped}, {self.failed} failed -> {destination}"]
        if self.restored:
            rate = self.restored_pixels / 1e6 / max(self.seconds, 1e-9)
            slowest = ", ".join(f"{name} ({seconds:.2f} s)" for seconds, name in sorted(self.slowest, reverse=True))
            lines.append(f"{rate:.3f} megapixels/s over {self.seconds:.1f} s; slowest: {slowest}")
        if self.stopped_by is not None:
            name = signal.Signals(self.stopped_by).name
            lines.append(f"stopped by {name}: run the same command again to continue where this run stopped")
        return lines


def remove_stale_temporaries(folder: Path, only_for: str | None = None) -> int:
    """Delete the temporary files an interrupted run left in ``folder`` (of outputs named ``only_for``, or of any
    output format); returns how many. Not safe while another run writes into the same folder."""
    removed = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            match = TEMPORARY_NAME.fullmatch(entry.name)
            if not match or not entry.is_file(follow_symlinks=False):
                continue
            name = match.group(1)
            if name == only_for or (only_for is None and os.path.splitext(name)[1].lower() in OUTPUT_SUFFIXES):
                Path(entry.path).unlink(missing_ok=True)
                removed += 1
    return removed


class Batch:
    """One run over ``(source, output path)`` pairs: the model in this thread, each file's reading, decoding,
    encoding and writing in ``workers`` threads, a few files ahead, so that outputs are those of
    :func:`dejpeg.api.restore_file` (the same functions run) in less time.

    ``output_root`` is the output directory (the manifest goes there), or None for a single output file.
    ``report(source, row)`` is called for every row (e.g. to print failures). ``existing`` says what to do with
    existing outputs (:data:`EXISTING`); inputs that failed before are retried only with ``retry_failed``.
    """

    def __init__(
        self,
        model: nn.Module,
        options: RestoreOptions,
        output_root: Path | None,
        existing: str = "update",
        retry_failed: bool = False,
        workers: int = min(4, os.cpu_count() or 1),
        report: Callable[[Path, dict[str, Any]], None] = lambda source, row: None,
    ) -> None:
        self.model = model
        self.options = options
        if existing not in EXISTING:
            raise ValueError(f"existing must be one of {list(EXISTING)}, got {existing!r}")
        self.output_root = output_root
        self.existing = existing
        self.retry_failed = retry_failed
        self.workers = max(1, workers)
        self.report = report
        self.summary = Summary()
        self.run_id = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self._ready_folders: set[Path] = set()
        self._write_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._targets_written: set[int] = set()  # fingerprints of the outputs this run wrote
        self._settings: dict[str, dict[str, Any]] = {}  # by output suffix

    def run(self, pairs: Iterable[tuple[Path, Path]]) -> Summary:
        """Restore every pair (or stop at SIGINT/SIGTERM after the files in hand); the summary says what happened."""
        started = time.perf_counter()
        manifest_path = None
        if self.output_root is not None:
            self.output_root.mkdir(parents=True, exist_ok=True)
            manifest_path = self.output_root / MANIFEST_NAME
        self.manifest = Manifest(manifest_path)
        try:
            with self._stop_on_signals():
                self._restore_jobs(self._jobs(pairs))
        finally:
            self.manifest.close()
            self.summary.seconds = time.perf_counter() - started
        return self.summary

    @contextlib.contextmanager
    def _stop_on_signals(self) -> Iterator[None]:
        """The first SIGINT or SIGTERM asks the run to stop after the files in hand; the handlers are then put back,
        so a second one stops it at once (atomic writes still leave no partial output)."""
        if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
            yield
            return
        previous = {signum: signal.getsignal(signum) for signum in STOP_CODES}

        def stop(signum: int, frame: object) -> None:
            self.summary.stopped_by = signum
            for number, handler in previous.items():
                signal.signal(number, handler)

        for signum in STOP_CODES:
            signal.signal(signum, stop)
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _restore_jobs(self, jobs: Iterable[Job]) -> None:
        """Restore the jobs in this process; where they run is what :class:`dejpeg.distributed.RayBatch` changes."""
        with ThreadPoolExecutor(self.workers, thread_name_prefix="dejpeg-io") as pool:
            self._pipeline(pool, jobs)

    def _pipeline(self, pool: ThreadPoolExecutor, jobs: Iterable[Job]) -> None:
        ahead: deque[tuple[Job, Future]] = deque()  # read and decoded (or being) while the model runs
        writes: deque[Future] = deque()
        for job in jobs:
            ahead.append((job, pool.submit(self._decode, job)))
            if len(ahead) > self.workers:
                self._restore(pool, *ahead.popleft(), writes)
            if self.summary.stopped_by is not None:
                break
        while ahead and self.summary.stopped_by is None:
            self._restore(pool, *ahead.popleft(), writes)
        for _, decoding in ahead:  # stopped: these are dropped, and a re-run does them
            decoding.cancel()
        for writing in writes:
            writing.result()

    def _jobs(self, pairs: Iterable[tuple[Path, Path]]) -> Iterator[Job]:
        """The files to restore; each skipped one gets its row here."""
        for source, target in pairs:
            if self.summary.stopped_by is not None:
                return
            self._prepare_folder(target)
            output_name = str(target.relative_to(self.output_root)) if self.output_root else target.name
            job = Job(source, target, output_name, os.path.abspath(source), -1, -1)
            try:
                stat = source.stat()
                job = Job(source, target, output_name, job.input_name, stat.st_size, stat.st_mtime_ns)
                reason = self._skip_reason(job)
            except (OSError, ValueError) as error:  # e.g. gone since the walk saw it
                self._fail(job, error, 0.0)
                continue
            if reason is None:
                yield job
            else:
                self._record(job, {"status": "skipped", "reason": reason})

    def _prepare_folder(self, target: Path) -> None:
        """Create the target's folder and, the first time this run meets it, clear what an interrupted run left."""
        folder = target.parent
        if folder in self._ready_folders:
            return
        folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(folder, None if self.output_root else target.name)
        self._ready_folders.add(folder)

    def _skip_reason(self, job: Job) -> str | None:
        """Why not to restore ``job`` (None: restore it); a ValueError for an output that is its input or that this
        run already wrote."""
        try:
            output = job.target.stat()
        except FileNotFoundError:
            output = None
        if output is not None and os.path.samestat(output, job.source.stat()):
            raise ValueError(f"refusing to overwrite the input with its restoration {job.target} (see --suffix)")
        if self._earlier_output(job):
            return EARLIER_OUTPUT
        if output is not None and self.manifest.finished(job, output, self.settings(job.target.suffix)):
            return DONE
        if not self.retry_failed and self.manifest.failed_before(job):
            return FAILED_BEFORE
        if output is not None:
            self._check_not_written_by_this_run(job)
            if self.existing == "skip":
                return KEPT
            ours = self.manifest.written(job.output_name, output.st_size, output.st_mtime_ns)
            if not (self.existing == "overwrite" or ours):  # ours: its input or settings changed since, redo it
                return EXISTS
        return None

    def settings(self, suffix: str) -> dict[str, Any]:
        """:meth:`dejpeg.codec.images.Encoding.settings` of the run's encoding and the restoration's non-default
        settings, once per suffix."""
        if suffix not in self._settings:
            self._settings[suffix] = {**self.options.encoding.settings(suffix), **dict(self.options.restoration)}
        return self._settings[suffix]

    def _earlier_output(self, job: Job) -> bool:
        """Whether the input is an output the manifest records as it is now: JPEGs written beside the originals
        would otherwise be restored again by the next run, into names of their own."""
        if self.output_root is None:
            return False
        below = os.path.relpath(job.input_name, os.path.abspath(self.output_root))
        return not below.startswith(os.pardir) and self.manifest.written(below, job.size, job.mtime_ns)

    def _check_not_written_by_this_run(self, job: Job) -> None:
        """Remembered, not read from mtimes: a file system's clock ticks too coarsely to tell a file written just
        before the run from one written by it."""
        if _fingerprint(str(job.target)) in self._targets_written:
            raise ValueError(f"another input of this run wrote {job.target} (two inputs share a file stem)")

    def _decode(self, job: Job) -> tuple[DecodedJpeg, JpegCoefficients | None, float]:
        started = time.perf_counter()
        with _naming(job.source):
            jpeg, coefficients = decode_for_restore(
                job.source,
                self.options.consistency,
                self.options.max_pixels,
                self.options.strict,
                "coefficients" in getattr(self.model, "side_info", ()),
            )
        return jpeg, coefficients, time.perf_counter() - started

    def _restore(self, pool: ThreadPoolExecutor, job: Job, decoding: Future, writes: deque[Future]) -> None:
        """Run the model on a decoded file (here, in the main thread) and hand the result to a writer."""
        started = time.perf_counter()
        try:
            jpeg, coefficients, seconds = decoding.result()
            started = time.perf_counter()
            with _naming(job.source):
                restored = restore_array(
                    jpeg.pixels,
                    jpeg.qtables,
                    self.model,
                    self.options.device,
                    coefficients=coefficients,
                    precision=self.options.precision,
                    progress=self.options.tile_progress,
                    consistency=self.options.consistency,
                    bit_depth=self.options.encoding.bit_depth,
                )
        except Exception as error:  # a bad file must not stop the batch: it gets a row, and the batch goes on
            self._fail(job, error, time.perf_counter() - started)
            return
        writes.append(pool.submit(self._write, job, restored, jpeg, seconds + time.perf_counter() - started))
        while len(writes) > self.workers:
            writes.popleft().result()

    def _write(self, job: Job, restored: np.ndarray, jpeg: DecodedJpeg, seconds: float) -> None:
        began = time.perf_counter() - seconds  # the file's clock: its row counts decoding and restoring too
        try:
            data = encode_image(restored, job.target.suffix, jpeg.exif, jpeg.icc_profile, self.options.encoding)
            self._store(job, data, int(restored.shape[0] * restored.shape[1]), began)
        except Exception as error:
            self._fail(job, error, time.perf_counter() - began)

    def _store(self, job: Job, data: bytes, pixels: int, began: float) -> None:
        """Write an encoded output into place, its row first: a kill after the rename leaves the row behind."""
        with self._writing(job):
            atomic_write_bytes(
                data,
                job.target,
                before_replace=lambda temporary: self._record_restored(
                    job, temporary, pixels, time.perf_counter() - began
                ),
            )

    @contextlib.contextmanager
    def _writing(self, job: Job) -> Iterator[None]:
        """Hold the write lock while checking that no other input of this run wrote the target, then writing it."""
        with self._write_lock:
            self._check_not_written_by_this_run(job)
            yield
            self._targets_written.add(_fingerprint(str(job.target)))

    def _record_restored(self, job: Job, temporary: Path, pixels: int, seconds: float) -> None:
        """The ``restored`` row of an output complete at ``temporary`` and about to be renamed (which keeps the
        mtime) to its target."""
        output = temporary.stat()
        self._record(
            job,
            {
                "status": "restored",
                "output_size": output.st_size,
                "output_mtime_ns": output.st_mtime_ns,
                "settings": self.settings(job.target.suffix),
                "pixels": pixels,
                "seconds": round(seconds, 4),
            },
        )

    def _fail(self, job: Job, error: Exception, seconds: float) -> None:
        why = str(error) if isinstance(error, ValueError) else f"{type(error).__name__}: {error}"
        why = why.removeprefix(f"{job.source}: ")  # the API's errors name the file; the row does already
        self._record(job, {"status": "failed", "error": why, "seconds": round(seconds, 4)})

    def _record(self, job: Job, outcome: dict[str, Any]) -> None:
        row = {
            "run": self.run_id,
            "input": job.input_name,
            "output": job.output_name,
            "input_size": job.size,
            "input_mtime_ns": job.mtime_ns,
            **outcome,
        }
        self.manifest.append(row)
        with self._count_lock:  # rows come from the main thread and the writers
            self.summary.count(row)
            self.report(job.source, row)
