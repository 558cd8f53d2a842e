"""Catalog, thresholds and results files, and the numbers on the command line, across every command that
reads them: refused with one line naming the file and field, or (for unusable records) skipped with a
warning naming the file and line, never a traceback.
"""

from __future__ import annotations

import json
import tracemalloc

import pytest

from bench.results import dump_record
from tests.hostile.conftest import fifo, ok_record, refused, results_file, write

USER_GPU = """\
gpus:
  - id: rtx4090
    prices:
      - {provider: mine, usd_per_hour: 0.5, date: DATE, source: "my invoice"}
"""

# --- GPU catalogs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            USER_GPU.replace("DATE", "2024-02-30"),
            "gpus[rtx4090].prices[0].date: 2024-02-30 is not a date on the calendar",
        ),
        (USER_GPU.replace("DATE", "2024-13-45"), "gpus[rtx4090].prices[0].date: must be YYYY, YYYY-MM or YYYY-MM-DD"),
        (USER_GPU.replace("0.5", ".inf").replace("DATE", "2024"), "usd_per_hour: Input should be a finite number"),
        (USER_GPU.replace("DATE", "2024") + "  - id: rtx4090\n    id: rtx4090\n", "key 'id' is given twice"),
        ("gpus: &g [*g]\n", "a recursive structure"),
    ],
    ids=["impossible-day", "impossible-month", "infinite-price", "duplicate-key", "recursive"],
)
@pytest.mark.parametrize(
    "command",
    [("gpus",), ("cost", "r.jsonl"), ("recommend", "--model", "kandinsky-3"), ("compare-models", "--gpu", "rtx4090")],
    ids=["gpus", "cost", "recommend", "compare-models"],
)
def test_bad_catalogs_in_every_command(kb, results, work, text, needle, command):
    catalog = write(work / "mine.yaml", text)
    refused(kb(*command, "--catalog", catalog), "mine.yaml", needle)


def test_catalog_is_a_fifo(kb, work):
    refused(kb("gpus", "--catalog", fifo(work / "mine.yaml")), "mine.yaml: is a FIFO (named pipe), not a GPU catalog")


def test_catalog_is_binary(kb, work):
    refused(kb("gpus", "--catalog", write(work / "mine.yaml", b"\xff\xfe\0\0")), "mine.yaml: GPU catalog file is")


def test_catalog_billion_laughs(kb, work):
    from tests.hostile.test_scenarios import LAUGHS

    kb("gpus", "--catalog", write(work / "warm.yaml", "gpus: 1\n"))  # the modules are imported before the count
    tracemalloc.start()
    try:
        refused(kb("gpus", "--catalog", write(work / "mine.yaml", LAUGHS)), "mine.yaml:", "aliases expand")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 1024 * 1024  # bytes allocated at the peak: the aliases were never walked out


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "1e999"])
def test_price_overrides_must_be_finite_and_positive(kb, value):
    refused(kb("gpus", "--price", f"rtx4090={value}"), "--price")


# --- thresholds files ----------------------------------------------------------------------------------


@pytest.fixture
def pair(work):
    return results_file(work / "base.jsonl"), results_file(work / "cur.jsonl")


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"defaults:\n  median: 5%\n  median: 50%\n", "t.yaml:3: not valid YAML (key 'median' is given twice"),
        (b"\0\1\2", "t.yaml: thresholds file is binary"),
        (b"defaults: {median: lots}\n", "t.yaml: defaults: median: 'lots' is not a threshold"),
        (b"# " + b"x" * (1024 * 1024 + 10), "t.yaml: thresholds file is 1,048,"),
    ],
    ids=["duplicate-key", "binary", "bad-value", "oversized"],
)
def test_bad_thresholds_files(kb, pair, work, content, needle):
    rules = write(work / "t.yaml", content)
    refused(kb("compare", *pair, "--thresholds", rules), needle)


def test_thresholds_file_is_a_fifo(kb, pair, work):
    refused(kb("compare", *pair, "--thresholds", fifo(work / "t.yaml")), "t.yaml: is a FIFO")


