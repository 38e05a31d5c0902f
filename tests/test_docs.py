"""The docs cannot drift: generated parts match the code, every example runs, the site builds.

Convention: every ```python block in README.md and docs/*.md (except the
generated api.md) is a complete program and is run here; signatures and
fragments use ```py blocks instead.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

import microkit.hooks
from microkit.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
DESIGN = ROOT.parent / "shared" / "DESIGN.md"
BEGIN, END = "<!-- BEGIN GENERATED DIAGRAM -->", "<!-- END GENERATED DIAGRAM -->"
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)


def python_blocks(path: Path) -> list[str]:
    return PYTHON_BLOCK.findall(path.read_text(encoding="utf-8"))


def run_block(code: str, name: str) -> dict[str, object]:
    namespace: dict[str, object] = {"__name__": f"__docs_{name}__"}
    exec(compile(code, name, "exec"), namespace)
    return namespace


def close_markets(namespace: dict[str, object]) -> None:
    for value in namespace.values():
        if isinstance(value, microkit.Marketplace):
            value.close()


# -- the generated diagram -------------------------------------------------------------


def test_concepts_diagram_is_the_current_cli_output(capsys: pytest.CaptureFixture[str]) -> None:
    text = (DOCS / "concepts.md").read_text(encoding="utf-8")
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    block = text[text.index(BEGIN) + len(BEGIN):text.index(END)]
    assert main(["diagram"]) == 0
    current = capsys.readouterr().out
    assert block == f"\n```mermaid\n{current}```\n", (
        "docs/concepts.md's diagram is out of date: run python docs/_gen_diagram.py"
    )


def test_gen_diagram_check_mode_agrees() -> None:
    done = subprocess.run([sys.executable, str(DOCS / "_gen_diagram.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_api_reference_and_config_table_are_current() -> None:
    """docs/api.md and the configuration table are generated: regenerate on API changes."""
    done = subprocess.run([sys.executable, str(DOCS / "_gen_api.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


# -- the quickstart is the contract program ---------------------------------------------


def quickstart_program() -> str:
    blocks = python_blocks(DOCS / "quickstart.md")
    contract = [b for b in blocks if b.startswith("import datetime as dt\nimport microkit")]
    assert len(contract) == 1, "quickstart.md must hold the DESIGN.md contract program once"
    return contract[0]


def test_quickstart_program_runs_and_its_asserts_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    program = quickstart_program()
    assert program.count("assert ") >= 6
    namespace = run_block(program, "quickstart.md")
    try:
        market = namespace["market"]
        assert isinstance(market, microkit.Marketplace)
        assert market.ledger.verify().ok
        assert (tmp_path / "market.db").is_file()
    finally:
        close_markets(namespace)


@pytest.mark.skipif(not DESIGN.is_file(), reason="../shared/DESIGN.md is not next to the repo")
def test_quickstart_program_is_the_design_contract_verbatim() -> None:
    design = DESIGN.read_text(encoding="utf-8")
    start = design.index("```python\nimport datetime as dt") + len("```python\n")
    assert quickstart_program() == design[start:design.index("```", start)]


# -- every other example runs -----------------------------------------------------------

EXAMPLE_PAGES = ["README.md", *sorted(p.name for p in DOCS.glob("*.md") if p.name != "api.md")]


@pytest.mark.parametrize("page", EXAMPLE_PAGES)
def test_python_examples_run(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = ROOT / page if page == "README.md" else DOCS / page
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MICROKIT_LOAD_PLUGINS", "")  # examples must not depend on installs
    for number, code in enumerate(python_blocks(path), 1):
        namespace = run_block(code, f"{page} example {number}")
        close_markets(namespace)


def test_readme_first_screen_has_the_two_newcomer_commands() -> None:
    first_screen = "\n".join(
        (ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:25]
    )
    assert "python -m pip install -e '.[test]' && python -m microkit demo" in first_screen
    assert "python -m pytest" in first_screen


# -- plugins.md documents every hook -----------------------------------------------------


def hookspecs() -> list[str]:
    return sorted(
        name for name, value in vars(microkit.hooks).items()
        if name.startswith("microkit_") and inspect.isfunction(value)
    )


def test_every_hookspec_has_a_heading_in_plugins_md() -> None:
    text = (DOCS / "plugins.md").read_text(encoding="utf-8")
    headings = {
        m.group(1) for m in re.finditer(r"^#{2,4} `?(microkit_\w+)`?\s*$", text, re.M)
    }
    specs = hookspecs()
    assert {"microkit_open_storage", "microkit_payment_gateways", "microkit_on_event"} <= set(
        specs
    )
    missing = sorted(set(specs) - headings)
    assert not missing, f"docs/plugins.md has no heading for hookspec(s): {missing}"


# -- generated reference and the site ----------------------------------------------------


def test_gen_api_runs_and_covers_every_facade() -> None:
    gen = runpy.run_path(str(DOCS / "_gen_api.py"), run_name="_gen_api")
    text = gen["api_markdown"]()
    for attr, cls in gen["facades"]():
        assert f"## market.{attr} — `{cls.__name__}`" in text
    table = gen["config_table"]()
    assert "| `commission_rate` |" in table


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason="mkdocs not installed")
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
         str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "concepts" / "index.html").is_file()
    assert not list((tmp_path / "site").rglob("_gen_*.py"))
