"""Which protocols to offer first, from what the caller says: the agent's reason typed on the desk today,
a speech transcript later. Text and its language in, protocol ids with the words that matched out.

Everyday wording ("I want to end my life", "my baby is burning up", "mi bebé tiene fiebre") is caught by
phrases per protocol and language in `suggestions.yaml` (clinical data, reviewed like the protocols), each
compared to the text after the same normalisation:

- case and accents folded (`bebé` = `bebe`), English "n't" read as "not" (`doesn't` = `does not`), other
  apostrophes dropped (`baby's` = `babys`), anything not a letter or digit splits words;
- every word reduced to its Snowball stem in the phrase's language (`bleeding` = `bleed`, `matarme` =
  `matar`), so the data need not list every inflection;
- a phrase matches when all its words appear near each other in any order ("baby hot" finds "my baby is
  very hot" and "hot baby"): within its own length plus `SLACK` words.

Every declared language is tried, whatever the call's (an agent may write an English note for a Spanish
caller); the call's language only breaks ties. No match is not "no protocol": the agent can always pick any.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import snowballstemmer

if TYPE_CHECKING:
    from .schema import Suggestions

# Snowball's algorithm per language code of the product (ivr_flows and the protocols declare en, es).
STEMMERS = {"en": "english", "es": "spanish"}
# Words a phrase's words may be spread over beyond its own length: "end my life" in "end my own life".
SLACK = 3
_SPLIT = re.compile(r"[^0-9a-z]+")
_APOSTROPHES = re.compile(r"['’`´]")
_NOT = re.compile(r"n['’`´]t\b")


@dataclass(frozen=True)
class Match:
    protocol: str
    language: str
    phrase: str  # as written in the data file: what the panel shows as the reason for the suggestion
    score: int  # words of the phrase: a longer phrase says more


@dataclass(frozen=True)
class Suggestion:
    protocol: str
    because: str  # 'said' (the caller's words), 'ivr', 'queue' or 'default'
    phrase: str | None = None  # for 'said': the phrase of the data file that matched

    def public(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "because": self.because, "phrase": self.phrase}


class Suggester:
    """The suggestion service: what the caller said (typed reason or, later, speech) in a language, the IVR
    path and the queue in; protocols out, best first, each with why. Only ranks: every protocol stays
    available on every queue."""

    def __init__(self, data: "Suggestions"):
        self.data = data
        self.matcher = PhraseMatcher(data.phrases)

    def from_text(self, text: str, language: str | None = None) -> list[Suggestion]:
        return [Suggestion(m.protocol, "said", m.phrase) for m in self.matcher.matches(text, language)]

    def suggest(self, ivr_path: list[dict] | None = None, queue: str | None = None, reason: str | None = None,
                language: str | None = None) -> list[Suggestion]:
        """The caller's words first, then the IVR choices (latest first), then the queue; the default when
        none of them suggests anything. One entry per protocol, its best reason."""
        found = self.from_text(reason or "", language)
        for choice in reversed(ivr_path or []):
            key = f"{choice.get('node')}:{choice.get('key')}"
            found += [Suggestion(p, "ivr") for p in self.data.ivr_choices.get(key, ())]
        found += [Suggestion(p, "queue") for p in self.data.queues.get(queue or "", ())]
        if not found:
            found = [Suggestion(p, "default") for p in self.data.default]
        first: dict[str, Suggestion] = {}
        for suggestion in found:
            first.setdefault(suggestion.protocol, suggestion)
        return list(first.values())


class PhraseMatcher:
    """The phrases of `suggestions.yaml` compiled once: protocol -> language -> phrases."""

    def __init__(self, phrases: Mapping[str, Mapping[str, Sequence[str]]]):
        self._compiled = [(protocol, lang, phrase, stems(phrase, lang))
                          for protocol, by_lang in phrases.items()
                          for lang, items in by_lang.items() for phrase in items]
        self.languages = tuple(dict.fromkeys(lang for _, lang, _, _ in self._compiled))
        self._order = {protocol: n for n, protocol in enumerate(phrases)}

    def matches(self, text: str, language: str | None = None) -> list[Match]:
        """The best match per protocol, best first: longest phrase, then the call's language, then the
        order of the data file."""
        said = {lang: stems(text, lang) for lang in self.languages}
        best: dict[str, Match] = {}
        for protocol, lang, phrase, words in self._compiled:
            if words and _near(words, said[lang]):
                found = Match(protocol, lang, phrase, len(words))
                if _better(found, best.get(protocol), language):
                    best[protocol] = found
        return sorted(best.values(),
                      key=lambda m: (-m.score, m.language != language, self._order[m.protocol]))


def stems(text: str, language: str) -> tuple[str, ...]:
    """Text as the matcher compares it: folded, split into words, each word stemmed in `language`."""
    return tuple(_stemmer(language).stemWords(_words(text)))


def _words(text: str) -> list[str]:
    said = _NOT.sub(" not", text.casefold())
    folded = unicodedata.normalize("NFKD", _APOSTROPHES.sub("", said))
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    return [w for w in _SPLIT.split(plain) if w]


@cache
def _stemmer(language: str):
    try:
        return snowballstemmer.stemmer(STEMMERS[language])
    except KeyError:
        raise ValueError(f"no stemmer for language '{language}' (known: {', '.join(STEMMERS)})") from None


def _near(words: tuple[str, ...], said: tuple[str, ...]) -> bool:
    """All of `words` within a window of their length plus SLACK somewhere in `said`, in any order."""
    wanted, width = set(words), len(words) + SLACK
    return any(wanted <= set(said[start:start + width])
               for start in range(len(said)) if said[start] in wanted)


def _better(found: Match, before: Match | None, language: str | None) -> bool:
    if before is None:
        return True
    return (found.score, found.language == language) > (before.score, before.language == language)
