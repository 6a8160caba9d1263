"""The message a campaign call leaves on an answering machine: the hospital's name and a callback number,
never why we called (the tape may be heard by anyone in the household).

It is composed of fixed prompts (ivr_flows/prompts.yaml), the prompt `callcenter/hospital-name` rendered from
[site] hospital_name by `callcenter prompts` (render_site_prompts), and the digits of [site]
callback_number. Progressive calls play the same message to a patient no agent could take. The campaign
flows' greetings name the hospital with the same prompt (a site prompt the flow check knows: ivr/catalog.py).
"""
from __future__ import annotations

from pathlib import Path

from ..config import SiteConfig
from ..ivr.catalog import SITE_PROMPTS, PromptText, load_catalog

HOSPITAL_NAME = "hospital-name"
assert HOSPITAL_NAME in SITE_PROMPTS  # the flows' prompt check knows it
# Spoken where the flows name the hospital while [site] hospital_name is not set (the message to a machine
# is refused instead: it must say who called).
UNNAMED = {"en": "your hospital", "es": "su hospital"}
INTRO, CALLBACK, GOODBYE = ("callcenter/campaign-message-intro", "callcenter/campaign-message-callback",
                            "callcenter/campaign-message-goodbye")


class SiteNotConfigured(ValueError):
    """[site] hospital_name or callback_number is empty: no message can be left."""


def callback_digits(site: SiteConfig) -> str:
    return "".join(ch for ch in site.callback_number if ch.isdigit())


def message_media(site: SiteConfig) -> list[str]:
    """ARI media URIs of the message, in order."""
    if not site.hospital_name.strip() or not callback_digits(site):
        raise SiteNotConfigured("set [site] hospital_name and callback_number to leave campaign messages")
    return ["sound:" + INTRO, "sound:callcenter/" + HOSPITAL_NAME, "sound:" + CALLBACK,
            "digits:" + callback_digits(site), "sound:" + GOODBYE]


def site_prompts(site: SiteConfig, voices: dict[str, str]) -> dict[str, dict[str, PromptText]]:
    """The prompts whose words come from the configuration: the hospital's name, in every catalog voice
    (unset: "your hospital" in the language, as the flows said before they could name it)."""
    name = site.hospital_name.strip()
    return {HOSPITAL_NAME: {language: PromptText(name or UNNAMED.get(language, UNNAMED["en"]), voice)
                            for language, voice in voices.items()}}


def render_site_prompts(site: SiteConfig, prompts_yaml: str | Path, out_dir: str | Path,
                        force: bool = False) -> list[Path]:
    """Write <out_dir>/<lang>/callcenter/hospital-name.wav (blocking: espeak-ng and sox run)."""
    from ..prompts import generate_texts
    catalog = load_catalog(prompts_yaml)
    return generate_texts(site_prompts(site, dict(catalog.voices)), out_dir, force)
