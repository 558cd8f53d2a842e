"""``kbench report``: results files in, one HTML page, a markdown summary and a CSV out.

Isolated-run results and serving results are told apart by their records, not by the option they came with:
every line of a serving results file starts with its ``record_type`` (``serve`` or ``serve_slo``), a field no
isolated-run record has. So ``kbench report FILE.serve.jsonl`` is the report of those serving results, just as
``kbench report --serve FILE.serve.jsonl`` is: the file says what it holds, and refusing it would only make
the user type the option the file already answers. With serving results alone the report is the serving page
(:mod:`bench.report.serving_page`); with isolated runs too, the serving section joins the isolated report.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from bench.cli.outputs import Output, check_outputs
from bench.errors import CatalogError, OutputError, ResultsFormatError, located
from bench.results.serving import ServeRecord

if TYPE_CHECKING:
    from bench.cost.serving.section import ServingSection

DEFAULT_DIR = Path("reports")
SUFFIXES = (".html", ".md", ".csv")


def output_stem(output: Path | None, results: Sequence[Path]) -> Path:
    """``reports/NAME`` from ``--out`` (a trailing .html/.md/.csv is dropped), else from the first results file."""
    if output is None:
        return DEFAULT_DIR / results[0].stem
    return output.with_suffix("") if output.suffix in SUFFIXES else output


def report_paths(stem: Path) -> list[Path]:
    """The three files a report of ``stem`` consists of: NAME.html, NAME.md and NAME.csv."""
    return [stem.with_name(stem.name + suffix) for suffix in SUFFIXES]


def sort_results(paths: Sequence[Path], serve: Sequence[Path] = ()) -> tuple[list[Path], list[Path]]:
    """(isolated-run files, serving files): each file goes where its first record says it belongs."""
    from bench.results.serving import looks_like_serve_results

    files = list(dict.fromkeys([*paths, *serve]))  # a file named twice is read once
    served = [p for p in files if looks_like_serve_results(p)]
    return [p for p in files if p not in served], served


def _write(stem: Path, texts: Sequence[str]) -> list[Path]:
    written = []
    for path, text in zip(report_paths(stem), texts, strict=True):
        tmp = path.with_name(path.name + ".tmp")
        newline = "" if path.suffix == ".csv" else None  # the CSV carries its own \r\n line ends
        try:
            stem.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w", encoding="utf-8", newline=newline) as fh:
                fh.write(text)
            tmp.replace(path)  # a reader never sees half a report
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise OutputError(located(f"cannot write the report ({exc.strerror or exc})", file=path)) from None
        written.append(path)
    return written


def write_serving_report(
    serving: Sequence[Path], stem: Path, slo_p99_s: float | None = None
) -> tuple[list[Path], ServingSection | None]:
    """The report of serving results alone (NAME.html, NAME.md, NAME.csv): the paths written and its section.

    The section (each server's points beside the simulator's prediction from its own calls, the max rate at
    the SLO both ways) is returned too, so a serve run can print what its report shows without computing it twice.
    """
    from bench.cost.report_numbers import serving_numbers
    from bench.report.serving_page import build_serving_report
    from bench.results.serving import read_serve_results

    served = [r for path in serving for r in read_serve_results(path)]
    if not any(isinstance(r, ServeRecord) for r in served):
        raise ResultsFormatError(f"{', '.join(map(str, serving))}: no load points recorded; nothing to report")
    section = serving_numbers(served, slo_p99_s).serving
    title = f"kandinsky-bench serving: {stem.name}"
    page = build_serving_report(served, section, title=title, html_name=stem.name + ".html")
    return _write(stem, (page.html, page.markdown, page.csv)), section


def write_report(
    results: list[Path],
    out: Path | None = None,
    prices: list[str] | None = None,
    gpu_ids: list[str] | None = None,
    catalog_file: Path | None = None,
    providers: list[str] | None = None,
    serve_results: list[Path] | None = None,
    slo_p99_s: float | None = None,
) -> list[Path]:
    """Read results, build the report and write NAME.html, NAME.md and NAME.csv; return the paths written.

    ``results`` and ``serve_results`` may hold either kind of file (:func:`sort_results`); with serving results
    alone the report is the serving page, which projects nothing, so prices and GPUs are then not asked for.
    """
    from bench.cost.report_numbers import report_numbers
    from bench.results import read_results
    from bench.results.serving import read_serve_results

    isolated, serving = sort_results(results, serve_results or [])
    if not isolated and not serving:
        raise ResultsFormatError("no results file given; pass RESULTS files, or serving results with --serve FILE")
    stem = output_stem(out, isolated or serving)
    if not isolated:
        return write_serving_report(serving, stem, slo_p99_s)[0]
    served = [r for path in serving for r in read_serve_results(path)]
    from bench.cli.pricing import make_policy
    from bench.cost.prices.book import load_price_book
    from bench.cost.prices.policy import DEFAULT_MAX_AGE_DAYS
    from bench.report.bundle import build_report

    # the price policy's price per GPU (live offers of the price cache when present, else catalog prices)
    policy = make_policy(None, None, DEFAULT_MAX_AGE_DAYS, list(providers or []))
    book = load_price_book(catalog_file, prices or [], policy)
    catalog = book.priced
    for gpu in gpu_ids or []:
        catalog.get(gpu)  # unknown ids fail here, naming the known ones
    records = read_results(isolated)
    if not records:
        raise ResultsFormatError(f"{', '.join(map(str, isolated))}: no runs recorded; nothing to report")
    numbers = report_numbers(records, book, gpu_ids=gpu_ids or None, serve_records=served, slo_p99_s=slo_p99_s)
    bundle = build_report(
        records, catalog, numbers, title=f"kandinsky-bench: {stem.name}", html_name=stem.name + ".html"
    )
    return _write(stem, (bundle.html, bundle.markdown, bundle.csv))


def register(app: typer.Typer) -> None:
    """Add ``report`` to ``app``."""

    @app.command("report")
    def report(
        results: list[Path] = typer.Argument(
            None,
            help="Results files (JSONL) written by kbench run: isolated runs, or serving results (told apart by"
            " their records). Optional with --serve.",
            show_default=False,
            metavar="RESULTS",
        ),
        out: Path | None = typer.Option(
            None,
            "-o",
            "--out",
            help="Output path without suffix: writes NAME.html, NAME.md and NAME.csv."
            " [default: reports/<first results file>]",
        ),
        output: Path | None = typer.Option(None, "--output", hidden=True),  # the former name of --out
        price: list[str] = typer.Option(
            [], "--price", help="Override a GPU's USD per hour, e.g. --price rtx4090=0.35 (repeatable)."
        ),
        gpu: list[str] = typer.Option(
            [], "--gpu", help="Project only onto these catalog GPU ids (repeatable); default: all."
        ),
        catalog: Path | None = typer.Option(
            None, "--catalog", help="Extra GPU catalog YAML merged over the bundled one."
        ),
        provider: list[str] = typer.Option(
            [], "--provider", help="Only prices from providers containing this, e.g. clore.ai (repeatable)."
        ),
        serve: list[Path] = typer.Option(
            [],
            "--serve",
            help="Serving results (JSONL of kbench serve runs): measured load points beside the simulator's"
            " prediction from the same server's calls (repeatable; no isolated results needed).",
        ),
        slo_p99: float | None = typer.Option(
            None, "--slo-p99", help="p99 latency SLO (s) of the serving section (default: the serving results')."
        ),
        force: bool = typer.Option(False, "--force", help="Replace an existing report of the same name."),
    ) -> None:
        """Write an HTML report, a markdown summary and a CSV of the summary table."""
        from bench.cost.catalog import bundled_catalog_path
        from bench.files import check_input_file

        results = list(results or [])
        if out is not None and output is not None:
            raise OutputError("--out and --output: the same option (--output is its former name); give one")
        out = out or output
        if not results and not serve:
            raise ResultsFormatError("no results file given; pass RESULTS files, or serving results with --serve FILE")
        for path in [*results, *serve]:
            if not path.exists():
                raise ResultsFormatError(f"{path}: results file not found")
            check_input_file(path, "results", ResultsFormatError)
        if slo_p99 is not None and not slo_p99 > 0:
            raise ResultsFormatError(f"--slo-p99: must be seconds > 0, got {slo_p99:g}")
        if catalog is not None:
            if not catalog.exists():
                raise CatalogError(f"{catalog}: --catalog file not found")
            check_input_file(catalog, "GPU catalog", CatalogError)
        inputs = [*results, *serve, *([catalog] if catalog else []), bundled_catalog_path()]
        isolated, serving = sort_results(results, serve)
        projecting = {"--price": price, "--gpu": gpu, "--catalog": catalog, "--provider": provider}
        if not isolated and (given := next((name for name, value in projecting.items() if value), None)):
            raise ResultsFormatError(
                f"{given}: applies to the projections of isolated runs; a report of serving results alone projects"
                " nothing (add an isolated results file, or leave it out)"
            )
        paths = report_paths(output_stem(out, isolated or serving))
        check_outputs([Output("-o", p) for p in paths], inputs)
        if not force and (existing := [p for p in paths if p.exists()]):
            raise OutputError(
                f"{existing[0]}: -o: a report of this name exists; --force replaces it, or -o names another"
            )
        for path in write_report(results, out, price, gpu, catalog, provider, serve, slo_p99):
            typer.echo(str(path))