# --- results files -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ("report",),
        ("cost",),
        ("compare", "r.jsonl"),
        ("baseline", "save"),
        ("baseline", "show"),
        ("recommend", "--model", "kandinsky-3", "--results"),
        ("compare-models", "--gpu", "rtx4090", "--results"),
    ],
    ids=["report", "cost", "compare", "baseline-save", "baseline-show", "recommend", "compare-models"],
)
@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda d: fifo(d / "x.jsonl"), "x.jsonl: is a FIFO (named pipe), not a results file"),
        (lambda d: write(d / "x.jsonl", b"\x89PNG\r\n\x1a\n\0\0"), "x.jsonl:1: not a JSON results line"),
        (lambda d: write(d / "x.jsonl", "[" * 100_000 + "\n"), "x.jsonl:"),
    ],
    ids=["fifo", "binary", "deep-json"],
)
def test_unreadable_results_in_every_command(kb, results, work, command, make, needle):
    bad = make(work)
    refused(kb(*command, bad), needle)


def test_dev_zero_as_results(kb):
    refused(kb("cost", "/dev/zero"), "/dev/zero: is a character device, not a results file")


def _with_bad_record(work, mutate):
    good = ok_record()
    data = json.loads(dump_record(ok_record("kandinsky-3")))
    mutate(data)
    path = work / "mixed.jsonl"
    path.write_text(dump_record(good) + "\n" + json.dumps(data) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda d: d["summary"].update(median_s_per_image=float("nan")), "summary.median_s_per_image is nan"),
        (lambda d: d["timing"]["per_image_s"].__setitem__(0, -0.5), "timing.per_image_s is negative (-0.5)"),
        (lambda d: d["timing"].pop("load_s"), "timing.load_s: Field required"),
        (lambda d: (d.pop("timing"), d.pop("summary")), "status ok but no timing and no summary"),
        (lambda d: d["memory"].update(peak_rss_mb=float("inf")), "memory.peak_rss_mb is inf"),
    ],
    ids=["nan", "negative", "missing-field", "no-timings", "infinite-memory"],
)
def test_unusable_records_are_skipped_with_a_warning(kb, work, mutate, needle):
    path = _with_bad_record(work, mutate)
    outcome = kb("cost", path)
    assert outcome.code == 0, outcome.err
    assert outcome.err_lines == [
        f"kbench: warning: {path}:2: skipping run {ok_record('kandinsky-3').run_key}: {needle}"
    ]
    assert "kandinsky-2.2|" in outcome.out and "kandinsky-3|" not in outcome.out
    assert outcome.changed == [] and outcome.created == []


def test_compare_skips_unusable_records_too(kb, work):
    path = _with_bad_record(work, lambda d: d["summary"].update(median_s_per_image=float("nan")))
    outcome = kb("compare", path, path)
    assert outcome.code == 0, outcome.err
    assert "mixed.jsonl:2: skipping run" in outcome.err and "Traceback" not in outcome.err


def test_many_unusable_records_are_counted_not_listed(kb, work):
    bad = json.loads(dump_record(ok_record()))
    bad["summary"]["median_s_per_image"] = float("nan")
    path = work / "bad.jsonl"
    path.write_text((json.dumps(bad) + "\n") * 50, encoding="utf-8")
    outcome = kb("cost", path)
    assert outcome.code == 2 and "Traceback" not in outcome.err
    *warned, error = outcome.err_lines
    assert len(warned) == 6 and all(w.startswith(f"kbench: warning: {path}") for w in warned)  # five, then a count
    assert warned[-1].endswith("50 records skipped in all (bad or missing timings)")
    assert error == f"kbench: error: no ok results to cost in {path}"
    assert len(outcome.err) < 4096


def test_duplicate_records_are_counted_once_and_reported_once(kb, work):
    path = results_file(work / "r.jsonl")
    doubled = work / "doubled.jsonl"
    doubled.write_bytes(path.read_bytes() * 2)  # `cat r.jsonl r.jsonl`
    outcome = kb("cost", doubled)
    assert outcome.code == 0, outcome.err
    warnings = [line for line in outcome.err_lines if "duplicate records counted once" in line]
    assert len(warnings) == 1 and f"{doubled}:3 repeats {doubled}:1" in warnings[0] and "and 1 more" in warnings[0]
    assert outcome.out.count("kandinsky-2.2|") == 1


