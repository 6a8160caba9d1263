"""The prompt catalog (`ivr_flows/prompts.yaml`): the words of every `callcenter/...` prompt, per language.

```yaml
review: "..."                 # wording needs clinical and language review before production use
voices: {en: en-us, es: es}   # espeak-ng voice per language (for generated placeholder audio)
core_sounds: ["digits/*"]     # Asterisk core sounds flows may use as they are (fnmatch patterns)
prompts:
  main-menu:
    en: "For appointments, press 1. ..."
    es: "Para citas, oprima 1. ..."
  para-espanol:
    en: {text: "Para español, oprima 2.", voice: es}   # a per-text voice, for bilingual menus
```

Triage protocol questions join the catalog as `triage-<protocol>-<question>` (`with_protocols`): a flow's
questionnaire asks them by phone. Follow-up questionnaires' questions join it as
`followup-<questionnaire>-<code>` and their choices as `followup-<questionnaire>-<code>-<choice key>`
(`with_questionnaires`, `followup_prompt`): a flow's `followup` node asks them by phone.

Site prompts (SITE_PROMPTS) are not in prompts.yaml: their words come from the configuration, e.g.
`callcenter/hospital-name` from [site] hospital_name, rendered by `callcenter prompts` in every catalog voice
(campaigns/message.py). A flow may play them in any language the catalog has a voice for.

A flow refers to these as `callcenter/<name>`; Asterisk finds `sounds/<lang>/callcenter/<name>.wav` through
the channel language. Anything else a flow plays must match `core_sounds`, so a typo such as
`calcenter/main-menu` is an error rather than silence on the line.
"""
from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .. import yamlsource as source
from ..yamlsource import Fields, Invalid, LineMap, Problems, SourceError

NAMESPACE = "callcenter"
PROMPT_NAME = r"[a-z0-9_-]+(/[a-z0-9_-]+)*"
LANGUAGE = r"[a-z]{2,3}(-[a-z0-9]{2,8})*"
_VOICE = r"[A-Za-z0-9_+/-]+"
# Prompts whose words come from the configuration -> where (rendered by `callcenter prompts`).
SITE_PROMPTS = MappingProxyType({"hospital-name": "[site] hospital_name"})


class CatalogError(SourceError):
    """prompts.yaml is broken; the message names file and line."""


@dataclass(frozen=True)
class PromptText:
    text: str
    voice: str


@dataclass(frozen=True)
class PromptCatalog:
    path: str
    review: str | None
    voices: Mapping[str, str]
    core_sounds: tuple[str, ...]
    prompts: Mapping[str, Mapping[str, PromptText]]

    def with_protocols(self, protocols: Iterable[Any]) -> "PromptCatalog":
        """This catalog plus every question of the triage `protocols` as a prompt
        (`triage-<protocol>-<question>`, see ivr.flow.question_prompt), so a questionnaire asks by phone
        exactly the words the protocol's reviewers approved, in each language that has a voice here."""
        prompts = dict(self.prompts)
        for protocol in protocols:
            for question in protocol.questions:
                texts = {lang: PromptText(text, self.voices[lang])
                         for lang, text in question.text.items() if lang in self.voices}
                prompts[f"triage-{protocol.id}-{question.id}"] = MappingProxyType(texts)
        return replace(self, prompts=MappingProxyType(prompts))

    def with_questionnaires(self, questionnaires: Iterable[Any]) -> "PromptCatalog":
        """This catalog plus the words of every follow-up questionnaire (followup.schema.Questionnaire): each
        question, and each choice of a choice question, as its own prompt (`followup_prompt`), so a `followup`
        node reads by phone the wording of the version under review, in each language that has a voice."""
        prompts = dict(self.prompts)
        for questionnaire in questionnaires:
            for item in questionnaire.items:
                question = item.question
                prompts[followup_prompt(questionnaire.id, question.code)] = self._voiced(question.text)
                for choice in question.choices:
                    name = followup_prompt(questionnaire.id, question.code, choice.key)
                    prompts[name] = self._voiced(choice.text)
        return replace(self, prompts=MappingProxyType(prompts))

    def _voiced(self, texts: Mapping[str, str]) -> Mapping[str, PromptText]:
        return MappingProxyType({lang: PromptText(text, self.voices[lang])
                                 for lang, text in texts.items() if lang in self.voices})

    def text(self, name: str, language: str) -> PromptText | None:
        return self.prompts.get(name, {}).get(language)

    def is_core_sound(self, sound: str) -> bool:
        return any(fnmatch.fnmatchcase(sound, pattern) for pattern in self.core_sounds)

    def missing(self, sound: str, languages: tuple[str, ...]) -> str | None:
        """Why `sound` cannot be played in all `languages`, or None when it can."""
        namespace, _, name = sound.partition("/")
        if namespace != NAMESPACE:
            if self.is_core_sound(sound):
                return None
            return f"is neither '{NAMESPACE}/<name>' nor an Asterisk core sound listed in {self.path}"
        if name in SITE_PROMPTS:
            unvoiced = [lang for lang in languages if lang not in self.voices]
            return f"has no voice in {self.path} for language(s) {', '.join(unvoiced)}" if unvoiced else None
        if name not in self.prompts:
            return f"is not in {self.path}"
        absent = [lang for lang in languages if lang not in self.prompts[name]]
        return f"has no text in {self.path} for language(s) {', '.join(absent)}" if absent else None


