"""The web app of ``dejpeg serve`` (Starlette): upload JPEGs, restore them one at a time in a worker thread,
compare and download the results.

Each upload gets a folder below the app's temporary folder, named by a random id; the uploaded file's name is
only shown and offered as the download's name (:func:`safe_name`), so no upload can name a path on disk. A file
is restored by :class:`dejpeg.batch.Batch` with the options ``dejpeg restore`` uses by default, so the result is
the file ``dejpeg restore UPLOAD -o RESULT.png`` writes, byte for byte.
"""

from __future__ import annotations

import contextlib
import queue
import re
import secrets
import shutil
import threading
import time
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from torch import nn

from dejpeg.batch import Batch, RestoreOptions
from dejpeg.files import atomic_write_bytes
from dejpeg.viewer.compare import compare
from dejpeg.viewer.page import app_page

#: Every JPEG starts with the SOI marker and the first byte of the next marker.
JPEG_MAGIC = b"\xff\xd8\xff"
UPLOAD, RESULT, BEFORE_VIEW, AFTER_VIEW = "upload.jpg", "restored.png", "before.png", "after.png"
MAX_NAME = 120


def safe_name(name: str) -> str:
    """What to call an upload: the last part of the name the browser gave, anything but letters, digits and
    ``.-_`` replaced by ``_`` (``../../etc/passwd`` -> ``passwd``), never empty or hidden."""
    last = re.split(r"[\\/]", name)[-1]
    cleaned = re.sub(r"[^\w.-]+", "_", last).strip("._-")
    return cleaned[-MAX_NAME:] or "image.jpg"


@dataclass
class Job:
    """One upload and its restoration; ``status``: queued, restoring, done or failed."""

    id: str
    name: str
    folder: Path
    status: str = "queued"
    error: str | None = None
    started: float = 0.0
    seconds: float = 0.0
    #: :meth:`dejpeg.viewer.Comparison.summary` of the result, once done.
    comparison: dict[str, Any] | None = None

    @property
    def result_name(self) -> str:
        """The download's name: the upload's, with the suffix of the output format."""
        return Path(self.name).stem + Path(RESULT).suffix


