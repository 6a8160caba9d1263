"""The one vocabulary of call states and event types (vocabulary.py) against the code that uses it."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import callcenter.main  # noqa: F401  (imports every package, so every state class is defined)
from callcenter import vocabulary
from callcenter.calls.state import CallState
from callcenter.kpi.compute import FOLDED_TYPES, NO_DATA

SOURCE = Path(callcenter.main.__file__).resolve().parent
# Where the code names an event type: call.log("x"), events.event(call_id, "x"), port.record("x" or "y"),
# a triage fact, a CallEvent row written directly.
WRITERS = [
    re.compile(r'\.log\(\s*"(\w+)"'),
    re.compile(r'\.event\(\s*[^,()]+,\s*"(\w+)"'),
    re.compile(r'\.record\(\s*((?:"\w+"(?:\s+if\s+[^,]+?\s+else\s+)?)+)'),
    re.compile(r'_fact\(\s*"(\w+)"'),
    re.compile(r'CallEvent\((?:[^()]|\([^()]*\))*?type="(\w+)"', re.S),
]


def written_types() -> dict[str, str]:
    """Every event type literal the source writes, with one place it is written."""
    found = {}
    for path in sorted(SOURCE.rglob("*.py")):
        text = path.read_text()
        for pattern in WRITERS:
            for match in pattern.finditer(text):
                for name in re.findall(r'"(\w+)"', match.group(0).split("(", 1)[1]) or [match.group(1)]:
                    line = text[:match.start()].count("\n") + 1
                    found.setdefault(name, f"{path.relative_to(SOURCE)}:{line}")
    return found


def test_given_the_kpi_fold_when_read_then_every_event_type_it_handles_is_a_known_type():
    assert set(FOLDED_TYPES) - vocabulary.EVENT_TYPES == set()
    assert NO_DATA <= set(FOLDED_TYPES)


def test_given_the_source_when_grepped_then_every_event_type_written_is_in_the_vocabulary():
    written = written_types()

    assert len(written) > 40, "the patterns no longer find the writers"
    unknown = {name: where for name, where in written.items() if name not in vocabulary.EVENT_TYPES}
    assert unknown == {}


def test_given_every_call_state_class_when_listed_then_its_name_is_in_the_vocabulary():
    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)
    names = {cls.name for cls in subclasses(CallState) if "name" in vars(cls)}

    assert {"connected", "held", "consulting", "offering", "campaign_ringing_agent"} <= names
    assert names - vocabulary.CALL_STATES == set()


def test_given_state_groups_when_read_then_held_and_consulting_have_an_agent_only_connected_monitored():
    assert {"offering", "connected", "held", "consulting"} <= vocabulary.WITH_AGENT
    assert vocabulary.AGENT_ON_CALL == {"connected", "held", "consulting"}
    assert vocabulary.MONITORABLE == {"connected"}
    assert vocabulary.WITH_AGENT | vocabulary.IN_IVR | {"queued"} <= vocabulary.LIVE
    assert "ended" not in vocabulary.LIVE


async def test_given_an_unknown_event_type_when_logged_then_the_event_log_refuses_it(events):
    with pytest.raises(ValueError, match="unknown call event type"):
        events.event("c" * 32, "conected")
    events.event("c" * 32, "connected")
