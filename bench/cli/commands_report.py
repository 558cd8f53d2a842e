"""``kbench report``: results files in, one HTML page, a markdown summary and a CSV out."""

from __future__ import annotations

from pathlib import Path

import typer

from bench.errors import CatalogError, ResultsFormatError

DEFAULT_DIR = Path("reports")
SUFFIXES = (".html", ".md", ".csv")


def output_stem(output: Path | None, results: list[Path]) -> Path:
    """``reports/NAME`` from ``-o`` (a trailing .html/.md/.csv is dropped), else from the first results file."""
    if output is None:
        return DEFAULT_DIR / results[0].stem
    return output.with_suffix("") if output.suffix in SUFFIXES else output


def write_report(
    results: list[Path],
    output: Path | None = None,
    prices: list[str] | None = None,
    gpu_ids: list[str] | None = None,
    catalog_file: Path | None = None,
) -> list[Path]:
    """Read results, build the report and write NAME.html, NAME.md and NAME.csv; return the paths written."""
    from bench.cost.catalog import load_catalog, parse_price_overrides
    from bench.report.bundle import build_report
    from bench.results import read_results

    catalog = load_catalog(extra_yaml=catalog_file, overrides=parse_price_overrides(prices or []))
    for gpu in gpu_ids or []:
        catalog.get(gpu)  # unknown ids fail here, naming the known ones
    records = read_results(results)
    if not records:
        raise ResultsFormatError(f"{', '.join(map(str, results))}: no runs recorded; nothing to report")
    stem = output_stem(output, results)
    bundle = build_report(
        records, catalog, gpu_ids=gpu_ids or None, title=f"kandinsky-bench: {stem.name}", html_name=stem.name + ".html"
    )
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix, text in ((".html", bundle.html), (".md", bundle.markdown), (".csv", bundle.csv)):
        path = stem.with_name(stem.name + suffix)
        tmp = path.with_name(path.name + ".tmp")
        newline = "" if suffix == ".csv" else None  # the CSV carries its own \r\n line ends
        with open(tmp, "w", encoding="utf-8", newline=newline) as fh:
            fh.write(text)
        tmp.replace(path)  # a reader never sees half a report
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
    ) -> None:
        """Write an HTML report, a markdown summary and a CSV of the summary table."""
        for path in results:
            if not path.is_file():
                raise ResultsFormatError(f"{path}: results file not found")
        if catalog is not None and not catalog.is_file():
            raise CatalogError(f"{catalog}: --catalog file not found")
        for path in write_report(results, output, price, gpu, catalog):
            typer.echo(str(path))
