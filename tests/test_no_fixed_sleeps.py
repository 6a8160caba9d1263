"""The suite's rule "no fixed sleeps where polling works" (issue 12 section 4), read from the test code: a
test that sleeps a fixed half second or more (`asyncio.sleep(N)`, `time.sleep(N)`, Playwright's
`page.wait_for_timeout(ms)`) waits for something it could poll for (`wait_until`, `poll`, `expect(...)`),
and costs the suite that time on every run, or flakes when the machine is slower.

A sleep that is the point of the test (time must pass with nothing happening, media must flow) is listed
below with the reason; a new one must be made a poll, or listed here with its own reason. Sleeps of a
variable (`asyncio.sleep(interval)`) are the fakes' simulated durations and are not read.
"""
from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
LIMIT = 0.5  # seconds; a shorter sleep is a yield or a fake's latency
SLEEPS = {("asyncio", "sleep"): 1, ("time", "sleep"): 1, ("page", "wait_for_timeout"): 1000}

# (file under tests/, the call as written): why it must be a fixed wait.
ALLOWED = {
    ("integration/test_restarts.py", "asyncio.sleep(2)"):
        "the rebuilt call talks a while after the restart, so its recording is shown to span it",
    ("integration/test_restarts.py", "asyncio.sleep(3)"):
        "no controller runs: the calls go on while nobody watches, the point of the test",
    ("integration/test_restarts.py", "asyncio.sleep(1)"):
        "the patient, then a second later the agent, hang up while no controller runs",
    ("integration/test_restarts.py", "asyncio.sleep(10)"):
        "the row must end when the call did, not when the controller came back 10 s later",
    ("integration/test_monitoring.py", "asyncio.sleep(3)"):
        "the supervisor's phone sends its tone for a while into the monitored call",
    ("integration/test_campaign_progressive.py", "asyncio.sleep(4)"):
        "nothing may be dialed while no agent is free: an absence, which no poll can show",
    ("integration/test_call_controls.py", "asyncio.sleep(3)"):
        "the click-to-dial call talks a few seconds before the agent hangs up: its recording must last > 2 s",
    ("unit/test_queue_music.py", "asyncio.sleep(30)"):
        "not a wait: the stand-in for an announcer task, which the test cancels",
    ("unit/test_ari_client.py", "asyncio.sleep(0.6)"):
        "with nothing listening the client keeps retrying for a while and never raises: an absence",
    ("unit/test_recording.py", "asyncio.sleep(0.5)"):
        "the fake Asterisk writes the recording's file half a second late, as after a reconciliation",
}


def _called(node: ast.Call) -> tuple[str | None, str | None]:
    func = node.func
    if not isinstance(func, ast.Attribute):
        return None, None
    owner = func.value
    owner_name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) \
        else None
    return owner_name, func.attr


def fixed_sleeps(source: str) -> list[str]:
    """The calls of `source` that sleep a constant LIMIT seconds or more, as written."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        called = _called(node)
        if called[1] == "wait_for_timeout":
            called = ("page", "wait_for_timeout")  # any page or frame
        per_second = SLEEPS.get(called)
        if per_second is None:
            continue
        try:
            value = ast.literal_eval(node.args[0])
        except ValueError:
            continue  # a variable: a fake's simulated duration
        if isinstance(value, int | float) and value / per_second >= LIMIT:
            found.append((node.lineno, ast.unparse(node)))
    return [call for _, call in sorted(found)]


def test_given_sample_sources_when_read_then_fixed_sleeps_of_half_a_second_or_more_are_found():
    source = ("import asyncio, time\nasync def t(page, every):\n    await asyncio.sleep(0)\n"
              "    await asyncio.sleep(0.05)\n    await asyncio.sleep(every)\n    time.sleep(0.5)\n"
              "    await asyncio.sleep(2)\n    page.wait_for_timeout(20)\n"
              "    self.page.wait_for_timeout(1500)\n")

    assert fixed_sleeps(source) == ["time.sleep(0.5)", "asyncio.sleep(2)", "self.page.wait_for_timeout(1500)"]


def test_given_the_test_suite_when_read_then_no_fixed_sleep_outside_the_commented_allow_list():
    found = {(path.relative_to(TESTS).as_posix(), call)
             for path in TESTS.rglob("*.py") for call in fixed_sleeps(path.read_text(encoding="utf-8"))}

    assert sorted(found - set(ALLOWED)) == [], "poll for what the test waits for, or list it with why"
    assert sorted(set(ALLOWED) - found) == [], "a listed sleep is gone: take it off the list"
