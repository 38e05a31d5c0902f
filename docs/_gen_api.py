"""Generate docs/api.md and the field table in docs/configuration.md by introspection.

Usage (from the repository root): ``python docs/_gen_api.py [--check]``

* ``docs/api.md``: Marketplace and every ``market.<facade>`` with each public
  method's signature and docstring (Args / Returns / Raises), then the other
  names ``microkit`` exports and the error tree.
* ``docs/configuration.md``: the block between the CONFIG TABLE markers,
  every ``MarketConfig`` field with its ``#:`` comment, default and the
  ``khamsat()`` / ``microlibya()`` values.

Rerun it whenever the public API or MarketConfig changes and commit the
result. ``--check`` writes nothing and exits 1 when a file is out of date.
"""

from __future__ import annotations

import datetime as dt
import inspect
import pathlib
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

import attrs

import microkit
from microkit import errors
from microkit.config import MarketConfig

DOCS = pathlib.Path(__file__).resolve().parent
API = DOCS / "api.md"
CONFIGURATION = DOCS / "configuration.md"
BEGIN_CONFIG = "<!-- BEGIN GENERATED CONFIG TABLE -->"
END_CONFIG = "<!-- END GENERATED CONFIG TABLE -->"

#: Methods public on a facade for the package's own use (``tick`` runs the timers), not
#: part of the application API; so is any method that takes a unit of work (``Unit``).
INTERNAL_NAMES = {"run_timer"}
SECTIONS = ("Args", "Arguments", "Returns", "Raises", "Yields", "Example", "Examples")


# -- docstrings: reST-flavoured Google style to Markdown ----------------------------------


def _inline(text: str) -> str:
    text = re.sub(r":[a-z]+:`~?([^`]+)`", lambda m: f"`{m.group(1).split('.')[-1]}`"
                  if m.group(0).count("~") else f"`{m.group(1)}`", text)
    return text.replace("``", "`")


def doc_to_markdown(doc: str | None) -> str:
    """A docstring as Markdown: paragraphs kept, Args/Returns/Raises as lists."""
    if not doc:
        return ""
    lines = inspect.cleandoc(doc).splitlines()
    out: list[str] = []
    section: str | None = None
    for line in lines:
        stripped = line.strip()
        if stripped.startswith(".. versionadded::") or stripped.startswith(".. versionchanged::"):
            continue
        if stripped == "::":
            continue
        head = re.fullmatch(r"(\w+):\s*(.*)", stripped)
        if head and head.group(1) in SECTIONS and not line.startswith(" "):
            section = head.group(1)
            out.append("")
            rest = _inline(head.group(2))
            out.append(f"**{section}:**" + (f" {rest}" if rest else ""))
            if not rest:
                out.append("")
            continue
        if section and line.startswith("    ") and not line.startswith("        "):
            item = re.fullmatch(r"(\*{0,2}[\w.]+(?: \([^)]*\))?):\s*(.*)", stripped)
            if item:
                out.append(f"- `{item.group(1)}`: {_inline(item.group(2))}")
                continue
            out.append(f"- {_inline(stripped)}")
            continue
        if section and line.startswith("        "):
            out[-1] += " " + _inline(stripped)
            continue
        if not stripped:
            section = None if section and not out[-1].startswith("- ") else section
            out.append("")
            continue
        if not line.startswith(" "):
            section = None
        out.append(_inline(stripped))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()


# -- signatures ----------------------------------------------------------------------------


def _annotation(ann: Any) -> str:
    if ann is inspect.Parameter.empty:
        return ""
    return ann if isinstance(ann, str) else inspect.formatannotation(ann)


def signature(name: str, func: Callable[..., Any]) -> str:
    """``name(a: int, *, by: Actor) -> Order`` without ``self`` or ``cls``."""
    sig = inspect.signature(func)
    parts: list[str] = []
    star_done = False
    for param in sig.parameters.values():
        if param.name in ("self", "cls"):
            continue
        text = param.name
        if param.kind is param.VAR_POSITIONAL:
            text, star_done = "*" + text, True
        elif param.kind is param.VAR_KEYWORD:
            text = "**" + text
        elif param.kind is param.KEYWORD_ONLY and not star_done:
            parts.append("*")
            star_done = True
        ann = _annotation(param.annotation)
        if ann:
            text += f": {ann}"
        if param.default is not inspect.Parameter.empty:
            text += (" = " if ann else "=") + repr(param.default)
        parts.append(text)
    ret = _annotation(sig.return_annotation)
    return f"{name}({', '.join(parts)})" + (f" -> {ret}" if ret else "")


def internal(name: str, value: object) -> bool:
    """Whether a public-looking member is package plumbing (see :data:`INTERNAL_NAMES`)."""
    if name.startswith("_") or name in INTERNAL_NAMES:
        return True
    func = getattr(value, "__func__", value)
    if not inspect.isfunction(func):
        return False
    return any(_annotation(p.annotation) == "Unit"
               for p in inspect.signature(func).parameters.values())


def members(cls: type) -> Iterator[tuple[str, Any]]:
    """Public methods and properties in definition order."""
    for name, value in vars(cls).items():
        if internal(name, value):
            continue
        if isinstance(value, (classmethod, staticmethod)):
            yield name, value.__func__
        elif isinstance(value, property) or inspect.isfunction(value):
            yield name, value


