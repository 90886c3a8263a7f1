"""``dejpeg serve``: the app on a real socket (uvicorn in a thread; HTTP by urllib), the command itself in a
subprocess, and the page in a real headless Chromium (tests/browser.py): results byte-identical to ``dejpeg
restore``, refusals, names that try to leave the temporary folder, the zip, the folder removed at exit."""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from browser import browser_missing, chromium, console_errors
from PIL import Image

from dejpeg.cli.__main__ import main
from dejpeg.codec import encode
from dejpeg.viewer import SERVE_MISSING, serve_available

needs_serve = pytest.mark.skipif(not serve_available(), reason=SERVE_MISSING)
needs_browser = pytest.mark.skipif(browser_missing() is not None, reason=str(browser_missing()))
SRC = Path(__file__).resolve().parents[1] / "src"
SIZE = (48, 64)  # height, width: each restores in well under a second


@contextlib.contextmanager
def running_app(folder: Path, max_bytes: int = 1_000_000, strength: float | None = None) -> Iterator[str]:
    """The app of ``dejpeg serve`` (default model, at ``strength``) on a free local port, writing below ``folder``;
    its URL."""
    import uvicorn

    from dejpeg.api import load_model
    from dejpeg.cli.serve import listening_socket
    from dejpeg.viewer.server import create_app

    app = create_app(load_model(None, "cpu", strength), "the default model", folder, max_bytes)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    with listening_socket("127.0.0.1", 0) as sock:
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            assert thread.is_alive(), "the server did not start"
            time.sleep(0.02)
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            server.should_exit = True
            thread.join(30)


def fetch(url: str, data: bytes | None = None) -> tuple[int, bytes, Any]:
    """Status, body and headers of a GET (or, with ``data``, a POST of those bytes)."""
    request = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.read(), answer.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers


def upload(base: str, name: str, data: bytes) -> tuple[int, dict[str, Any]]:
    status, body, _ = fetch(f"{base}/api/jobs?{urllib.parse.urlencode({'name': name})}", data)
    return status, json.loads(body)


def finished(base: str, job_id: str) -> dict[str, Any]:
    for _ in range(600):
        state = json.loads(fetch(f"{base}/api/jobs/{job_id}")[1])
        if state["status"] in ("done", "failed"):
            return state
        time.sleep(0.1)
    raise AssertionError(f"upload {job_id} not finished after a minute")


@pytest.fixture
def jpegs(tmp_path, natural_image) -> dict[str, Path]:
    """A colour and a gray JPEG, 64x48, at quality 20."""
    folder = tmp_path / "jpegs"
    folder.mkdir()
    paths = {"colour": folder / "photo.jpg", "gray": folder / "scan.jpg"}
    paths["colour"].write_bytes(encode(natural_image(*SIZE), quality=20))
    paths["gray"].write_bytes(encode(natural_image(*SIZE, channels=1, seed=1), quality=20))
    return paths


def restored_by_cli(jpeg: Path, out: Path, *options: str) -> bytes:
    assert main(["restore", str(jpeg), "-o", str(out), "--quiet", *options]) == 0
    return out.read_bytes()


@needs_serve
def test_results_are_the_files_dejpeg_restore_writes(jpegs, tmp_path):
    folder = tmp_path / "app"
    folder.mkdir()
    with running_app(folder) as base:
        for kind, jpeg in jpegs.items():
            status, job = upload(base, jpeg.name, jpeg.read_bytes())
            assert status == 201 and job["name"] == jpeg.name
            state = finished(base, job["id"])
            assert state["status"] == "done", state["error"]
            assert state["comparison"]["quality"] == 20 and (
                state["comparison"]["width"],
                state["comparison"]["height"],
            ) == (64, 48)
            status, body, headers = fetch(f"{base}/api/jobs/{job['id']}/result")
            assert status == 200 and headers["content-disposition"] == f'attachment; filename="{jpeg.stem}.png"'
            assert body == restored_by_cli(jpeg, tmp_path / f"{kind}.png")
            before = np.asarray(Image.open(io.BytesIO(fetch(f"{base}/api/jobs/{job['id']}/before.png")[1])))
            assert before.shape == ((48, 64, 3) if kind == "colour" else (48, 64))


