"""Headless Chromium for tests that look at a page as a reader would (reports, dashboards).

Uses Debian's ``chromium`` and ``chromium-driver`` (``/usr/bin/chromium``,
``/usr/bin/chromedriver``) through Selenium, with the driver path given explicitly and
``SE_OFFLINE=true``, so Selenium never tries to download a browser or a driver. Tests that need
it skip, with the reason, only when the browser is not installed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARGS = ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--no-first-run",
        "--disable-sync")


def available() -> bool:
    """Whether the browser is installed; with it, a missing driver or Selenium is an error."""
    return Path(CHROMIUM).exists()


requires_browser = pytest.mark.skipif(
    not available(), reason=f"headless browser tests need Debian's chromium ({CHROMIUM} is "
    "absent; apt-get install -y chromium chromium-driver)")


@contextlib.contextmanager
def browser(width: int = 1200, height: int = 900) -> Iterator[Any]:
    """A headless Chromium WebDriver with a fresh profile; console messages are logged."""
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never download a driver
    if not Path(CHROMEDRIVER).exists():
        raise RuntimeError(f"{CHROMIUM} is installed but {CHROMEDRIVER} is not: "
                           "apt-get install -y chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="srmsim-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ARGS:
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver: Any) -> list[str]:
    """Console messages of level SEVERE since the last call."""
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def broken_images(driver: Any) -> list[str]:
    """The ``src`` (first 80 characters) of every image that did not load."""
    return driver.execute_script(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
        ".map(i => (i.getAttribute('src') || '').slice(0, 80));")


def screenshot(driver: Any, path: str | Path, full_page: bool = True) -> Path:
    """Save a PNG of the page; ``full_page`` resizes the window to the page's height first."""
    if full_page:
        height = driver.execute_script("return document.documentElement.scrollHeight")
        width = driver.execute_script("return document.documentElement.scrollWidth")
        driver.set_window_size(max(width, 800), min(int(height) + 100, 16000))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    return path