def render_class(title: str, cls: type, prefix: str, out: list[str]) -> None:
    """Append ``cls``'s section; method signatures are shown as ``{prefix}{name}(…)``."""
    out += [f"## {title}", "", doc_to_markdown(cls.__doc__), ""]
    for name, member in members(cls):
        if isinstance(member, property):
            ret = _annotation(inspect.signature(member.fget).return_annotation) if member.fget \
                else ""
            out += [f"### `{name}`" + (f" → `{ret}`" if ret else "") + " *(property)*", ""]
            out += [doc_to_markdown(member.__doc__), ""]
            continue
        shown = f"Marketplace.{name}" if isinstance(vars(cls)[name], classmethod) \
            else prefix + name
        out += [f"### `{name}`", "", "```python", signature(shown, member), "```", ""]
        out += [doc_to_markdown(member.__doc__), ""]


def facades() -> list[tuple[str, type]]:
    """``(attribute, class)`` for every facade a market has, in the order it sets them."""
    market = microkit.Marketplace.open(
        "memory://", config=MarketConfig.khamsat(), load_entry_points=False
    )
    try:
        return [(name, type(value)) for name, value in vars(market).items()
                if not name.startswith("_") and type(value).__name__.endswith("Facade")]
    finally:
        market.close()


def _kind(obj: object) -> str:
    if isinstance(obj, type):
        if issubclass(obj, BaseException):
            return "error"
        return "class"
    if callable(obj):
        return "function"
    return type(obj).__name__


def api_markdown() -> str:
    out = [
        "# API reference",
        "",
        "<!-- Generated by docs/_gen_api.py from the code; edit the docstrings, not this"
        " file. -->",
        "",
        "Everything here is new in 0.1. Commands take the subject id first, `by=` an",
        "[`Actor`](#other-public-names), and keyword arguments after; they return frozen",
        "snapshots. A command that raises changes nothing.",
        "",
        "```python",
        "import microkit as mk",
        'market = mk.Marketplace.open("sqlite:///market.db", config=mk.MarketConfig.khamsat())',
        "```",
        "",
    ]
    render_class("Marketplace", microkit.Marketplace, "market.", out)
    for attr, cls in facades():
        render_class(f"market.{attr} — `{cls.__name__}`", cls, f"market.{attr}.", out)
    out += ["## Other public names", "", "Exported by `microkit` (`microkit.__all__`).", "",
            "| name | kind | summary |", "|---|---|---|"]
    for name in microkit.__all__:
        obj = getattr(microkit, name)
        summary = (inspect.getdoc(obj) or "").split("\n\n")[0].replace("\n", " ")
        if not isinstance(obj, type) and not callable(obj):
            summary = ""
        out.append(f"| `{name}` | {_kind(obj)} | {_inline(summary).replace('|', '/')} |")
    tree = (errors.__doc__ or "").split("::", 1)[-1].split("\n\n\n")[0]
    tree_lines = inspect.cleandoc(tree.split("\nEvery error")[0]).splitlines()
    out += ["", "## Errors", "", "```text", *tree_lines, "```", "",
            "Every error carries its context as keyword-only attributes (`field` and `value`",
            "on `ValidationError`, `state` and `allowed` on `InvalidTransition`, …) and its",
            "message states what was expected and what came in. Every command checks its",
            "`by` first: anything but an `Actor` (None only where None is the default) is a",
            "`ValidationError` naming `by`.", ""]
    return "\n".join(out)


# -- configuration table ---------------------------------------------------------------


def _field_comments() -> dict[str, str]:
    """The ``#:`` comment above each MarketConfig field, from config.py's source."""
    source = inspect.getsource(MarketConfig).splitlines()
    comments: dict[str, str] = {}
    pending: list[str] = []
    for line in source:
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
            continue
        match = re.match(r"    (\w+):", line)
        if match and pending:
            comments[match.group(1)] = " ".join(pending)
        pending = []
    return comments


def _value(value: object) -> str:
    if value is attrs.NOTHING:
        return "*required*"
    if getattr(value, "takes_self", False):
        return "*computed from the other fields*"
    levels = getattr(value, "levels", None)
    if isinstance(levels, tuple):  # a LevelLadder: its repr is pages long
        return f"{len(levels)} levels: " + ", ".join(f"`{lvl.id}`" for lvl in levels)
    if value is None:
        return "`None`"
    if isinstance(value, dt.timedelta):
        return f"`{value!r}`".replace("datetime.", "")
    return f"`{value}`"


def config_table() -> str:
    comments = _field_comments()
    khamsat, microlibya = MarketConfig.khamsat(), MarketConfig.microlibya()
    rows = ["| field | meaning | default | `khamsat()` | `microlibya()` |",
            "|---|---|---|---|---|"]
    for field in attrs.fields(MarketConfig):
        default: object = field.default
        factory = getattr(default, "factory", None)
        if callable(factory) and not getattr(default, "takes_self", False):
            default = factory()
        meaning = _inline(comments.get(field.name, "")).replace("|", "/")
        rows.append(
            f"| `{field.name}` | {meaning} | {_value(default)} |"
            f" {_value(getattr(khamsat, field.name))} | {_value(getattr(microlibya, field.name))} |"
        )
    return "\n".join(rows)


def replace_block(text: str, begin: str, end: str, body: str) -> str:
    start = text.index(begin) + len(begin)
    stop = text.index(end, start)
    return text[:start] + "\n" + body + "\n" + text[stop:]


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    targets = [
        (API, api_markdown()),
        (CONFIGURATION, replace_block(CONFIGURATION.read_text(encoding="utf-8"), BEGIN_CONFIG,
                                      END_CONFIG, config_table())),
    ]
    for path, new in targets:
        old = path.read_text(encoding="utf-8") if path.exists() else ""
        if new == old:
            continue
        stale.append(path)
        if not check:
            path.write_text(new, encoding="utf-8")
            print(f"rewrote {path}")
    if check and stale:
        print("out of date: " + ", ".join(map(str, stale)) + "; run python docs/_gen_api.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
