"""``kbench report``: results files in, one HTML page, a markdown summary and a CSV out."""

from __future__ import annotations

from pathlib import Path

import typer

from bench.cli.outputs import Output, check_outputs
from bench.errors import CatalogError, OutputError, ResultsFormatError, located

DEFAULT_DIR = Path("reports")
SUFFIXES = (".html", ".md", ".csv")


def output_stem(output: Path | None, results: list[Path]) -> Path:
    """``reports/NAME`` from ``-o`` (a trailing .html/.md/.csv is dropped), else from the first results file."""
    if output is None:
        return DEFAULT_DIR / results[0].stem
    return output.with_suffix("") if output.suffix in SUFFIXES else output


def report_paths(stem: Path) -> list[Path]:
    """The three files a report of ``stem`` consists of: NAME.html, NAME.md and NAME.csv."""
    return [stem.with_name(stem.name + suffix) for suffix in SUFFIXES]


def write_report(
    results: list[Path],
    output: Path | None = None,
    prices: list[str] | None = None,
    gpu_ids: list[str] | None = None,
    catalog_file: Path | None = None,
    providers: list[str] | None = None,
    serve_results: list[Path] | None = None,
    slo_p99_s: float | None = None,
) -> list[Path]:
    """Read results, build the report and write NAME.html, NAME.md and NAME.csv; return the paths written."""
    from bench.cli.pricing import make_policy
    from bench.cost.prices.book import load_price_book
    from bench.cost.prices.policy import DEFAULT_MAX_AGE_DAYS
    from bench.cost.report_numbers import report_numbers
    from bench.report.bundle import build_report
    from bench.results import read_results

    # the price policy's price per GPU (live offers of the price cache when present, else catalog prices)
    policy = make_policy(None, None, DEFAULT_MAX_AGE_DAYS, list(providers or []))
    book = load_price_book(catalog_file, prices or [], policy)
    catalog = book.priced
    for gpu in gpu_ids or []:
        catalog.get(gpu)  # unknown ids fail here, naming the known ones
    records = read_results(results)
    if not records:
        raise ResultsFormatError(f"{', '.join(map(str, results))}: no runs recorded; nothing to report")
    stem = output_stem(output, results)
    from bench.results.serving import read_serve_results

    served = [r for path in serve_results or [] for r in read_serve_results(path)]
    numbers = report_numbers(records, book, gpu_ids=gpu_ids or None, serve_records=served, slo_p99_s=slo_p99_s)
    bundle = build_report(
        records, catalog, numbers, title=f"kandinsky-bench: {stem.name}", html_name=stem.name + ".html"
    )
    written = []
    for path, text in zip(report_paths(stem), (bundle.html, bundle.markdown, bundle.csv), strict=True):
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


def register(app: typer.Typer) -> None:
    """Add ``report`` to ``app``."""

    @app.command("report")
    def report(
        results: list[Path] = typer.Argument(
            ..., help="Results files (JSONL) written by kbench run.", show_default=False, metavar="RESULTS..."
        ),
        output: Path | None = typer.Option(
            None,
            "-o",
            "--output",
            help="Output path without suffix: writes NAME.html, NAME.md and NAME.csv."
            " [default: reports/<first results file>]",
        ),
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
            [], "--serve", help="Serving results (JSONL of kbench serve runs): measured load points (repeatable)."
        ),
        slo_p99: float | None = typer.Option(
            None, "--slo-p99", help="p99 latency SLO (s) of the '$ per image at SLO' table (default: the serving's)."
        ),
        force: bool = typer.Option(False, "--force", help="Replace an existing report of the same name."),
    ) -> None:
        """Write an HTML report, a markdown summary and a CSV of the summary table."""
        from bench.cost.catalog import bundled_catalog_path
        from bench.files import check_input_file

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
        paths = report_paths(output_stem(output, results))
        check_outputs([Output("-o", p) for p in paths], inputs)
        if not force and (existing := [p for p in paths if p.exists()]):
            raise OutputError(
                f"{existing[0]}: -o: a report of this name exists; --force replaces it, or -o names another"
            )
        for path in write_report(results, output, price, gpu, catalog, provider, serve, slo_p99):
            typer.echo(str(path))
