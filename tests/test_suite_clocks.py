"""The suite's own rule on time: a test module that gives the product a controlled clock (a pinned instant
such as 2026-11-24 15:00, running or not) never reads the wall clock. Comparing the two passes only until the
calendar reaches the pinned date, then fails for everyone (issue 12). Elapsed time and order are measured
with time.monotonic(); "now" comes from the controlled clock.

The in-process tests are also run with the wall clock moved on (tests/conftest.py); this check covers the
tiers that cannot be (real Asterisk, the browser) by reading the test code.
"""
from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
# Calls that read the wall clock, as (object, function).
WALL_CLOCK = {("time", "time"), ("time", "time_ns"), ("time", "localtime"), ("time", "gmtime"),
              ("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today")}
WALL_CLOCK_FUNCTIONS = {"utcnow"}   # callcenter's own helpers (db.types, eventlog)


def _called(node: ast.Call) -> tuple[str | None, str | None]:
    func = node.func
    if isinstance(func, ast.Name):
        return None, func.id
    if isinstance(func, ast.Attribute):
        owner = func.value
        if isinstance(owner, ast.Name):
            return owner.id, func.attr
        return (owner.attr if isinstance(owner, ast.Attribute) else None), func.attr
    return None, None


def wall_clock_reads(tree: ast.AST) -> list[str]:
    reads: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            owner, name = _called(node)
            if (owner, name) in WALL_CLOCK or (owner is None and name in WALL_CLOCK_FUNCTIONS):
                reads.append((node.lineno, f"line {node.lineno}: {owner + '.' if owner else ''}{name}()"))
    return [read for _, read in sorted(reads)]


def controlled_clocks(tree: ast.AST) -> list[str]:
    """Where the module makes, imports or is given a controlled clock: a class ending in Clock (Clock,
    RunningClock: a pinned instant), the `clock` fixture of tests/campaigns. (A `clock=` argument alone is not
    one: `clock=lambda: now` with `now` read from the wall clock is the wall clock.)"""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name.endswith("Clock"):
            found.append(f"line {node.lineno}: class {node.name}")
        elif isinstance(node, ast.ImportFrom):
            found += [f"line {node.lineno}: imports {a.name}" for a in node.names if a.name.endswith("Clock")]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found += [f"line {node.lineno}: fixture clock" for a in node.args.args if a.arg == "clock"]
    return found


def mixed_clocks(path: Path) -> str | None:
    tree = ast.parse(path.read_text(), str(path))
    clocks, reads = controlled_clocks(tree), wall_clock_reads(tree)
    if clocks and reads:
        return (f"{path.relative_to(TESTS.parent)}: controlled clock ({clocks[0]}) and wall clock "
                f"({', '.join(reads)})")
    return None


def test_given_the_suite_when_read_then_no_module_mixes_a_controlled_clock_with_the_wall_clock():
    modules = [path for path in sorted(TESTS.rglob("*.py")) if path != Path(__file__)]
    mixed = [m for m in map(mixed_clocks, modules) if m]

    assert mixed == [], ("take 'now' from the controlled clock, measure elapsed time with time.monotonic():\n"
                         + "\n".join(mixed))


def test_given_a_module_comparing_a_pinned_clock_with_time_time_when_read_then_it_is_flagged(tmp_path):
    # The bug of issue 12, as it was written.
    module = tmp_path / "test_example.py"
    module.write_text("import time\n"
                      "from .test_campaign_dialing import START, RunningClock\n"
                      "async def test_x(center):\n"
                      "    dialer = make(clock=RunningClock(START))\n"
                      "    available_at = time.time()\n"
                      "    assert attempt.started_at.timestamp() >= available_at\n")
    tree = ast.parse(module.read_text())

    assert controlled_clocks(tree) == ["line 2: imports RunningClock"]
    assert wall_clock_reads(tree) == ["line 5: time.time()"]


def test_given_a_module_on_one_clock_when_read_then_it_passes():
    on_wall_clock = ast.parse("from callcenter.db.types import utcnow\nnow = utcnow()\nf(clock=lambda: now)")
    on_controlled_clock = ast.parse("def test_x(clock):\n    t0 = time.monotonic()\n    clock.advance()")

    assert controlled_clocks(on_wall_clock) == [] and wall_clock_reads(on_wall_clock) == ["line 2: utcnow()"]
    assert controlled_clocks(on_controlled_clock) and wall_clock_reads(on_controlled_clock) == []
