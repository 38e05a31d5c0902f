"""The command line: ``python -m microkit demo | diagram | verify | tick | plugins``."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

import microkit as mk
import microkit.hooks
from microkit import Money
from microkit.cli import main
from microkit.demo import run_demo
from microkit.orders.process import ORDER_PROCESS

SUBCOMMANDS = ("demo", "diagram", "verify", "tick", "plugins")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo run's directory, shared by the tests that read its databases."""
    directory = tmp_path_factory.mktemp("demo")
    result = run_demo(directory, out=lambda line: None)
    assert result.ok
    return directory


# -- diagram ---------------------------------------------------------------------------


def test_diagram_names_every_transition(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diagram")
    assert code == 0
    assert out.startswith("stateDiagram-v2\n")
    assert out == ORDER_PROCESS.mermaid() + "\n"
    for transition in ORDER_PROCESS.transitions:
        assert f": {transition.name} (" in out, transition.name


def test_diagram_table_names_every_transition_and_state(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "diagram", "--format", "table")
    assert code == 0
    rows = {line.split()[0] for line in out.splitlines()[2:] if line.strip()}
    assert {t.name for t in ORDER_PROCESS.transitions} <= rows
    for state in ORDER_PROCESS.states:
        assert state in out


def test_diagram_rejects_an_unknown_format(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "diagram", "--format", "svg")
    assert code == 2
    assert "invalid choice: 'svg'" in err


# -- demo ------------------------------------------------------------------------------


def test_demo_prints_the_story_and_the_real_final_balances(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(capsys, "demo", "--dir", str(tmp_path / "out"))
    assert (code, err) == (0, "")
    lines = out.splitlines()

    def line(*parts: str) -> str:
        found = [ln for ln in lines if all(p in ln for p in parts)]
        assert found, f"no line with {parts} in:\n{out}"
        return found[0]

    usd, lyd = out.split("\n2. ")
    # Khamsat: 10 USD order, 20 % commission; cleared 14 days later.
    assert "seller   omar    available 8.00 USD   pending 0.00 USD" in usd
    assert "buyer    amal    available 0.00 USD   pending 0.00 USD" in usd
    assert "platform platform:commission 2.00 USD" in usd
    assert "outside  gateway:sandbox -10.00 USD" in usd
    assert "[2026-01-15 09:00] 14 days later" in usd
    # MicroLibya: the commission is the config's rate of 27.750 LYD, half-up to the dirham.
    config = mk.MarketConfig.microlibya()
    price = Decimal("27.750")
    commission = (price * config.commission_rate).quantize(Decimal("0.001"), ROUND_HALF_UP)
    seller = price - commission
    assert (commission, seller) == (Decimal("4.163"), Decimal("23.587"))
    assert f"seller   salem   available {seller} LYD   pending 0.000 LYD" in lyd
    assert f"platform platform:commission {commission} LYD" in lyd
    assert f"buyer    huda    available {price} LYD" in lyd  # the cancelled order's refund
    assert f"= {seller} LYD" in line("seller's share")
    # Both ledgers check out, and the story says so.
    assert out.count("ledger: ok") == 2
    assert lines[-1] == "both ledgers verified: ok"
    assert (tmp_path / "out" / "demo.db").is_file()
    assert (tmp_path / "out" / "demo-lyd.db").is_file()


def test_run_demo_returns_the_balances(demo_dir: Path) -> None:
    lines: list[str] = []
    (demo_dir / "again").mkdir()
    result = run_demo(demo_dir / "again", out=lines.append)
    assert result.ok and lines[-1] == "both ledgers verified: ok"
    usd, lyd = result.khamsat, result.microlibya
    assert usd.balances["user:omar:available"] == Money.of("8", "USD")
    assert usd.balances["user:omar:pending"] == Money.of("0", "USD")
    assert usd.balances["platform:commission"] == Money.of("2", "USD")
    assert (usd.commission, usd.seller_share) == (Money.of("2", "USD"), Money.of("8", "USD"))
    rate = mk.MarketConfig.microlibya().commission_rate
    assert lyd.commission.amount == int((27750 * rate).to_integral_value(ROUND_HALF_UP))
    assert lyd.commission + lyd.seller_share == Money.of("27.750", "LYD")
    assert lyd.balances["user:salem:available"] == lyd.seller_share
    assert lyd.balances["platform:commission"] == lyd.commission
    assert lyd.balances["user:huda:available"] == Money.of("27.750", "LYD")


def test_demo_in_a_temporary_directory_cleans_up_unless_kept(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    code, out, _ = run(capsys, "demo")
    assert code == 0
    assert list(tmp_path.iterdir()) == []
    code, out, _ = run(capsys, "demo", "--keep")
    assert code == 0
    kept = out.strip().splitlines()[-1].removeprefix("kept the demo databases in ")
    assert sorted(os.listdir(kept)) == ["demo-lyd.db", "demo.db"]


def test_demo_refuses_to_reuse_a_directory(
    capsys: pytest.CaptureFixture[str], demo_dir: Path
) -> None:
    code, out, err = run(capsys, "demo", "--dir", str(demo_dir))
    assert code == 2 and out == ""
    assert err.startswith("error: directory: expected no demo.db")


# -- verify and tick -------------------------------------------------------------------


def test_verify_the_demo_databases(capsys: pytest.CaptureFixture[str], demo_dir: Path) -> None:
    code, out, err = run(capsys, "verify", "--db", f"sqlite:///{demo_dir}/demo.db")
    assert (code, err) == (0, "")
    assert out == "ledger: ok (3 transactions, 5 accounts; every balance matches the journal)\n"
    code, out, _ = run(capsys, "verify", "--db", str(demo_dir / "demo-lyd.db"),
                       "--preset", "microlibya")
    assert code == 0 and out.startswith("ledger: ok (5 transactions")


def test_verify_exits_1_and_lists_the_problems(
    capsys: pytest.CaptureFixture[str], demo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from microkit.escrow.facade import LedgerFacade

    broken = mk.VerifyReport(False, 3, 5, (
        "account 'platform:commission': journal says 200, balance says 201",))
    monkeypatch.setattr(LedgerFacade, "verify", lambda self: broken)
    code, out, _ = run(capsys, "verify", "--db", str(demo_dir / "demo.db"))
    assert code == 1
    assert out == (
        "ledger: 1 problem(s) (3 transactions, 5 accounts)\n"
        "  - account 'platform:commission': journal says 200, balance says 201\n"
    )


def test_tick_prints_the_summary(capsys: pytest.CaptureFixture[str], demo_dir: Path) -> None:
    code, out, err = run(capsys, "tick", "--db", str(demo_dir / "demo.db"),
                         "--now", "2026-02-01T00:00:00+00:00")
    assert (code, err) == (0, "")
    assert out.startswith("tick at 2026-02-01T00:00:00+00:00: 0 timer(s) ran;")
    assert out.rstrip().endswith("dropped (their subject moved on first)")


def test_tick_runs_due_timers(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import datetime as dt

    from microkit import Actor
    from microkit.clock import FrozenClock

    clock = FrozenClock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    url = f"sqlite:///{tmp_path}/m.db"
    with mk.Marketplace.open(url, config=mk.MarketConfig.khamsat(), clock=clock,
                             load_entry_points=False) as market:
        market.users.register("amal", display_name="أمل")
        market.users.register("omar", display_name="Omar")
        staff = Actor.staff("ops")
        market.catalog.add_category("design", names={"en": "Design"}, by=staff)
        svc = market.catalog.create_service(
            by=Actor.user("omar"), category="design", title="Logo", description="A logo",
            price=Money.of("5", "USD"), delivery_days=2)
        market.catalog.approve(svc.id, by=staff)
        market.orders.place(svc.id, by=Actor.user("amal"))  # never paid: expires
    code, out, _ = run(capsys, "tick", "--db", url, "--now", "2026-01-03")
    assert code == 0
    assert out.startswith("tick at 2026-01-03T00:00:00+00:00: 1 timer(s) ran (expire ×1)")


def foreign_files(directory: Path) -> dict[str, Path]:
    """SQLite files that hold no microkit market, and a file that is not SQLite at all."""
    import sqlite3

    files = {"other table": directory / "other.db", "zero bytes": directory / "zero.db",
             "not sqlite": directory / "notes.db"}
    conn = sqlite3.connect(files["other table"])
    conn.execute("CREATE TABLE foo (x)")
    conn.commit()
    conn.close()
    files["zero bytes"].write_bytes(b"")
    files["not sqlite"].write_text("not a database\n")
    return files


@pytest.mark.parametrize("command", ["verify", "tick"])
def test_a_file_that_is_not_a_market_is_refused_and_left_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    for kind, path in foreign_files(tmp_path).items():
        before = path.read_bytes()
        code, out, err = run(capsys, command, "--db", str(path))
        assert (code, out) == (2, ""), kind
        assert err.startswith("error: db: expected a SQLite file holding a microkit market"), err
        assert path.read_bytes() == before, kind
        assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db", "other.db", "zero.db"]


@pytest.mark.parametrize("command", ["verify", "tick"])
def test_a_postgresql_schema_that_is_not_a_market_is_refused_and_left_alone(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    import _pg
    psycopg = pytest.importorskip("psycopg")

    with _pg.fresh_schema_url(_pg.require_postgres()) as url:
        code, out, err = run(capsys, command, "--db", url)
        assert (code, out) == (2, "")
        assert err.startswith(
            "error: db: expected a PostgreSQL database holding a microkit market"), err
        assert "schema_migrations" in err
        with psycopg.connect(url) as conn:
            tables = conn.execute("SELECT count(*) FROM pg_tables"
                                  " WHERE schemaname = current_schema()").fetchone()
        assert tables == (0,)
        with psycopg.connect(url, autocommit=True) as conn:  # another app's migrations
            conn.execute("CREATE TABLE schema_migrations (version bigint, dirty boolean)")
        code, out, err = run(capsys, command, "--db", url)
        assert (code, out) == (2, "")
        assert err.startswith(
            "error: db: expected a PostgreSQL database holding a microkit market"), err
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM pg_tables"
                                " WHERE schemaname = current_schema()").fetchone() == (1,)
            conn.execute("DROP TABLE schema_migrations")
        with mk.Marketplace.open(url, config=mk.MarketConfig.khamsat(),
                                 load_entry_points=False):
            pass  # now it holds one
        code, out, err = run(capsys, command, "--db", url, "--now", "2026-01-01") \
            if command == "tick" else run(capsys, command, "--db", url)
        assert (code, err) == (0, ""), err


def test_a_market_opened_with_another_currency_is_refused(
    capsys: pytest.CaptureFixture[str], demo_dir: Path
) -> None:
    lyd = str(demo_dir / "demo-lyd.db")
    code, out, err = run(capsys, "tick", "--db", lyd, "--now", "2026-02-01")  # khamsat: USD
    assert (code, out) == (2, "")
    assert err.startswith("error: currency: ") and "LYD" in err and "USD" in err, err
    code, _, _ = run(capsys, "verify", "--db", lyd, "--preset", "microlibya")
    assert code == 0


# -- plugins ---------------------------------------------------------------------------


def test_plugins_lists_builtins_hooks_and_gateways(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "plugins", "--no-entry-points")
    assert (code, err) == (0, "")
    assert "microkit._builtins" in out
    for hook in sorted(n for n in vars(microkit.hooks) if n.startswith("microkit_")):
        assert f"  {hook}:" in out
    gateways = out.split("gateways (for a USD market):\n")[1].split("payout methods")[0]
    listed = {line.split()[0]: line.split()[1] for line in gateways.splitlines()}
    assert listed["balance"] == "microkit.payments.builtin.BalanceGateway"
    assert listed["sandbox"] == "microkit.payments.builtin.SandboxGateway"
    methods = out.split("payout methods (for a USD market):\n")[1].split("entry points")[0]
    assert methods.strip(), out
    assert "entry points (group 'microkit'):" in out


def test_plugins_loads_entry_points_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plugins", "--preset", "microlibya")
    assert code == 0 and "gateways (for a LYD market):" in out


def test_plugins_reports_an_entry_point_that_does_not_load(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from importlib.metadata import EntryPoint

    broken = EntryPoint(name="broken", value="no_such_module_for_microkit", group="microkit")
    monkeypatch.setattr(microkit.hooks, "entry_points",
                        lambda group: [broken] if group == "microkit" else [])
    monkeypatch.delenv("MICROKIT_LOAD_PLUGINS", raising=False)
    code, out, err = run(capsys, "plugins")
    assert (code, out) == (2, "")
    assert err.startswith("error: entry point 'broken'") and "ModuleNotFoundError" in err


# -- help and errors -------------------------------------------------------------------


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_help_for_each_subcommand(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert out.startswith(f"usage: microkit {command}")


def test_top_level_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in SUBCOMMANDS:
        assert f"    {command} " in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["verify", "--db", "/nonexistent/market.db"], "error: db: expected an existing SQLite"),
        (["verify", "--db", "nosuchscheme://x"], "error: url: no storage backend"),
        (["tick", "--db", "sqlite://host/x.db"], "error: url: expected sqlite:///"),
    ],
)
def test_microkit_errors_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith(message), err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys)[0] == 2
    assert run(capsys, "frobnicate")[0] == 2
    assert run(capsys, "verify")[0] == 2  # --db is required
    code, _, err = run(capsys, "tick", "--db", "x.db", "--now", "yesterday")
    assert code == 2 and "expected an ISO 8601 date" in err


def test_python_dash_m_microkit(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "microkit", "diagram", "--format", "table"],
        capture_output=True, text=True, encoding="utf-8", check=False, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "request_revision" in done.stdout
    failed = subprocess.run(
        [sys.executable, "-m", "microkit", "verify", "--db", str(tmp_path / "none.db")],
        capture_output=True, text=True, encoding="utf-8", check=False, cwd=tmp_path,
    )
    assert failed.returncode == 2 and failed.stderr.startswith("error: ")
