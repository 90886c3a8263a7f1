"""Regenerate the README's screenshots of ``dejpeg compare`` and ``dejpeg serve``:
``python docs/make_viewer_screenshots.py``.

The images are crops of ``skimage.data.astronaut()`` and ``skimage.data.coffee()`` (public domain), saved at IJG
quality 15; it needs scikit-image, the ``serve`` extra, selenium and Debian's ``chromium`` and ``chromium-driver``
(as the browser tests, ``tests/browser.py``).
"""

from __future__ import annotations

import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser import browser_missing, chromium  # noqa: E402

from dejpeg.cli.__main__ import main as dejpeg  # noqa: E402
from dejpeg.codec import encode  # noqa: E402

QUALITY = 15
WINDOW = (1100, 780)


def write_samples(folder: Path) -> list[Path]:
    """The originals (PNG) and their JPEGs; returns the JPEGs."""
    from skimage import data

    crops = {
        "astronaut": data.astronaut()[16:336, 96:416],
        "coffee": data.coffee()[40:360, 120:520],
    }
    jpegs = []
    for name, crop in crops.items():
        Image.fromarray(np.ascontiguousarray(crop)).save(folder / f"{name}.png")
        jpegs.append(folder / f"{name}.jpg")
        jpegs[-1].write_bytes(encode(np.ascontiguousarray(crop), quality=QUALITY))
    return jpegs


def wait_for(condition, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the page did not get there in time")
        time.sleep(0.1)


def zoom_in(driver) -> None:
    """200 %, split in the middle: the artifacts and their removal side by side, pixel for pixel."""
    from selenium.webdriver import ActionChains

    driver.find_element("css selector", '[data-action="actual"]').click()
    driver.find_element("css selector", '[data-action="in"]').click()
    ActionChains(driver).move_to_element(driver.find_element("tag name", "h1")).perform()  # no button hovered


def compare_page(jpeg: Path, out: Path) -> None:
    page = jpeg.with_suffix(".html")
    assert dejpeg(["compare", str(jpeg), "-o", str(page), "--original", str(jpeg.with_suffix(".png")), "--quiet"]) == 0
    with chromium(*WINDOW) as driver:
        driver.get(page.as_uri())
        zoom_in(driver)
        driver.save_screenshot(str(out))


def serve_app(jpegs: list[Path], out: Path) -> None:
    command = [sys.executable, "-m", "dejpeg", "serve", "--port", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as server:
        try:
            if not select.select([server.stdout], [], [], 120)[0]:
                raise TimeoutError("dejpeg serve printed no address")
            url = server.stdout.readline().split()[2]
            with chromium(WINDOW[0], 1000) as driver:
                driver.get(url)
                driver.find_element("id", "files").send_keys("\n".join(str(jpeg) for jpeg in jpegs))
                wait_for(lambda: len(driver.find_elements("css selector", ".dj-download")) == len(jpegs))
                driver.find_elements("css selector", ".dj-compare")[0].click()
                zoom_in(driver)
                driver.save_screenshot(str(out))
        finally:
            server.terminate()


def main() -> None:
    if (missing := browser_missing()) is not None:
        sys.exit(missing)
    out = ROOT / "docs" / "img"
    with tempfile.TemporaryDirectory() as folder:
        jpegs = write_samples(Path(folder))
        compare_page(jpegs[0], out / "compare_page.png")
        serve_app(jpegs, out / "serve_app.png")
    print(f"wrote {out / 'compare_page.png'} and {out / 'serve_app.png'}")


if __name__ == "__main__":
    main()
