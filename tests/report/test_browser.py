"""The HTML report as a person sees it: opened from disk in headless Chromium."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.cost.prices.book import price_book
from bench.cost.report_numbers import report_numbers
from bench.report.bundle import build_report
from bench.results import read_results
from tests.report.conftest import XSS_NEGATIVE, XSS_SCENARIO

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
HAVE_BROWSER = CHROMIUM.exists() and CHROMEDRIVER.exists()

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not HAVE_BROWSER,
        reason="needs Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver)",
    ),
]


@pytest.fixture(scope="module")
def driver() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1800"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield drv
    finally:
        drv.quit()


@pytest.fixture
def page(driver, results_file, catalog, tmp_path):
    records = read_results([results_file])
    html = build_report(records, catalog, report_numbers(records, price_book(catalog)), title="browser check").html
    path = tmp_path / "report.html"
    path.write_text(html, encoding="utf-8")
    driver.get(path.as_uri())
    return driver


def _cells(driver, row_css: str) -> list[list[str]]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).filter(r => !r.hidden)"
        ".map(r => Array.from(r.cells).map(c => c.textContent.trim()));",
        row_css,
    )


def test_page_renders_without_errors_and_shows_the_results(page):
    from selenium.webdriver.common.by import By

    severe = [e for e in page.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []
    assert page.execute_script("return window.__xss === undefined")  # the injected markup never ran

    rows = _cells(page, "#summary tbody tr")
    assert len(rows) == 8
    k3 = rows[4]  # kandinsky-3 at 1024x1024: median 5.4 s, p90 5.9 s, 21,500 MB, 5.4 s x 300 W = 1,620 J
    assert k3[1:5] == ["kandinsky-3", "text2img", "en", "1024x1024"]
    assert k3[12:17] == ["5.4", "5.9", "0.185", "21,500 VRAM", "1,620"]
    assert rows[0][0] == XSS_SCENARIO  # shown as text, exactly as written in the scenario
    assert rows[5][11].startswith("oom") and "CUDA out of memory" in rows[5][11]
    scenario_cells = _cells(page, "#scenario-table tbody tr")
    assert scenario_cells[0][4] == XSS_NEGATIVE

    figures = page.find_elements(By.CSS_SELECTOR, "figure")
    assert len(figures) == 5
    for fig in figures:
        svg = fig.find_element(By.TAG_NAME, "svg")
        assert svg.size["width"] > 200 and svg.size["height"] > 100, fig.get_attribute("id")


def test_summary_sorts_and_filters(page):
    from selenium.webdriver.common.by import By

    page.find_element(By.XPATH, "//table[@id='summary']//th[text()='s/image median']").click()
    medians = [r[12] for r in _cells(page, "#summary tbody tr")]
    assert medians == ["0.31", "0.9", "1.6", "2", "2.4", "5.4", "—", "—"]  # runs without a time sort last
    box = page.find_element(By.ID, "summary-filter")
    box.send_keys("oom")
    assert [r[11].split()[0] for r in _cells(page, "#summary tbody tr")] == ["oom"]
    assert page.find_element(By.ID, "summary-count").text == "1 of 8 runs shown"


def test_screenshot_is_not_blank(page, tmp_path):
    from PIL import Image

    png = page.get_screenshot_as_png()
    (tmp_path / "report.png").write_bytes(png)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # text, table shading, the banner and plot colours
    white = sum(n for n, c in colours if c == (255, 255, 255))
    assert white / (image.width * image.height) < 0.97


SCREENS = {"desktop": (1280, 800), "phone": (390, 844)}


@pytest.mark.parametrize("screen", sorted(SCREENS))
def test_the_answer_is_in_the_first_screen_and_fits_it(driver, results_file, catalog, tmp_path, screen):
    """At 1280 and 390 px the "which GPU" table starts in the first viewport and is no wider than the screen.

    The README's screenshots of the example report are taken the same way by ``nox -s docs``.
    """
    width, height = SCREENS[screen]
    records = read_results([results_file])
    html = build_report(records, catalog, report_numbers(records, price_book(catalog)), title="answer first").html
    path = tmp_path / "report.html"
    path.write_text(html, encoding="utf-8")
    driver.set_window_size(width, height)
    try:
        driver.get(path.as_uri())
        inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
        box = driver.execute_script(
            "const t = document.querySelector('#answer table.answer').getBoundingClientRect();"
            "return [t.top, t.right, document.documentElement.scrollWidth];"
        )
        (tmp_path / f"report-{width}px.png").write_bytes(driver.get_screenshot_as_png())
    finally:
        driver.set_window_size(1400, 1800)
    top, right, page_width = box
    assert top < inner[1], f"the answer starts at {top:.0f} px, below the first {inner[1]} px"
    assert right <= inner[0] + 1 and page_width <= inner[0] + 1, (right, page_width, inner)


def test_figure_text_is_plain(page):
    """No mathtext source in the figures' text (log-axis ticks used to read ``$\\mathdefault{10^{0}}$``)."""
    texts = page.execute_script("return Array.from(document.querySelectorAll('svg text')).map(t => t.textContent)")
    assert texts and not [t for t in texts if "mathdefault" in t or "$\\" in t]
