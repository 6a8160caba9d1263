"""Reading one email a patient sent to the complaints mailbox: who sent it, its subject, its text and its
attachments, within bounds. Mail is hostile input: a message may nest parts hundreds deep, hold thousands of
parts or decode to far more than it weighs (a MIME bomb), declare charsets that do not exist or carry only
HTML. Whatever it is, reading it ends with either an `Email` or `Unreadable` saying why in words without the
message's content (those words go to the inbound log and the logs)."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parseaddr
from html.parser import HTMLParser


@dataclass(frozen=True)
class Limits:
    max_depth: int = 8                 # multipart nesting
    max_parts: int = 100               # parts in all
    max_attachment_bytes: int = 10 * 1024 * 1024   # one attachment, decoded
    max_decoded_bytes: int = 30 * 1024 * 1024      # all parts, decoded
    max_text_chars: int = 20_000       # the ticket's text (the rest stays in the raw message)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Email:
    message_key: str        # sha-256 of the Message-ID (or of the bytes when there is none): fixed length
    sender: str             # the address only, lower-cased
    sender_name: str
    subject: str
    text: str
    attachments: list[Attachment] = field(default_factory=list)
    auto_reply: bool = False  # an out-of-office or a bounce: never answered, never a ticket of its own


class Unreadable(Exception):
    """The message cannot become a ticket; the reason names what is wrong, never what the message says."""


def read_email(raw: bytes, limits: Limits = Limits()) -> Email:
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception as exc:  # the parser is lenient; anything it still raises is a broken message
        raise Unreadable(f"the message cannot be parsed ({type(exc).__name__})") from None
    sender_name, sender = _sender(message)
    walk = _Walk(limits)
    walk.visit(message, depth=0)
    text = walk.text().strip()
    if not text and not walk.attachments:
        raise Unreadable("the message has no text and no attachment")
    return Email(message_key=_key(message, raw), sender=sender, sender_name=sender_name,
                 subject=_header(message, "subject")[:300], text=text[:limits.max_text_chars],
                 attachments=walk.attachments, auto_reply=_auto_reply(message, sender))


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
        return " ".join(str(value).split()) if value is not None else ""
    except Exception:  # an undecodable encoded-word: the header is as good as missing
        return ""


def _sender(message: EmailMessage) -> tuple[str, str]:
    name, address = parseaddr(_header(message, "from"))
    address = address.strip().lower()
    if "@" not in address or len(address) > 254:
        raise Unreadable("the message has no usable From address")
    return name.strip()[:200], address


def _key(message: EmailMessage, raw: bytes) -> str:
    message_id = _header(message, "message-id")
    return hashlib.sha256(message_id.encode() if message_id else raw).hexdigest()


def _auto_reply(message: EmailMessage, sender: str) -> bool:
    """RFC 3834's Auto-Submitted, the older Precedence header, and bounces from the mail system itself: a
    ticket answering these would start a loop of acknowledgements."""
    if _header(message, "auto-submitted").lower() not in ("", "no"):
        return True
    if _header(message, "precedence").lower() in ("bulk", "junk", "auto_reply", "list"):
        return True
    local = sender.split("@", 1)[0]
    return local in ("mailer-daemon", "postmaster") or message.get_content_type() == "multipart/report"


class _Walk:
    """Visits the parts depth-first with the limits; keeps the first plain text (or the first HTML, as text)
    and the attachments."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.parts = 0
        self.decoded = 0
        self.plain: list[str] = []
        self.html: list[str] = []
        self.attachments: list[Attachment] = []

    def text(self) -> str:
        return "\n\n".join(self.plain) if self.plain else "\n\n".join(_html_text(h) for h in self.html)

    def visit(self, part: EmailMessage, depth: int) -> None:
        self.parts += 1
        if self.parts > self.limits.max_parts:
            raise Unreadable(f"the message has more than {self.limits.max_parts} parts")
        if depth > self.limits.max_depth:
            raise Unreadable(f"the message nests parts more than {self.limits.max_depth} deep")
        if part.is_multipart():
            for child in part.iter_parts():
                self.visit(child, depth + 1)
            return
        if part.get_content_type() == "message/rfc822":  # a forwarded message: its parts count as ours
            for child in part.iter_parts():
                self.visit(child, depth + 1)
            return
        self._leaf(part)

    def _leaf(self, part: EmailMessage) -> None:
        data = self._decoded(part)
        content_type = part.get_content_type()
        filename = _filename(part)
        if filename or part.get_content_disposition() == "attachment" or not content_type.startswith("text/"):
            if len(data) > self.limits.max_attachment_bytes:
                raise Unreadable(f"an attachment is larger than {self.limits.max_attachment_bytes} bytes")
            self.attachments.append(Attachment(filename or "attachment", content_type, data))
        elif content_type == "text/plain":
            self.plain.append(_text(part, data))
        elif content_type == "text/html":
            self.html.append(_text(part, data))

    def _decoded(self, part: EmailMessage) -> bytes:
        try:
            data = part.get_payload(decode=True) or b""
        except Exception:
            raise Unreadable("a part's transfer encoding is broken") from None
        self.decoded += len(data)
        if self.decoded > self.limits.max_decoded_bytes:
            raise Unreadable(f"the message decodes to more than {self.limits.max_decoded_bytes} bytes")
        return data


def _filename(part: EmailMessage) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:
        return ""
    # Only the last path component, no control characters: it is shown in the console and used for download.
    name = re.sub(r"[\x00-\x1f\x7f]", "", name.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return name[:200]


def _text(part: EmailMessage, data: bytes) -> str:
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset, errors="replace")
    except LookupError:  # a charset Python does not know: readable text with replacement marks beats nothing
        return data.decode("utf-8", errors="replace")


class _HtmlText(HTMLParser):
    """The visible text of an HTML body (script and style dropped); what a ticket keeps is text, escaped again
    wherever it is shown."""

    SKIP = {"script", "style", "head", "title"}
    BREAKS = {"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "blockquote"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BREAKS:
            self.out.append("\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1

    def handle_data(self, data):
        if not self.skipping:
            self.out.append(data)


def _html_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.out).splitlines())
    return "\n".join(line for line in lines if line)