@needs_serve
def test_results_at_a_strength_are_those_of_dejpeg_restore_at_that_strength(jpegs, tmp_path):
    folder = tmp_path / "app"
    folder.mkdir()
    with running_app(folder, strength=0.75) as base:
        job = upload(base, "photo.jpg", jpegs["colour"].read_bytes())[1]
        assert finished(base, job["id"])["status"] == "done"
        body = fetch(f"{base}/api/jobs/{job['id']}/result")[1]
    assert body == restored_by_cli(jpegs["colour"], tmp_path / "strong.png", "--strength", "strong")
    assert body != restored_by_cli(jpegs["colour"], tmp_path / "default.png")


@needs_serve
def test_refuses_what_is_not_a_jpeg_or_too_large_and_keeps_nothing(jpegs, tmp_path):
    folder = tmp_path / "app"
    folder.mkdir()
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, format="PNG")
    data = jpegs["colour"].read_bytes()
    with running_app(folder, max_bytes=len(data) - 1) as base:
        assert upload(base, "photo.jpg", png.getvalue()) == (
            415,
            {"error": "photo.jpg is not a JPEG file (it does not start with a JPEG marker)"},
        )
        status, answer = upload(base, "big.jpg", data)
        assert status == 413 and answer["error"].startswith("big.jpg: ") and "the limit is" in answer["error"]
        # Sent in chunks, without a declared length: refused once the bytes received pass the limit.
        connection = http.client.HTTPConnection(urllib.parse.urlsplit(base).netloc, timeout=60)
        connection.request("POST", "/api/jobs?name=big.jpg", body=iter([data[:1000], data[1000:]]), encode_chunked=True)
        answer = connection.getresponse()
        assert answer.status == 413 and json.loads(answer.read())["error"].startswith("big.jpg: over ")
        connection.close()
        assert list(folder.iterdir()) == []


@needs_serve
def test_upload_names_cannot_reach_outside_the_folder(jpegs, tmp_path):
    folder = tmp_path / "app"
    folder.mkdir()
    around = sorted(tmp_path.rglob("*"))
    names = {"../../evil.jpg": "evil.jpg", "..\\..\\evil.jpg": "evil.jpg", "/etc/passwd": "passwd", "..": "image.jpg"}
    with running_app(folder) as base:
        for name, expected in names.items():
            status, job = upload(base, name, jpegs["colour"].read_bytes())
            assert status == 201 and job["name"] == expected
            assert finished(base, job["id"])["status"] == "done"
            disposition = fetch(f"{base}/api/jobs/{job['id']}/result")[2]["content-disposition"]
            assert disposition == f'attachment; filename="{Path(expected).stem}.png"'
        assert fetch(f"{base}/api/jobs/..%2F..%2Fjpegs/result")[0] == 404
    written = sorted(set(tmp_path.rglob("*")) - set(around))
    assert written and all(path.is_relative_to(folder) for path in written)
    assert {path.name for path in written if path.is_file()} == {
        "upload.jpg",
        "restored.png",
        "before.png",
        "after.png",
    }


@needs_serve
def test_a_corrupt_jpeg_fails_with_a_reason_and_the_app_goes_on(jpegs, tmp_path):
    folder = tmp_path / "app"
    folder.mkdir()
    with running_app(folder) as base:
        bad = upload(base, "bad.jpg", b"\xff\xd8\xff\xe0 and then nothing a JPEG needs")[1]
        good = upload(base, "photo.jpg", jpegs["colour"].read_bytes())[1]
        state = finished(base, bad["id"])
        assert state["status"] == "failed" and state["error"]
        assert finished(base, good["id"])["status"] == "done"
        assert fetch(f"{base}/api/jobs/{bad['id']}/result")[0] == 404


@needs_serve
def test_zip_holds_every_result_under_its_own_name(jpegs, tmp_path):
    folder = tmp_path / "app"
    folder.mkdir()
    with running_app(folder) as base:
        jobs = [upload(base, "photo.jpg", jpegs[kind].read_bytes())[1]["id"] for kind in ("colour", "gray")]
        for job_id in jobs:
            assert finished(base, job_id)["status"] == "done"
        status, body, headers = fetch(f"{base}/api/zip?ids={','.join(jobs)}")
        assert status == 200 and headers["content-disposition"] == 'attachment; filename="dejpeg-restored.zip"'
        with zipfile.ZipFile(io.BytesIO(body)) as bundle:
            assert bundle.namelist() == ["photo.png", "photo-2.png"]
            assert bundle.read("photo.png") == restored_by_cli(jpegs["colour"], tmp_path / "colour.png")
            assert bundle.read("photo-2.png") == restored_by_cli(jpegs["gray"], tmp_path / "gray.png")
        assert not list(folder.glob("*.zip"))  # removed once sent
        assert fetch(f"{base}/api/zip?ids=nothing")[0] == 404


