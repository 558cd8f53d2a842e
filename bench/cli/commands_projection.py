"""``kbench projection-check``: the projection against every published timing, with its cross-validated error."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import typer

from bench.cli.tables import format_table, terminal_width
from bench.report.format import markdown_table

if TYPE_CHECKING:
    from bench.cost.validation import Validation

WORST_SHOWN = 5


def _pct(x: float | None) -> str:
    return "-" if x is None or x != x else f"{x:+.0%}"


def _abs_pct(x: float) -> str:
    return "-" if x != x else f"{x:.0%}"


def _seconds(x: float) -> str:
    return f"{x:.4g}"


def _progress(i: int, n: int, row: object) -> None:
    if sys.stderr.isatty():
        sys.stderr.write(f"\rcounting {i + 1}/{n}: {getattr(row, 'id', '')[:60]:<60}")
        if i + 1 == n:
            sys.stderr.write("\r" + " " * 80 + "\r")
    elif i == 0:
        sys.stderr.write(f"counting the workloads of {n} published timings on meta (cached after the first run)\n")
    sys.stderr.flush()


def _table(headers: list[str], rows: list[list[str]], markdown: bool, shrink: list[int] | None = None) -> str:
    if markdown:  # a blank line after the title line: Markdown renders a table only after one
        return "\n" + markdown_table(headers, rows)
    # the right-most columns (the cross-validated and earlier errors) go first at a narrow width; the row's
    # label and the published and projected seconds stay
    optional = list(range(len(headers) - 1, 3, -1))
    return format_table(headers, rows, width=terminal_width(), shrink=shrink or [0], optional=optional)


def render(v: Validation, markdown: bool = False, show_rows: bool = True) -> str:
    """The report: rows, cross-validated summaries overall / per GPU class / per model family, coverage, worst."""
    from bench.cost.fit import summarise
    from bench.cost.validation import gpu_class, row_model_family

    out: list[str] = []
    headers = ["row", "GPU", "model", "measure", "published s", "projected s", "error", "CV GPU", "CV model", "before"]
    if show_rows:
        for use, title in [("fit", "Fitted rows"), ("exclude", "Compiled / engine rows (not fitted)"),
                           ("check", "Rows whose setup is unknown (not fitted)")]:  # fmt: skip
            rows = [
                [
                    r.case.row.id,
                    r.case.gpu.id,
                    r.case.row.model,
                    f"{r.case.row.measure}{'' if r.case.row.memory == 'none' else ' ' + r.case.row.memory}",
                    _seconds(r.case.row.seconds),
                    _seconds(r.projected_s),
                    _pct(r.error),
                    _pct(None if r.cv_gpu_s is None else r.cv_gpu_s / r.case.row.seconds - 1),
                    _pct(None if r.cv_model_s is None else r.cv_model_s / r.case.row.seconds - 1),
                    _pct(r.legacy_s / r.case.row.seconds - 1),
                ]
                for r in v.rows
                if r.case.row.use == use
            ]
            if rows:
                out += [f"{title}: {len(rows)}", _table(headers, rows, markdown), ""]
    legacy = np.log([r.legacy_s / r.case.row.seconds for r in v.rows if r.case.row.use == "fit"])
    summaries = [
        ("in-sample fit", summarise(v.fit.residuals)),
        ("leave-one-GPU-out", summarise(v.cv_gpu)),
        ("leave-one-model-out", summarise(v.cv_model)),
        ("leave-one-model-family-out", summarise(v.cv_family)),
        ("before (previous roofline)", summarise(legacy)),
    ]
    out += [
        "Error |projected / published - 1| over the fitted rows",
        _table(
            ["validation", "rows", "median", "p90", "worst"],
            [[name, str(s["n"]), _abs_pct(s["median"]), _abs_pct(s["p90"]), _pct(s["worst"])] for name, s in summaries],
            markdown,
        ),
        "",
    ]
    for title, key in [("GPU class", gpu_class), ("model family", row_model_family)]:
        rows = []
        for group, s in v.groups(key).items():
            g, m, f = s["gpu"], s["model"], s["family"]
            rows.append(
                [group, str(g["n"]), _abs_pct(g["median"]), _abs_pct(g["p90"]), _pct(g["worst"]),
                 _abs_pct(m["median"]), _abs_pct(m["p90"]), _pct(m["worst"]), _abs_pct(f["median"]), _pct(f["worst"])]
            )  # fmt: skip
        cv_headers = ["rows", "GPU out: median", "p90", "worst", "model out: median", "p90", "worst"]
        out += [
            f"Cross-validated error per {title}",
            _table([title, *cv_headers, "family out: median", "worst"], rows, markdown),
            "",
        ]
    cov_rows = [
        [family, _abs_pct(c["gpu"]), _abs_pct(c["model"]), _abs_pct(c["family"])]
        for family, c in v.coverage_by_family.items()
    ]
    out += [
        "Interval coverage per model family (share of its held-out rows inside the band built without them)",
        _table(["model family", "GPU held out", "model held out", "family held out"], cov_rows, markdown),
        "",
    ]
    cov = v.coverage
    out.append(
        "Interval coverage of held-out rows (band from the other groups' residuals): "
        f"GPU held out {cov['leave_one_gpu_out']:.0%}, model held out {cov['leave_one_model_out']:.0%}, "
        f"model family held out {cov['leave_one_family_out']:.0%}"
    )
    out += ["", *_bands(v, markdown), "", *_constants(v, markdown)]
    worst = sorted(zip(v.fitted, v.cv_gpu, v.cv_model, strict=True), key=lambda z: -max(abs(z[1]), abs(z[2])))[
        :WORST_SHOWN
    ]
    out += ["", f"The {WORST_SHOWN} worst held-out rows"]
    out.append(
        _table(
            ["row", "CV GPU", "CV model", "note"],
            [[c.row.id, _pct(float(np.expm1(g))), _pct(float(np.expm1(m))), c.row.note or "-"] for c, g, m in worst],
            markdown,
            shrink=[3],
        )
    )
    return "\n".join(out)


def _bands(v: Validation, markdown: bool) -> list[str]:
    """The interval bands of a fresh fit, as factors on a projected figure (published = projected x factor)."""
    import math

    t = v.intervals

    def factors(band: tuple[float, float]) -> str:
        lo, hi = band
        return f"x{math.exp(-hi):.2f} - x{math.exp(-lo):.2f}"

    rows = [[f"GPU unseen ({group})", factors(b)] for group, b in t.gpu_unseen.items()]
    rows += [[f"model unseen ({group})", factors(b)] for group, b in t.model_unseen.items()]
    rows += [
        ["model and GPU seen", factors(t.both_seen)],
        ["calibrated, same GPU", factors(t.calibrated_same_gpu)],
        ["calibrated, another fitted GPU", factors(t.calibrated_gpu_seen)],
        ["calibrated, an unseen GPU", factors(t.calibrated_gpu_unseen)],
    ]
    return ["Interval bands (90%; applied, a group's band is widened to at least its pool 'all')",
            _table(["projection", "published / projected"], rows, markdown)]  # fmt: skip


def _constants(v: Validation, markdown: bool) -> list[str]:
    """The constants of a fresh fit beside their priors (``= name``: centred on that constant's fitted value)."""
    from bench.cost.fit import PARAMS

    rows = [
        [p.name, f"{v.fit.params[p.name]:.3g}", f"= {p.tied_to}" if p.tied_to else f"{p.prior:.3g}", f"{p.sigma:g}"]
        for p in PARAMS
    ]
    return ["Fitted constants and their priors (log-normal: centre, spread in log units)",
            _table(["constant", "fitted", "prior centre", "prior spread"], rows, markdown)]  # fmt: skip


def projection_check_command(
    timings: Path | None = typer.Option(None, "--timings", help="A dataset of the same shape (default: bundled)."),
    catalog: Path | None = typer.Option(None, "--catalog", help="Your own GPU YAML, merged over the bundled catalog."),
    markdown: bool = typer.Option(False, "--markdown", help="Markdown tables."),
    rows: bool = typer.Option(True, "--rows/--no-rows", help="List every row, not only the summaries."),
    write: Path | None = typer.Option(None, "--write", help="Write the refitted constants (JSON) to this file."),
) -> None:
    """Project every published timing, print the error per row, then the cross-validated median, p90 and worst
    error per GPU class and model family, interval coverage and the worst rows (docs/projection.md)."""
    from bench.cost.catalog import load_catalog
    from bench.cost.roofline import shipped_constants
    from bench.cost.validation import constants_document, load_cases, validate, write_constants

    cat = load_catalog(catalog)
    cases = load_cases(cat, _progress, timings)
    shipped = shipped_constants()
    v = validate(cases, shipped)
    typer.echo(render(v, markdown=markdown, show_rows=rows))
    fresh = v.fit.params
    drift = max(abs(fresh[k] / shipped.meta["params"][k] - 1) for k in fresh if k in shipped.meta["params"])
    typer.echo(
        f"\nShipped constants: fitted {shipped.meta.get('fitted', '?')} to "
        f"{shipped.meta.get('inputs', {}).get('rows_fitted', '?')} rows; a refit on these rows differs by at most "
        f"{drift:.2%} per constant."
    )
    if write is not None:
        write_constants(constants_document(v, timings), write)
        typer.echo(f"wrote {write}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.command("projection-check")(projection_check_command)
