"""Reports: results (measured and projected) plus the GPU catalog turned into HTML, markdown and CSV.

Renderers return strings; only the CLI writes files. :func:`bench.report.bundle.build_report` assembles one
report; the modules here hold its rows (:mod:`.rows`), the guide's tables (:mod:`.guide`, at
:mod:`.guide_workloads`), context (:mod:`.context`), formatting (:mod:`.format`), data (:mod:`.data`), figures
and the renderers. Nothing is imported here, so the light renderers (``compare_render``) stay light.
"""
