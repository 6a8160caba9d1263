"""One inbound HL7 v2 message: bytes -> checked header -> parsed message (python-hl7), or an `Hl7Error` that
says which NACK to send (AR: the message is refused as a whole; AE: its content cannot be applied) with the
HL7 table 0357 error code, the field at fault and a text that names fields, never their values.

Checks, in the order a sender would want them: size, a header at all, the encoding characters, the character
set (MSH-18) and that the bytes decode in it, the version (MSH-12), the message type (MSH-9), the control id
(MSH-10). Segment separators other than CR (LF, CRLF: files edited on another system) are read as CR.
"""
from __future__ import annotations

from dataclasses import dataclass

import hl7
from hl7.exceptions import ParseException

# HL7 table 0357, message error condition codes.
SEGMENT_SEQUENCE = "100"
REQUIRED_FIELD_MISSING = "101"
DATA_TYPE_ERROR = "102"
TABLE_VALUE_NOT_FOUND = "103"
UNSUPPORTED_MESSAGE_TYPE = "200"
UNSUPPORTED_EVENT = "201"
UNSUPPORTED_VERSION = "203"
DUPLICATE_KEY = "205"
INTERNAL_ERROR = "207"
ERROR_NAMES = {
    SEGMENT_SEQUENCE: "Segment sequence error", REQUIRED_FIELD_MISSING: "Required field missing",
    DATA_TYPE_ERROR: "Data type error", TABLE_VALUE_NOT_FOUND: "Table value not found",
    UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type", UNSUPPORTED_EVENT: "Unsupported event code",
    UNSUPPORTED_VERSION: "Unsupported version id", DUPLICATE_KEY: "Duplicate key identifier",
    INTERNAL_ERROR: "Application internal error"}

VERSIONS = ("2.1", "2.2", "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1",
            "2.8.2")
# MSH-18 as senders write it -> Python codec. Empty means the default, which we read as UTF-8 (ASCII is a
# subset; HL7 2.8 prefers UTF-8).
CHARSETS = {"": "utf-8", "ASCII": "ascii", "UNICODE UTF-8": "utf-8", "UTF-8": "utf-8", "8859/1": "latin-1"}
HEADER_SCAN = 2048  # the header is read from this many bytes before the whole message is decoded


@dataclass(frozen=True)
class Hl7Error(Exception):
    ack_code: str          # AR (rejected) or AE (error)
    code: str              # HL7 table 0357
    where: str             # segment-field, e.g. PID-7 ("" when the message as a whole)
    text: str              # names fields, never their values

    def __str__(self) -> str:
        return f"{self.where + ': ' if self.where else ''}{self.text}"


def reject(code: str, where: str, text: str) -> Hl7Error:
    return Hl7Error("AR", code, where, text)


def error(code: str, where: str, text: str) -> Hl7Error:
    return Hl7Error("AE", code, where, text)


@dataclass(frozen=True)
class Header:
    """What could be read of MSH, even from a message refused later: enough to address the ACK."""
    sending_application: str = ""
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    message_type: str = ""
    control_id: str = ""
    processing_id: str = "P"
    version: str = ""
    charset: str = ""

    @property
    def sender(self) -> str:
        return f"{self.sending_application}|{self.sending_facility}"


@dataclass(frozen=True)
class Inbound:
    header: Header
    message: hl7.Message
    code: str        # MSH-9.1, e.g. ADT
    event: str       # MSH-9.2, e.g. A01


def read_header(raw: bytes) -> Header:
    """The MSH fields, leniently (latin-1 never fails to decode): used for the ACK whatever else is wrong."""
    text = _segments(raw[:HEADER_SCAN].decode("latin-1")).lstrip("\ufeff\xef\xbb\xbf \t\n\x0b")
    if not text.startswith("MSH") or len(text) < 8:
        return Header()
    fields = text.split("\r", 1)[0].split(text[3])
    component = text[4] if len(text) > 4 else "^"

    def field(n: int) -> str:  # MSH-n: MSH-1 is the separator itself, so MSH-n is fields[n - 1]
        return fields[n - 1][:200] if len(fields) >= n else ""

    def first(n: int) -> str:
        return field(n).split(component)[0]

    return Header(first(3), first(4), first(5), first(6), field(9).replace(component, "^")[:32],
                  field(10)[:64], field(11)[:3] or "P", first(12)[:16], field(18).split("~")[0].strip())


