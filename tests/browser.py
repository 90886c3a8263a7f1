"""Headless Chromium for the browser tests and the README's screenshots: Debian's ``chromium`` and
``chromium-driver`` packages, driven by selenium (``pip install selenium``; ``apt-get install chromium
chromium-driver``). Nothing is fetched from the network: selenium is given the driver, so it never looks for one."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
#: The flags that keep Chromium off the network and give screenshots one screen pixel per CSS pixel in sRGB.
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--force-device-scale-factor=1",
    "--force-color-profile=srgb",
    "--hide-scrollbars",
)


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if importlib.util.find_spec("selenium") is None:
        return "needs selenium (pip install selenium)"
    if CHROMIUM is None or CHROMEDRIVER is None:
        return "needs Chromium and its driver (apt-get install chromium chromium-driver)"
    return None


@contextlib.contextmanager
def chromium(width: int = 1000, height: int = 760, downloads: Path | None = None) -> Iterator[Any]:
    """A headless Chromium (selenium WebDriver) whose window shows ``width`` x ``height`` CSS pixels, saving
    downloads into ``downloads``; the console is read with ``driver.get_log("browser")``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="dejpeg-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*FLAGS, f"--user-data-dir={profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
        try:
            # The window's outer size includes no frame in headless mode; set the page's own size exactly.
            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            )
            if downloads is not None:
                behavior = {"behavior": "allow", "downloadPath": str(downloads)}
                driver.execute_cdp_cmd("Browser.setDownloadBehavior", behavior)
            yield driver
        finally:
            driver.quit()


def console_errors(driver: Any) -> list[str]:
    """The console's errors since the last call (messages logged as SEVERE: script errors, failed loads)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def screenshot(driver: Any) -> np.ndarray:
    """The visible page as (H, W, 3) uint8 RGB."""
    return np.asarray(Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB"))


def rect(driver: Any, selector: str) -> dict[str, float]:
    """The element's box on the page in CSS pixels (left, top, width, height)."""
    return driver.execute_script(
        "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return {left: r.left, top: r.top, width: r.width, height: r.height};",
        selector,
    )