def test_serve_without_its_extra_is_a_one_line_error(monkeypatch, capsys):
    monkeypatch.setattr("dejpeg.cli.serve.serve_available", lambda: False)
    assert main(["serve"]) == 2
    assert capsys.readouterr().err == f"dejpeg serve: error: {SERVE_MISSING}\n"


@needs_serve
def test_a_port_in_use_is_a_one_line_error(capsys):
    from dejpeg.cli.serve import listening_socket

    with listening_socket("127.0.0.1", 0) as taken:
        port = taken.getsockname()[1]
        taken.listen()
        assert main(["serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"dejpeg serve: error: cannot listen on 127.0.0.1:{port}: ") and err.count("\n") == 1


@needs_serve
@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serve_command_removes_its_temporary_folder_when_stopped(jpegs, tmp_path, stop):
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {**os.environ, "PYTHONPATH": str(SRC), "TMPDIR": str(temporary), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "dejpeg", "serve", "--port", "0"]
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as server:
        try:
            ready, _, _ = select.select([server.stdout], [], [], 120)
            assert ready, "no address printed in two minutes"
            line = server.stdout.readline()
            assert line.startswith("dejpeg serve: http://127.0.0.1:") and line.endswith("/ (Ctrl-C stops it)\n")
            base = line.split()[2].rstrip("/")
            assert [p.name.startswith("dejpeg-serve-") for p in temporary.iterdir()] == [True]
            job = upload(base, "photo.jpg", jpegs["colour"].read_bytes())[1]
            assert finished(base, job["id"])["status"] == "done"
            result = Image.open(io.BytesIO(fetch(f"{base}/api/jobs/{job['id']}/result")[1]))
            assert (result.format, result.size) == ("PNG", (64, 48))
        finally:
            server.send_signal(stop)
        assert server.wait(60) == 0, server.stderr.read()
    assert list(temporary.iterdir()) == []


@needs_serve
@needs_browser
def test_browser_upload_compare_and_download(jpegs, tmp_path, natural_image):
    folder, downloads = tmp_path / "app", tmp_path / "downloads"
    folder.mkdir()
    downloads.mkdir()
    with running_app(folder) as base, chromium(downloads=downloads) as driver:
        driver.get(base + "/")
        driver.find_element("id", "files").send_keys(f"{jpegs['colour']}\n{jpegs['gray']}")
        for _ in range(600):
            links = driver.find_elements("css selector", ".dj-download")
            if len(links) == 2:
                break
            time.sleep(0.1)
        assert len(links) == 2, driver.find_element("id", "jobs").text
        assert driver.find_element("id", "overall").text == "2 of 2 finished"
        assert driver.find_element("id", "compare-title").text in ("photo.jpg", "scan.jpg")  # the first done
        sizes = driver.execute_script(
            "return Array.from(document.querySelectorAll('#viewer img'), i => [i.naturalWidth, i.naturalHeight]);"
        )
        assert sizes == [[64, 48], [64, 48]]
        rows = driver.find_elements("css selector", ".dj-job")
        colour_row = next(row for row in rows if row.text.startswith("photo.jpg"))
        colour_row.find_element("css selector", ".dj-compare").click()
        assert driver.find_element("id", "compare-title").text == "photo.jpg"
        colour_row.find_element("css selector", ".dj-download").click()
        target = downloads / "photo.png"
        for _ in range(100):
            if target.exists():
                break
            time.sleep(0.1)
        assert target.read_bytes() == restored_by_cli(jpegs["colour"], tmp_path / "colour.png")
        assert console_errors(driver) == []
        # A PNG under a JPEG's name is refused, and the page says why.
        fake = tmp_path / "fake.jpg"
        Image.fromarray(natural_image(*SIZE)).save(fake, format="PNG")
        driver.find_element("id", "files").send_keys(str(fake))
        for _ in range(100):
            refused = [row.text for row in driver.find_elements("css selector", ".dj-failed")]
            if refused:
                break
            time.sleep(0.1)
        assert refused == ["fake.jpg\nrefused: fake.jpg is not a JPEG file (it does not start with a JPEG marker)"]
