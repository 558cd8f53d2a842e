"""The self-contained HTML report: one file, figures inline as SVG, no network, no external files.

Rendered with jinja2 under ``autoescape=True``: every string from scenario or results files is
escaped. The only markup inserted unescaped is the figures' SVG, which this package generates.
A Content-Security-Policy in the page allows exactly one script, the table sorter below, by its
SHA-256 hash, and forbids loading anything from anywhere, so even a missed escape could not run.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Sequence
from importlib import resources

import jinja2
from markupsafe import Markup

from bench.cost.guide import WORKLOAD_HEADERS
from bench.report.answer import ANSWER_HEADERS
from bench.report.data import ReportData
from bench.report.figures import FigureSvg
from bench.report.format import fmt_num

TEMPLATE = "report.html.j2"
SORT_FILTER_SCRIPT = """
(function () {
  "use strict";
  var table = document.getElementById("summary");
  var input = document.getElementById("summary-filter");
  var status = document.getElementById("summary-status");
  var count = document.getElementById("summary-count");
  if (!table || !input || !status || !count) { return; }
  var body = table.tBodies[0];
  var heads = table.tHead.rows[0].cells;
  var direction = {};
  function key(row, i) {
    var cell = row.cells[i];
    var v = cell.getAttribute("data-v");
    if (v !== null) { return v === "" ? null : parseFloat(v); }
    return cell.textContent.trim().toLowerCase();
  }
  function compare(a, b, dir) {
    if (a === null || b === null) { return a === b ? 0 : (a === null ? 1 : -1); }
    return (a < b ? -1 : a > b ? 1 : 0) * dir;
  }
  function sortBy(i) {
    var dir = direction[i] = direction[i] === 1 ? -1 : 1;
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) { return compare(key(a, i), key(b, i), dir); });
    rows.forEach(function (r) { body.appendChild(r); });
    for (var j = 0; j < heads.length; j++) { heads[j].removeAttribute("aria-sort"); }
    heads[i].setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
  }
  function filter() {
    var q = input.value.trim().toLowerCase();
    var s = status.value;
    var shown = 0;
    for (var r = 0; r < body.rows.length; r++) {
      var row = body.rows[r];
      var st = row.getAttribute("data-status");
      var okStatus = s === "" || (s === "failed" ? st !== "ok" : st === s);
      var hide = !okStatus || (q !== "" && row.textContent.toLowerCase().indexOf(q) < 0);
      row.hidden = hide;
      if (!hide) { shown++; }
    }
    count.textContent = shown + " of " + body.rows.length + " runs shown";
  }
  Array.prototype.forEach.call(heads, function (h, i) {
    h.tabIndex = 0;
    h.addEventListener("click", function () { sortBy(i); });
    h.addEventListener("keydown", function (e) { if (e.key === "Enter") { sortBy(i); } });
  });
  input.addEventListener("input", filter);
  status.addEventListener("change", filter);
  filter();
})();
"""


def csp_hash(script: str) -> str:
    """The CSP source expression that allows exactly this inline script (``'sha256-…'``)."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


@functools.cache
def environment() -> jinja2.Environment:
    """The jinja2 environment: autoescape on, undefined names are errors, templates from the package."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bench.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = fmt_num
    return env


def stylesheet() -> Markup:
    """The report's stylesheet (``templates/report.css``), shared by every page kbench writes."""
    return Markup(resources.files("bench.report").joinpath("templates", "report.css").read_text(encoding="utf-8"))


def render_html(data: ReportData, figures: Sequence[FigureSvg], serving: Markup | None = None) -> str:
    """Render the whole report page as one string (``serving``: the escaped serving section, if any)."""
    return (
        environment()
        .get_template(TEMPLATE)
        .render(
            data=data,
            figures=[(f, Markup(f.svg)) for f in figures],  # SVG made by bench.report.figures, not user text
            serving=serving or Markup(""),  # bench.report.serving_render escapes every value in it
            workload_headers=WORKLOAD_HEADERS,
            answer_headers=ANSWER_HEADERS,
            script=Markup(SORT_FILTER_SCRIPT),
            script_hash=Markup(csp_hash(SORT_FILTER_SCRIPT)),  # base64 and quotes: safe in the attribute
            cost_notes=sorted({r.cost_note for r in data.rows if r.usd_per_1k_images is None and r.status == "ok"}),
        )
    )


__all__ = ["SORT_FILTER_SCRIPT", "csp_hash", "environment", "render_html", "stylesheet"]