class Restorer:
    """The uploads, and the thread that restores them in turn (one model, one image at a time: the model already
    uses every core)."""

    def __init__(self, model: nn.Module, model_name: str, folder: Path) -> None:
        self.model = model
        self.model_name = model_name
        self.folder = folder
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="dejpeg-restore", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Drop the queued uploads, and wait for the one being restored (so that nothing writes into the folder
        once this returns)."""
        with self._lock:
            for job in self.jobs.values():
                if job.status == "queued":
                    job.status, job.error = "failed", "the server stopped"
        self._queue.put(None)
        self._thread.join()

    def new_job(self, name: str) -> Job:
        job = Job(secrets.token_hex(8), safe_name(name), Path())
        job.folder = self.folder / job.id
        job.folder.mkdir()
        return job

    def submit(self, job: Job) -> None:
        with self._lock:
            self.jobs[job.id] = job
        self._queue.put(job)

    def state(self, job: Job) -> dict[str, Any]:
        """What the page shows of a job (JSON); ``ahead``: how many uploads before it are still to finish."""
        with self._lock:
            ahead = 0
            for other in self.jobs.values():
                if other is job:
                    break
                ahead += other.status in ("queued", "restoring")
            return {
                "id": job.id,
                "name": job.name,
                "status": job.status,
                "ahead": ahead if job.status == "queued" else 0,
                "seconds": time.monotonic() - job.started if job.status == "restoring" else job.seconds,
                "error": job.error,
                "result_name": job.result_name,
                "comparison": job.comparison,
            }

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            with self._lock:
                if job.status != "queued":
                    continue
                job.status, job.started = "restoring", time.monotonic()
            try:
                comparison = self._restore(job)
            except Exception as error:  # a bad upload must not stop the app: its job says why
                status, comparison, message = "failed", None, str(error) or type(error).__name__
            else:
                status, message = "done", None
            with self._lock:
                job.status, job.error, job.comparison = status, message, comparison
                job.seconds = time.monotonic() - job.started

    def _restore(self, job: Job) -> dict[str, Any]:
        """Restore as ``dejpeg restore UPLOAD -o RESULT.png`` does, then write the two images the viewer shows."""
        rows: list[dict[str, Any]] = []
        batch = Batch(self.model, RestoreOptions(), None, report=lambda source, row: rows.append(row))
        batch.run([(job.folder / UPLOAD, job.folder / RESULT)])
        if rows[-1]["status"] != "restored":
            raise ValueError(rows[-1].get("error") or rows[-1]["reason"])
        comparison = compare(job.folder / UPLOAD, restored=job.folder / RESULT)
        before, after = comparison.view_pngs()
        atomic_write_bytes(before, job.folder / BEFORE_VIEW)
        atomic_write_bytes(after, job.folder / AFTER_VIEW)
        return {**comparison.summary(), "name": job.name, "restored_by": self.model_name}


def _refuse(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(model: nn.Module, model_name: str, folder: Path, max_bytes: int) -> Starlette:
    """The app, writing only below ``folder`` (which the caller creates and removes); uploads over ``max_bytes``
    or not starting as a JPEG does are refused with a message."""
    restorer = Restorer(model, model_name, folder)
    page = app_page(model_name, max_bytes)
    limit = f"the limit is {max_bytes / 1e6:g} MB"

    async def index(request: Request) -> Response:
        return HTMLResponse(page)

    async def upload(request: Request) -> Response:
        name = safe_name(request.query_params.get("name", ""))
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            return _refuse(413, f"{name}: {int(declared) / 1e6:.1f} MB, {limit}")
        job = restorer.new_job(name)
        size, head = 0, b""
        with (job.folder / UPLOAD).open("wb") as file:
            async for chunk in request.stream():
                size += len(chunk)
                head += chunk[: len(JPEG_MAGIC) - len(head)]
                if size > max_bytes or (len(head) == len(JPEG_MAGIC) and head != JPEG_MAGIC):
                    break
                file.write(chunk)
        problem = None
        if size > max_bytes:
            problem = (413, f"{name}: over {max_bytes / 1e6:g} MB, {limit}")
        elif head != JPEG_MAGIC:
            problem = (415, f"{name} is not a JPEG file (it does not start with a JPEG marker)")
        if problem is not None:
            shutil.rmtree(job.folder)
            return _refuse(*problem)
        restorer.submit(job)
        return JSONResponse(restorer.state(job), status_code=201)

    def find(request: Request, done: bool = False) -> Job | None:
        job = restorer.jobs.get(request.path_params["id"])
        return None if job is None or (done and job.status != "done") else job

    async def status(request: Request) -> Response:
        job = find(request)
        return _refuse(404, "no such upload") if job is None else JSONResponse(restorer.state(job))

    async def result(request: Request) -> Response:
        job = find(request, done=True)
        if job is None:
            return _refuse(404, "no such restored image")
        return FileResponse(job.folder / RESULT, media_type="image/png", filename=job.result_name)

    def view(image: str) -> Callable[[Request], Awaitable[Response]]:
        async def send(request: Request) -> Response:
            job = find(request, done=True)
            if job is None:
                return _refuse(404, "no such restored image")
            return FileResponse(job.folder / image, media_type="image/png")

        return send

    async def archive(request: Request) -> Response:
        """The results named by ``?ids=a,b`` in one zip (stored, not deflated: PNGs are compressed already)."""
        jobs = [job for i in request.query_params.get("ids", "").split(",") if (job := restorer.jobs.get(i))]
        jobs = [job for job in jobs if job.status == "done"]
        if not jobs:
            return _refuse(404, "none of these images is restored")
        path = folder / f"results-{secrets.token_hex(8)}.zip"
        names: set[str] = set()
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as bundle:
            for job in jobs:
                name, count = job.result_name, 1
                while name in names:  # two uploads of one name: photo.png, photo-2.png
                    count += 1
                    name = f"{Path(job.result_name).stem}-{count}{Path(job.result_name).suffix}"
                names.add(name)
                bundle.write(job.folder / RESULT, name)
        cleanup = BackgroundTask(path.unlink, missing_ok=True)
        return FileResponse(path, media_type="application/zip", filename="dejpeg-restored.zip", background=cleanup)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        restorer.start()
        try:
            yield
        finally:
            restorer.stop()

    routes = [
        Route("/", index),
        Route("/api/jobs", upload, methods=["POST"]),
        Route("/api/jobs/{id}", status),
        Route("/api/jobs/{id}/result", result),
        Route(f"/api/jobs/{{id}}/{BEFORE_VIEW}", view(BEFORE_VIEW)),
        Route(f"/api/jobs/{{id}}/{AFTER_VIEW}", view(AFTER_VIEW)),
        Route("/api/zip", archive),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.restorer = restorer
    return app