def followup_prompt(questionnaire_id: str, code: str, choice: str | None = None) -> str:
    """The prompt name (without the namespace) of a follow-up question, or of one of its choices."""
    return f"followup-{questionnaire_id}-{code}" + (f"-{choice}" if choice else "")


def load_catalog(path: str | Path) -> PromptCatalog:
    shown_as = str(path)
    raw = source.read_yaml(Path(path), shown_as, CatalogError)
    problems = Problems(shown_as)
    if not isinstance(raw, LineMap):
        problems.add(1, "", f"expected a mapping with 'voices' and 'prompts', got {source.describe(raw)}")
        problems.raise_if_any(CatalogError)
    top = Fields(problems, raw, "")
    review = top.get("review", source.text, default=None)
    voices = top.get("voices", lambda v: _voices(problems, v)) or {}
    core = top.get("core_sounds", _core_sounds, default=())
    prompts = top.get("prompts", lambda v: _prompts(problems, v, voices)) or {}
    top.done()
    problems.raise_if_any(CatalogError)
    return PromptCatalog(shown_as, review, MappingProxyType(voices), core, MappingProxyType(prompts))


def _voices(problems: Problems, value: object) -> dict[str, str]:
    fields = Fields(problems, source.mapping(value), "voices")
    language = source.pattern_text(LANGUAGE, "a language code such as 'en' or 'es'")
    voices = {}
    for key in list(fields.mapping):
        if _checked(fields, key, language):
            voices[key] = fields.get(key, source.pattern_text(_VOICE, "an espeak-ng voice name"))
    fields.done()
    return voices


def _core_sounds(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise Invalid(f"expected a list of sound name patterns, got {source.describe(value)}")
    check = source.pattern_text(r"[a-z0-9_/*?-]+", "a sound name pattern such as 'digits/*'")
    return tuple(check(item) for item in value)


def _prompts(problems: Problems, value: object, voices: dict[str, str]) -> dict:
    fields = Fields(problems, source.mapping(value), "prompts")
    name = source.pattern_text(PROMPT_NAME, "a prompt name (letters a-z, digits, '_', '-', '/')")
    prompts = {}
    for key in list(fields.mapping):
        if _checked(fields, key, name):
            texts = fields.get(key, lambda v, key=key: _texts(problems, v, key, voices))
            prompts[key] = MappingProxyType(texts or {})
    fields.done()
    return prompts


def _texts(problems: Problems, value: object, name: str, voices: dict[str, str]) -> dict[str, PromptText]:
    fields = Fields(problems, source.mapping(value), f"prompt '{name}'")
    texts = {}
    for language in list(fields.mapping):
        if language not in voices:
            fields.error(language, f"language '{language}' has no voice in 'voices'")
        texts[language] = fields.get(language, lambda v, lang=language: _text(problems, v, lang, voices))
    fields.done()
    return texts


def _text(problems: Problems, value: object, language: str, voices: dict[str, str]) -> PromptText:
    if isinstance(value, str):
        return PromptText(source.text(value), voices.get(language, ""))
    fields = Fields(problems, source.mapping(value), f"language '{language}'")
    text = fields.get("text", source.text)
    voice = fields.get("voice", source.pattern_text(_VOICE, "an espeak-ng voice name"), default=None)
    fields.done()
    return PromptText(text, voice or voices.get(language, ""))


def _checked(fields: Fields, key: object, check) -> bool:
    try:
        check(key)
        return True
    except Invalid as exc:
        fields.problems.add(fields.mapping.key_lines[key], fields.where, str(exc))
        fields.get(key, lambda v: v)  # mark as read: the problem is the key, not an unknown key
        return False
