"""`scripts/start` leaves Asterisk running when it stops (issue 12, section 3): stopping the contact center
must not drop the calls in progress; the next start rebuilds them (tests/integration/test_restarts.py shows
the rebuild). Read from the script itself: running it would provision a sandbox."""
from __future__ import annotations

import re
from pathlib import Path

START = Path(__file__).resolve().parents[1] / "scripts" / "start"


def commands(text: str) -> list[str]:
    """The script's lines that run something: comments and what `echo` prints left out."""
    lines = (re.sub(r"(^|\s)#.*$", "", line).strip() for line in text.splitlines())
    return [line for line in lines if line and not re.match(r"^(\[\[.*\]\]\s*\|\|\s*)?echo\b", line)]


def test_given_the_start_script_when_read_then_nothing_stops_asterisk_on_exit():
    script = START.read_text(encoding="utf-8")
    run = commands(script)

    assert any(line.startswith("scripts/asterisk-sandbox start") for line in run), "it starts Asterisk"
    assert not any(re.match(r"trap\b", line) for line in run), "no exit trap (it stopped Asterisk)"
    assert not any(re.search(r"asterisk-sandbox\s+stop", line) for line in run)
    assert commands("trap 'scripts/asterisk-sandbox stop --instance dev' EXIT  # was\necho stop it\n") == [
        "trap 'scripts/asterisk-sandbox stop --instance dev' EXIT"], "the reading finds what it must"
