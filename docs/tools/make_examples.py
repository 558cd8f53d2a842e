"""Regenerate the README's example report and its screenshots from the committed example results.

Run by ``nox -s docs``: the report is rebuilt from ``reports/example/default.jsonl`` with the current code, so
the example never drifts from what ``kbench report`` writes; the screenshots are of that page in headless
Chromium at a desktop (1280 px) and a phone (390 px) width.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench.cli import main as kbench

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "reports" / "example"
SCREENS = {"screenshot-1280px.png": (1280, 1100), "screenshot-390px.png": (390, 1100)}


def screenshots(html: Path) -> None:
    """Screenshots of the first screen of ``html`` at each width of :data:`SCREENS`."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    try:
        for name, (width, height) in SCREENS.items():
            driver.set_window_size(width, height)
            driver.get(html.as_uri())
            (EXAMPLE / name).write_bytes(driver.get_screenshot_as_png())
    finally:
        driver.quit()


def main() -> int:
    code = kbench(["report", str(EXAMPLE / "default.jsonl"), "-o", str(EXAMPLE / "default"), "--force"])
    if code:
        return code
    screenshots(EXAMPLE / "default.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
