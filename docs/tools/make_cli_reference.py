"""Write docs/cli.md, the command reference, from the command-line app (``nox -s docs``).

``--check`` writes nothing and exits 1 when the page is stale (the test suite makes the same comparison).
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench.cli import app
from bench.cli.reference import render_reference

PAGE = Path(__file__).resolve().parents[1] / "cli.md"


def main(argv: list[str]) -> int:
    text = render_reference(app)
    if "--check" in argv:
        if PAGE.read_text(encoding="utf-8") != text:
            print(f"{PAGE} is stale: run python docs/tools/make_cli_reference.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
