"""Raw ARI event JSON stays in the ARI module (issue 12 section 1, "typed ARI events"): `ari/events.py` parses
each event once into a small frozen object, and the calls, campaigns and supervision packages (their call
states, roles and services) read those objects' fields, never `event["channel"]["id"]` or
`message.get("peer")` on the JSON. Read from the source, as tests/unit/test_import_graph.py reads imports.

What is flagged: a subscript or `.get()` with a constant key that is a field of ARI's events (`channel`,
`peer`, `dialstatus`, `playback`...), or any constant key read from a value named like an event (`event`,
`raw`, `message`...). Not flagged: a request's query (`request.query.get("channel")`) and the data of our
own call event log (`e.data.get("recording")`), which are no ARI JSON."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("calls", "campaigns", "supervision")
# Fields of ARI's event JSON (Asterisk's ARI events: StasisStart, Dial, PlaybackFinished, RecordingFinished,
# ChannelDtmfReceived, ChannelHangupRequest, ChannelDestroyed...).
EVENT_FIELDS = frozenset({"channel", "peer", "caller", "dialstatus", "dialstring", "forwarded", "playback",
                          "recording", "digit", "duration_ms", "cause", "cause_txt", "args", "application",
                          "dialplan", "replace_channel", "target_uri", "soft"})
# Names a raw event goes by; a constant key read from one is raw JSON whatever the key.
EVENT_NAMES = frozenset({"event", "raw", "message", "msg", "payload", "ev"})


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, ast.Subscript | ast.Call):
        node = node.value if isinstance(node, ast.Subscript) else node.func
        if isinstance(node, ast.Attribute) and node.attr == "get":
            node = node.value
    if isinstance(node, ast.Attribute):  # self.raw, start.event
        return node.attr
    return node.id if isinstance(node, ast.Name) else None


def _not_ari_json(value: ast.AST) -> bool:
    """A request's query or match_info, or the `data` of our own call event log rows."""
    return isinstance(value, ast.Attribute) and value.attr in ("query", "match_info", "data")


def _key_read(node: ast.AST) -> tuple[ast.AST, str] | None:
    """(the value read from, the constant key) of `x["key"]` or `x.get("key", ...)`."""
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        return node.value, node.slice.value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
            and node.args and isinstance(node.args[0], ast.Constant):
        return node.func.value, node.args[0].value
    return None


def raw_event_reads(source: str) -> list[str]:
    """Where `source` reads raw ARI event JSON, as `line N: code` (the longest such read of each line)."""
    found: dict[int, str] = {}
    for node in ast.walk(ast.parse(source)):
        read = _key_read(node)
        if read is None or not isinstance(read[1], str) or _not_ari_json(read[0]):
            continue
        value, key = read
        if key in EVENT_FIELDS or _root_name(value) in EVENT_NAMES:
            code = ast.unparse(node)
            found[node.lineno] = max(found.get(node.lineno, ""), code, key=len)
    return [f"line {line}: {code}" for line, code in sorted(found.items())]


def test_given_sample_sources_when_read_then_raw_event_json_is_found_and_typed_fields_are_not():
    source = ("def on_dial(self, event, request, e):\n"
              "    peer = event['peer']['id']\n"                  # raw: an ARI field
              "    status = event.get('dialstatus')\n"            # raw: an ARI field
              "    kind = message['type']\n"                      # raw: read from an event's name
              "    leg = self.raw.get('channel', {}).get('id')\n"  # raw: an ARI field
              "    ok = event.peer.id, event.outcome\n"            # typed: fine
              "    wanted = request.query.get('channel')\n"        # a query string: fine
              "    done = e.data.get('recording')\n"               # our own event log: fine
              "    bridge = b['id']\n")                            # a bridge listing's id: fine

    assert raw_event_reads(source) == [
        "line 2: event['peer']['id']", "line 3: event.get('dialstatus')", "line 4: message['type']",
        "line 5: self.raw.get('channel', {}).get('id')"]


@pytest.mark.parametrize("package", PACKAGES)
def test_given_the_call_packages_when_read_then_no_state_or_service_reads_raw_event_json(package):
    paths = sorted((ROOT / "callcenter" / package).rglob("*.py"))
    assert paths, f"callcenter/{package} was read"

    found = [f"{path.relative_to(ROOT)} {line}" for path in paths
             for line in raw_event_reads(path.read_text(encoding="utf-8"))]

    assert found == [], "read the typed event of callcenter/ari/events.py instead"
