"""Regenerate the order-process diagram in docs/concepts.md from the transition table.

Usage (from the repository root): ``python docs/_gen_diagram.py [--check]``

The block between the BEGIN/END markers is replaced with the output of
``python -m microkit diagram`` in a ```mermaid fence. ``--check`` changes
nothing and exits 1 when the block is out of date (tests/test_docs.py does
the same check).
"""

from __future__ import annotations

import pathlib
import sys

from microkit.cli import diagram_text

CONCEPTS = pathlib.Path(__file__).resolve().parent / "concepts.md"
BEGIN = "<!-- BEGIN GENERATED DIAGRAM -->"
END = "<!-- END GENERATED DIAGRAM -->"


def generated_block() -> str:
    """What belongs between the markers (without the markers)."""
    return "```mermaid\n" + diagram_text("mermaid") + "\n```"


def replace_block(text: str, begin: str, end: str, body: str) -> str:
    """``text`` with the part between ``begin`` and ``end`` replaced by ``body``."""
    start = text.index(begin) + len(begin)
    stop = text.index(end, start)
    return text[:start] + "\n" + body + "\n" + text[stop:]


def main(argv: list[str]) -> int:
    text = CONCEPTS.read_text(encoding="utf-8")
    new = replace_block(text, BEGIN, END, generated_block())
    if "--check" in argv:
        if new != text:
            print(f"{CONCEPTS}: the diagram is out of date; run python docs/_gen_diagram.py")
            return 1
        return 0
    if new != text:
        CONCEPTS.write_text(new, encoding="utf-8")
        print(f"rewrote the diagram in {CONCEPTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
