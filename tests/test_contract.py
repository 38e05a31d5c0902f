"""The DESIGN.md contract program runs unchanged and its assertions hold.

The program is read from ``../shared/DESIGN.md`` (next to the repository) when
that exists, else from the README. The README and the docs quickstart must show
the same program, and what they show must run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import microkit as mk

ROOT = Path(__file__).resolve().parent.parent
DESIGN = ROOT.parent / "shared" / "DESIGN.md"
README = ROOT / "README.md"
DOCS = ROOT / "docs"
BLOCKS = re.compile(r"```python\n(.*?)```", re.DOTALL)


def contract_in(path: Path) -> str | None:
    """The first Python block of ``path`` that opens a market and verifies its ledger."""
    if not path.exists():
        return None
    for block in BLOCKS.findall(path.read_text(encoding="utf-8")):
        if "Marketplace.open(" in block and "market.ledger.verify().ok" in block:
            return str(block)
    return None


def contract_program() -> str:
    program = contract_in(DESIGN) or contract_in(README)
    assert program, f"no contract program in {DESIGN} or {README}"
    return program


def run(program: str, cwd: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    monkeypatch.chdir(cwd)
    namespace: dict[str, object] = {"__name__": "__contract__"}
    exec(compile(program, "contract", "exec"), namespace)
    return namespace


def test_contract_program_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    namespace = run(contract_program(), tmp_path, monkeypatch)
    market, order = namespace["market"], namespace["order"]
    assert isinstance(market, mk.Marketplace) and isinstance(order, mk.Order)
    assert market.orders.get(order.id).state == "completed"
    assert market.ledger.verify().ok
    assert (tmp_path / "market.db").exists()
    market.close()


COPIES = [
    pytest.param(README, id="README.md"),
    pytest.param(DOCS / "quickstart.md", id="docs/quickstart.md"),
]


@pytest.mark.parametrize("path", COPIES)
def test_published_copies_show_the_contract_program(path: Path) -> None:
    design, copy = contract_in(DESIGN), contract_in(path)
    if design is None:
        pytest.skip(f"no {DESIGN} to compare with")
    assert copy == design, f"{path.name} does not show the DESIGN.md contract program"


@pytest.mark.parametrize("path", [README, DOCS / "quickstart.md"], ids=lambda p: p.name)
def test_published_programs_run(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    program = contract_in(path)
    if program is None:
        pytest.skip(f"{path.name} shows no program yet")
    market = run(program, tmp_path, monkeypatch)["market"]
    assert isinstance(market, mk.Marketplace) and market.ledger.verify().ok
    market.close()
