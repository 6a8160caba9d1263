"""What a patient's text asks for: a keyword (the first word, case, accents and punctuation aside) or free
text. Pure functions, no database.

Single letters (C, X) count only as the whole message: "C u tomorrow" is not a confirmation. STOP and its
synonyms count as the first word of anything ("Stop texting me"). CANCEL is an opt-out word for carriers
(CTIA), so it stops texts like STOP; an appointment is cancelled with X only, as the reminder says.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

CONFIRM, CANCEL, STOP, START, HELP = "confirm", "cancel", "stop", "start", "help"
COMPLAINT, UNKNOWN, FREE_TEXT = "complaint", "unknown", "free_text"

WORDS: dict[str, str] = {
    **dict.fromkeys(("C", "CONFIRM", "CONFIRMAR", "CONFIRMO"), CONFIRM),
    **dict.fromkeys(("X", "ANULAR"), CANCEL),
    **dict.fromkeys(("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "PARAR", "BAJA",
                     "ALTO"), STOP),
    **dict.fromkeys(("START", "UNSTOP", "SUBSCRIBE", "INICIO", "ALTA"), START),
    **dict.fromkeys(("HELP", "INFO", "AYUDA"), HELP),
    **dict.fromkeys(("COMPLAINT", "SUGGESTION", "PRAISE", "QUEJA", "RECLAMO", "RECLAMACION", "SUGERENCIA",
                     "FELICITACION"), COMPLAINT),
}
# The kind of ticket each complaint word opens.
TICKET_KINDS = {"SUGGESTION": "suggestion", "SUGERENCIA": "suggestion", "PRAISE": "praise",
                "FELICITACION": "praise"}
_EDGES = re.compile(r"^[\W_]+|[\W_]+$")


@dataclass(frozen=True)
class Parsed:
    keyword: str       # one of the names above
    word: str = ""     # the keyword as normalised (COMPLAINT, SUGGESTION...)
    rest: str = ""     # what follows it (a complaint's text), or the whole free text


def parse(text: str) -> Parsed:
    stripped = (text or "").strip()
    words = stripped.split(None, 1)
    if not words:
        return Parsed(UNKNOWN)
    first = _normal(words[0])
    rest = words[1].strip() if len(words) > 1 else ""
    keyword = WORDS.get(first)
    if keyword is not None and (len(first) > 1 or not rest):
        return Parsed(keyword, first, rest)
    if len(words) == 1 or not _normal(rest):
        return Parsed(UNKNOWN, first)
    return Parsed(FREE_TEXT, rest=stripped)


def ticket_kind(word: str) -> str:
    return TICKET_KINDS.get(word, "complaint")


def _normal(word: str) -> str:
    """'Stop!' -> 'STOP', 'confirmó' -> 'CONFIRMO', 'c.' -> 'C'."""
    plain = unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode()
    return _EDGES.sub("", plain).upper()
