"""Shared text formatting: the one markdown table builder keeps a table a table."""

from __future__ import annotations

from bench.report.format import markdown_table, md_cell, md_escape


def test_markdown_table_escapes_pipes_and_line_breaks():
    table = markdown_table(["a|b", "c"], [["x|y", "line\nbreak\r\nend"], ["**bold** <br> ok", 3]])
    assert table.splitlines() == [
        "| a\\|b | c |",
        "|---|---|",
        "| x\\|y | line break end |",
        "| **bold** <br> ok | 3 |",
    ]


def test_markdown_table_does_not_escape_twice():
    # md_escape'd user text already has its pipes escaped; the table leaves them alone
    assert md_cell(md_escape("run|key")) == "run\\|key"
    assert markdown_table(["h"], [[md_escape("a|b")]]).splitlines()[-1] == "| a\\|b |"
    assert markdown_table(["h"], []) == "| h |\n|---|"