def test_the_same_file_twice_is_read_once(kb, results):
    outcome = kb("cost", results, results)
    assert outcome.code == 0, outcome.err
    assert outcome.err_lines == [f"kbench: warning: {results}: the same file as {results}, given twice; read once"]
    assert outcome.out.count("kandinsky-2.2|") == 1


# --- numbers on the command line -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("run", "--dry-run", "--timeout", "inf"),
        ("cost", "r.jsonl", "--usd-per-kwh", "inf"),
        ("recommend", "--model", "kandinsky-3", "--max-usd-per-hour", "nan"),
        ("compare", "r.jsonl", "r.jsonl", "--confidence", "nan"),
    ],
    ids=["run-timeout", "cost-kwh", "recommend-price", "compare-confidence"],
)
def test_non_finite_options(kb, results, args):
    refused(kb(*args), f"Invalid value for '{args[-2]}'")


def test_version_exits_zero(kb):
    outcome = kb("--version")
    assert (outcome.code, outcome.out.startswith("kbench "), outcome.err) == (0, True, "")


# --- text is text, never markup ------------------------------------------------------------------------


def test_a_reason_with_rich_markup_prints_as_text():
    from bench.cli.commands_run import summary_table
    from bench.measure.runner import parent_record
    from tests.factories import tiny_spec

    record = parent_record(tiny_spec(), "error", "boom [/] [bold]not bold[/bold] [link=x]", "2026-01-01T00:00:00Z")
    assert "boom [/] [bold]not bold[/bold] [link=x]" in summary_table([record])


DOLLARS = "Cheap $\\frac{1}{0$ GPU"  # two dollar signs around invalid mathtext


def test_figures_take_dollar_signs_as_text():
    from bench.report.figures import cost_by_gpu, cost_vs_latency
    from bench.report.points import CostPoint

    points = [
        CostPoint("kandinsky-3 text2img 1024x1024", "kandinsky-3", gpu, name, s, usd, "projected")
        for gpu, name, s, usd in (("mine", DOLLARS, 2.0, 0.3), ("rtx4090", "RTX $4090$", 1.0, 0.4))
    ]
    for figure in (cost_by_gpu(points), cost_vs_latency(points)):
        assert f"{DOLLARS}</text>" in figure.svg and "RTX $4090$</text>" in figure.svg


@pytest.mark.slow  # builds a whole report: the guide's projections for every model
def test_report_takes_dollar_signs_as_text_and_skips_unusable_records(kb, work):
    """A GPU name with ``$...$`` (invalid mathtext) once crashed the figures; a NaN record, the whole report."""
    catalog = write(
        work / "mine.yaml",
        """\
        gpus:
          - id: mygpu
            name: 'Cheap $\\frac{1}{0$ GPU'
            arch: Test
            vram_gb: 24
            bandwidth_gbs: 1000
            fp16_tensor_tflops: 100
            fp32_tflops: 50
            tdp_w: 300
            nvml_names: ["My Test GPU"]
            spec_source: mine
            prices:
              - {provider: me, usd_per_hour: 0.5, date: "2024-01-01", source: "my invoice"}
        """,
    )
    path = _with_bad_record(work, lambda d: d["summary"].update(median_s_per_image=float("nan")))
    outcome = kb("report", path, "-o", "out/r", "--catalog", catalog, "--gpu", "mygpu", timeout=120)
    assert outcome.code == 0, outcome.err
    assert outcome.err_lines == [
        f"kbench: warning: {path}:2: skipping run {ok_record('kandinsky-3').run_key}: summary.median_s_per_image is nan"
    ]
    html = (work / "out" / "r.html").read_text(encoding="utf-8")
    assert "Cheap $\\frac{1}{0$ GPU</text>" in html  # drawn in a figure, as written
    assert outcome.changed == []
