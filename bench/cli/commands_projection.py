"""``kbench projection-check``: the projection against every published timing, with its cross-validated error, and
(``--vram``) the VRAM estimate against every published peak."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import typer

from bench.cli.tables import Footnotes, format_table, terminal_width, wrap_notes
from bench.report.format import markdown_table

if TYPE_CHECKING:
    from bench.cost.recommend import GuideVramCheck
    from bench.cost.validation import Validation, VramCheck

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


def _table(
    headers: list[str],
    rows: list[list[str]],
    markdown: bool,
    shrink: list[int] | None = None,
    optional: list[int] | None = None,
) -> str:
    if markdown:  # a blank line after the title line: Markdown renders a table only after one
        return "\n" + markdown_table(headers, rows)
    # by default the right-most columns go first at a narrow width
    optional = optional if optional is not None else list(range(len(headers) - 1, 3, -1))
    return format_table(headers, rows, width=terminal_width(), shrink=shrink or [0], optional=optional)


def _prose(text: str, markdown: bool) -> list[str]:
    """A sentence of the report: whole in Markdown (the page wraps it), else wrapped to the terminal's width."""
    return [text] if markdown else wrap_notes([text])


def _measure(row: Any) -> str:
    memory = "" if row.memory == "none" else f" {row.memory}"
    return f"{row.measure}{memory}{' tf32' if row.tf32 else ''}"


