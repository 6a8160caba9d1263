"""The one answer to every inbound message: an original-mode ACK (MSH, MSA, and ERR when something is wrong).

Always written with the standard encoding characters (|^~\\&), whatever the sender used: a message refused
for its encoding characters must still get an answer its sender can read. Values are escaped by python-hl7.
MSA-3 repeats the error text for senders older than ERR-8 (v2.5).
"""
from __future__ import annotations

import secrets
from datetime import UTC, datetime

import hl7

from .message import ERROR_NAMES, VERSIONS, Header, Hl7Error

_STANDARD = hl7.parse("MSH|^~\\&|\r")  # its escape() escapes with the standard encoding characters
ACK_VERSION = "2.5"


def escape(value: str) -> str:
    return _STANDARD.escape(value) if value else ""


def build_ack(header: Header, code: str, problem: Hl7Error | None, *, application: str,
              facility: str) -> bytes:
    version = header.version if header.version in VERSIONS else ACK_VERSION
    parts = header.message_type.split("^")
    event = parts[1] if len(parts) > 1 and parts[1].isalnum() and len(parts[1]) <= 3 else ""
    msh = ["MSH", "^~\\&", escape(application), escape(facility), escape(header.sending_application),
           escape(header.sending_facility), datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000"), "",
           f"ACK^{event}^ACK" if event else "ACK", _control_id(), escape(header.processing_id) or "P",
           version]
    msa = ["MSA", code, escape(header.control_id)] + ([escape(problem.text)] if problem else [])
    segments = ["|".join(msh), "|".join(msa)]
    if problem:
        segments.append(_err(problem))
    return ("\r".join(segments) + "\r").encode("utf-8")


def _err(problem: Hl7Error) -> str:
    segment, _, field = problem.where.partition("-")
    location = f"{segment}^1^{field}" if field else segment
    code = f"{problem.code}^{ERROR_NAMES.get(problem.code, '')}^HL70357"
    # ERR-1 (v2.4 and before) and ERR-2 (from v2.5) both carry the location; ERR-8 the text for a person.
    return "|".join(["ERR", location, location, code, "E", "", "", "",
                     escape(str(problem))])


def _control_id() -> str:
    return "ACK" + secrets.token_hex(8).upper()