def read(raw: bytes, max_bytes: int) -> Inbound:
    """The message parsed and its header checked; Hl7Error for the first problem found."""
    if len(raw) > max_bytes:
        raise reject(INTERNAL_ERROR, "", f"message larger than {max_bytes} bytes")
    header = read_header(raw)
    text = _decode(raw, header)
    _check_encoding_characters(text, header)
    _check_version(header)
    code, event = _message_type(header)
    if not header.control_id:
        raise reject(REQUIRED_FIELD_MISSING, "MSH-10", "message control id missing")
    try:
        message = hl7.parse(text)
    except (ParseException, ValueError, IndexError, AssertionError) as exc:
        raise reject(SEGMENT_SEQUENCE, "", f"not a single HL7 message ({type(exc).__name__})") from None
    return Inbound(header, message, code, event)


def _segments(text: str) -> str:
    return text.replace("\r\n", "\r").replace("\n", "\r")


def _decode(raw: bytes, header: Header) -> str:
    body = raw.removeprefix(b"\xef\xbb\xbf")
    if not body.lstrip(b" \t\r\n\x0b").startswith(b"MSH"):
        if body.lstrip().startswith((b"BHS", b"FHS")):
            raise reject(UNSUPPORTED_MESSAGE_TYPE, "", "batch and file envelopes (BHS, FHS) are not "
                                                       "taken over MLLP: send one message per block")
        raise reject(SEGMENT_SEQUENCE, "MSH", "message does not start with an MSH segment")
    codec = CHARSETS.get(header.charset.upper())
    if codec is None:
        raise reject(DATA_TYPE_ERROR, "MSH-18",
                     "character set not supported (UNICODE UTF-8, ASCII or 8859/1)")
    try:
        text = body.decode(codec)
    except UnicodeDecodeError:
        declared = f"declared {header.charset}" if header.charset else "UTF-8 by default"
        raise reject(DATA_TYPE_ERROR, "MSH-18", f"bytes are not valid in the character set ({declared})") \
            from None
    return _segments(text).strip(" \t\r\n\x0b")


def _check_encoding_characters(text: str, header: Header) -> None:
    if len(text) < 8:
        raise reject(REQUIRED_FIELD_MISSING, "MSH-2", "encoding characters missing")
    field_separator = text[3]
    end = text.find(field_separator, 4)
    characters = text[4:end] if end > 0 else text[4:]
    allowed = (4, 5) if header.version >= "2.7" else (4,)
    specials = field_separator + characters
    if (len(characters) not in allowed or len(set(specials)) != len(specials)
            or any(c.isalnum() or not (c.isascii() and c.isprintable()) or c == " " for c in specials)):
        raise reject(DATA_TYPE_ERROR, "MSH-2", "encoding characters must be 4 distinct ASCII punctuation "
                                               "characters (5 from version 2.7), none the field separator")


def _check_version(header: Header) -> None:
    if not header.version:
        raise reject(REQUIRED_FIELD_MISSING, "MSH-12", "version id missing")
    if header.version not in VERSIONS:
        raise reject(UNSUPPORTED_VERSION, "MSH-12", f"version not supported ({', '.join(VERSIONS)})")


def _message_type(header: Header) -> tuple[str, str]:
    parts = header.message_type.split("^")
    code = parts[0].strip() if parts else ""
    event = parts[1].strip() if len(parts) > 1 else ""
    if not code or not event or not (code.isalnum() and event.isalnum()) or len(code) != 3:
        raise reject(UNSUPPORTED_MESSAGE_TYPE, "MSH-9", "message type missing or malformed (e.g. ADT^A01)")
    return code.upper(), event.upper()