def render(v: Validation, markdown: bool = False, show_rows: bool = True) -> str:
    """The report: rows, cross-validated summaries overall / per GPU class / per model family, coverage, worst."""
    from bench.cost.validation import gpu_class, row_model_family

    out: list[str] = []
    headers = ["row", "GPU", "model", "measure", "published s", "projected s", "error", "CV GPU", "CV model", "before"]
    if show_rows:
        for use, title in [("fit", "Fitted rows"), ("exclude", "Compiled / engine rows (not fitted)"),
                           ("check", "Rows not fitted: setup unknown, or fp32")]:  # fmt: skip
            rows = [
                [
                    r.case.row.id,
                    r.case.gpu.id,
                    r.case.row.model,
                    _measure(r.case.row),
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
                # at a narrow width the cross-validated and earlier errors go first, then the labels are cut: the
                # published and projected seconds and the error stay
                table = _table(headers, rows, markdown, shrink=[0, 3, 1, 2], optional=[9, 8, 7])
                out += [f"{title}: {len(rows)}", table, ""]
    summaries = _summaries(v)
    out += [
        *_prose("Error |projected / published - 1| over the fitted rows", markdown),
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
            *_prose(f"Cross-validated error per {title}", markdown),
            _table([title, *cv_headers, "family out: median", "worst"], rows, markdown),
            "",
        ]
    cov_rows = [
        [family, _abs_pct(c["gpu"]), _abs_pct(c["model"]), _abs_pct(c["family"])]
        for family, c in v.coverage_by_family.items()
    ]
    out += [
        *_prose(
            "Interval coverage per model family (share of its held-out rows inside the band built without them)",
            markdown,
        ),
        _table(["model family", "GPU held out", "model held out", "family held out"], cov_rows, markdown),
        "",
    ]
    cov = v.coverage
    out += _prose(
        "Interval coverage of held-out rows (band from the other groups' residuals): "
        f"GPU held out {cov['leave_one_gpu_out']:.0%}, model held out {cov['leave_one_model_out']:.0%}, "
        f"model family held out {cov['leave_one_family_out']:.0%}",
        markdown,
    )
    out += ["", *_bands(v, markdown), "", *_constants(v, markdown)]
    worst = sorted(zip(v.fitted, v.cv_gpu, v.cv_model, strict=True), key=lambda z: -max(abs(z[1]), abs(z[2])))[
        :WORST_SHOWN
    ]
    out += ["", *_prose(f"The {WORST_SHOWN} worst held-out rows", markdown)]
    out.append(
        _table(
            ["row", "CV GPU", "CV model", "note"],
            [[c.row.id, _pct(float(np.expm1(g))), _pct(float(np.expm1(m))), c.row.note or "-"] for c, g, m in worst],
            markdown,
            shrink=[3, 0],
        )
    )
    return "\n".join(out)


def _summaries(v: Validation) -> list[tuple[str, dict[str, float]]]:
    """The error summaries over the fitted rows: in sample, each cross-validation, and the previous roofline."""
    from bench.cost.fit import summarise

    legacy = np.log([r.legacy_s / r.case.row.seconds for r in v.rows if r.case.row.use == "fit"])
    return [
        ("in-sample fit", summarise(v.fit.residuals)),
        ("leave-one-GPU-out", summarise(v.cv_gpu)),
        ("leave-one-model-out", summarise(v.cv_model)),
        ("leave-one-model-family-out", summarise(v.cv_family)),
        ("before (previous roofline)", summarise(legacy)),
    ]


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
    title = "Interval bands (90%; applied, a group's band is widened to at least its pool 'all')"
    return [*_prose(title, markdown), _table(["projection", "published / projected"], rows, markdown)]


def _constants(v: Validation, markdown: bool) -> list[str]:
    """The constants of a fresh fit beside their priors (``= name``: centred on that constant's fitted value)."""
    from bench.cost.fit import PARAMS

    rows = [
        [p.name, f"{v.fit.params[p.name]:.3g}", f"= {p.tied_to}" if p.tied_to else f"{p.prior:.3g}", f"{p.sigma:g}"]
        for p in PARAMS
    ]
    title = "Fitted constants and their priors (log-normal: centre, spread in log units)"
    return [*_prose(title, markdown), _table(["constant", "fitted", "prior centre", "prior spread"], rows, markdown)]


def render_vram(checks: list[VramCheck], guide: list[GuideVramCheck], markdown: bool = False) -> str:
    """The VRAM estimate against every published peak, then the deployment guide's VRAM figures checked."""
    notes = Footnotes()
    rows = [
        [c.row.id, c.row.model, c.row.dtype, c.row.resolution, str(c.row.images), c.row.memory,
         f"{c.row.peak_gib:.2f}", f"{c.estimated_gib:.2f}", _pct_tenth(c.error), c.row.basis, notes.ref(c.row.source)]
        for c in checks
    ]  # fmt: skip
    errors = np.array([abs(c.error) for c in checks])
    headers = ["row", "model", "dtype", "resolution", "images/call", "memory", "published GiB", "estimated GiB",
               "error", "basis", "source"]  # fmt: skip
    out = [
        *_prose(
            f"Peak VRAM: estimated against {len(checks)} published peaks (GiB; 'allocated' compares the allocator's "
            "peak with weights + activations, 'device' and 'reserved' with the total and its 1 GiB allowance)",
            markdown,
        ),
        "\n" + markdown_table(headers, rows)
        if markdown
        else format_table(headers, rows, width=terminal_width(), shrink=[0, 5], optional=[9, 3, 2]),
        "",
        *(f"- {line}" if markdown else line for line in wrap_notes(notes.lines(), None if not markdown else 10**6)),
        "",
        *_prose(
            f"Error (estimated / published - 1): median of its size {np.median(errors):.1%}, "
            f"worst {max(checks, key=lambda c: abs(c.error)).error:+.1%}"
            if checks
            else "no published peaks",
            markdown,
        ),
    ]
    if guide:
        title = "The deployment guide's VRAM figures against the estimate (GiB, with the allowance)"
        g_headers = ["guide row", "guide", "fp16 none", "fp16 model", "fp16 seq.", "fp32 none", "fp32 model",
                     "fp32 seq."]  # fmt: skip
        keys = [(d, m) for d in ("fp16", "fp32") for m in ("none", "model_cpu_offload", "sequential_cpu_offload")]
        g_rows = [
            [f"{g.row.model} {g.row.resolution}", f"{g.row.vram_gb:g} GB", *(f"{g.estimates_gib[k]:.1f}" for k in keys)]
            for g in guide
        ]
        if markdown:  # the verdict in its column; in a terminal, one wrapped line per row below the table
            out += [
                "",
                title,
                "\n"
                + markdown_table(
                    [*g_headers, "verdict"], [[*r, g.verdict] for r, g in zip(g_rows, guide, strict=True)]
                ),
            ]
        else:
            out += ["", *_prose(title, markdown), format_table(g_headers, g_rows, width=terminal_width(), shrink=[0])]
            out += wrap_notes([f"{r[0]}: {g.verdict}" for r, g in zip(g_rows, guide, strict=True)])
    return "\n".join(out)


def _pct_tenth(x: float) -> str:
    return f"{x:+.1%}"


def json_document(v: Validation, checks: list[VramCheck] | None, query: dict[str, Any], notes: list[str]) -> str:
    """The ``--json`` document: one row per published timing, the cross-validation tables, coverage, VRAM rows."""
    from bench.cli.json_doc import document, figure
    from bench.cost.validation import gpu_class, row_model_family

    def fraction(x: float | None) -> dict[str, Any]:
        return figure(x, "fraction", "computed")

    rows = []
    for r in v.rows:
        row = r.case.row
        rows.append(
            {
                "id": row.id,
                "gpu": r.case.gpu.id,
                "model": row.model,
                "measure": row.measure,
                "memory": row.memory,
                "dtype": row.dtype,
                "tf32": row.tf32,
                "use": row.use,
                "published_s": figure(row.seconds, "s", "measured"),
                "projected_s": figure(r.projected_s, "s", "projected"),
                "error": fraction(r.error),
                "cv_gpu_error": fraction(None if r.cv_gpu_s is None else r.cv_gpu_s / row.seconds - 1),
                "cv_model_error": fraction(None if r.cv_model_s is None else r.cv_model_s / row.seconds - 1),
                "source": row.source,
            }
        )
    cv = {
        "overall": {name: _summary_json(s) for name, s in _summaries(v)},
        "gpu_class": {g: {k: _summary_json(s) for k, s in d.items()} for g, d in v.groups(gpu_class).items()},
        "model_family": {g: {k: _summary_json(s) for k, s in d.items()} for g, d in v.groups(row_model_family).items()},
    }
    coverage = {
        "overall": {k: _number(x) for k, x in v.coverage.items()},
        "model_family": {f: {k: _number(x) for k, x in c.items()} for f, c in v.coverage_by_family.items()},
    }
    extra: dict[str, Any] = {"cross_validation": cv, "coverage": coverage}
    if checks is not None:
        extra["vram"] = [
            {
                "id": c.row.id,
                "gpu": c.row.gpu,
                "model": c.row.model,
                "dtype": c.row.dtype,
                "resolution": c.row.resolution,
                "images_per_call": c.row.images,
                "memory": c.row.memory,
                "basis": c.row.basis,
                "published": figure(c.row.peak_gib, "GiB", "measured"),
                "estimated": figure(c.estimated_gib, "GiB", "projected"),
                "error": fraction(c.error),
                "source": c.row.source,
            }
            for c in checks
        ]
    return document("projection-check", query, rows, notes, **extra)


def _number(x: float) -> float | None:
    """A number for JSON: null where none could be computed (NaN is not JSON)."""
    return None if x != x else float(x)


def _summary_json(s: dict[str, float]) -> dict[str, Any]:
    return {
        "rows": int(s["n"]),
        "median_abs_error": _number(s["median"]),
        "p90_abs_error": _number(s["p90"]),
        "worst_error": _number(s["worst"]),
    }


def projection_check_command(
    timings: Path | None = typer.Option(None, "--timings", help="A dataset of the same shape (default: bundled)."),
    catalog: Path | None = typer.Option(None, "--catalog", help="Your own GPU YAML, merged over the bundled catalog."),
    markdown: bool = typer.Option(False, "--markdown", help="Markdown tables."),
    json_out: bool = typer.Option(
        False, "--json", help="One JSON document (docs/json-output.md); wins over --markdown."
    ),
    rows: bool = typer.Option(True, "--rows/--no-rows", help="List every row, not only the summaries."),
    vram: bool = typer.Option(False, "--vram", help="Also check the VRAM estimate against published peaks."),
    vram_data: Path | None = typer.Option(
        None,
        "--vram-data",
        help="Check against this peak-memory dataset (implies --vram; the guide's figures are left out).",
    ),
    write: Path | None = typer.Option(None, "--write", help="Write the refitted constants (JSON) to this file."),
) -> None:
    """Project every published timing, print the error per row, then the cross-validated median, p90 and worst
    error per GPU class and model family, interval coverage and the worst rows; with --vram, the VRAM estimate
    against published peaks and the deployment guide's VRAM figures (docs/projection.md)."""
    from bench.cost.catalog import load_catalog
    from bench.cost.recommend import check_guide_vram
    from bench.cost.roofline import shipped_constants
    from bench.cost.validation import check_vram, constants_document, load_cases, validate, write_constants

    cat = load_catalog(catalog)
    checks = check_vram(cat, vram_data) if vram or vram_data is not None else None
    cases = load_cases(cat, _progress, timings)
    shipped = shipped_constants()
    v = validate(cases, shipped)
    fresh = v.fit.params
    drift = max(abs(fresh[k] / shipped.meta["params"][k] - 1) for k in fresh if k in shipped.meta["params"])
    shipped_note = (
        f"Shipped constants: fitted {shipped.meta.get('fitted', '?')} to "
        f"{shipped.meta.get('inputs', {}).get('rows_fitted', '?')} rows; a refit on these rows differs by at most "
        f"{drift:.2%} per constant."
    )
    if json_out:
        query = {
            "timings": str(timings) if timings else "bundled",
            "catalog": str(catalog) if catalog else "bundled",
            "vram": str(vram_data) if vram_data else ("bundled" if checks is not None else None),
        }
        typer.echo(json_document(v, checks, query, [shipped_note]))
    else:
        typer.echo(render(v, markdown=markdown, show_rows=rows))
        if checks is not None:
            guide = check_guide_vram(cat) if vram_data is None else []
            typer.echo("\n" + render_vram(checks, guide, markdown=markdown))
        typer.echo("\n" + "\n".join(_prose(shipped_note, markdown)))
    if write is not None:
        write_constants(constants_document(v, timings), write)
        typer.echo(f"wrote {write}", err=json_out)  # stdout holds only the JSON document


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""
    app.command("projection-check")(projection_check_command)
