"""Every table fits the terminal: 100 columns here (URLs in footnotes excepted), and --wide leaves nothing out."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "reports" / "example" / "default.jsonl"
COMMANDS = {
    "recommend": ["recommend", "--model", "kandinsky-3", "--resolution", "1024x1024", "--session-images", "500"],
    "gpus": ["gpus"],
    "prices-show": ["prices", "show"],
    "cost": ["cost", str(EXAMPLE), "--session-images", "100"],
    "flops": ["flops", "--model", "kandinsky-2.2", "--model", "kandinsky-3"],
    "compare-models": ["compare-models", "--gpu", "rtx4090", "--gpu", "a100-80gb-sxm", "--model", "kandinsky-3"],
}


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_tables_fit_the_terminal_and_wide_shows_every_column(name, monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "100")
    assert main(COMMANDS[name]) == 0
    lines = capsys.readouterr().out.splitlines()
    over = [line for line in lines if len(line) > 100 and not line.lstrip().startswith(("http://", "https://"))]
    assert over == [], over[:3]
    assert main(["--wide", *COMMANDS[name]]) == 0
    wide = capsys.readouterr().out
    assert "left out to fit" not in wide and "…" not in wide  # nothing dropped or cut under --wide
