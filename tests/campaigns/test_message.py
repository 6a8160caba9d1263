"""The hospital's name as a site prompt (campaigns/message.py, ivr/catalog.py): rendered from [site]
hospital_name, known to the flows' prompt check, said by every campaign flow's greeting."""
from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.campaigns.actions import load_campaign_flow
from callcenter.campaigns.message import site_prompts
from callcenter.config import SiteConfig
from callcenter.ivr.catalog import load_catalog

FLOWS = Path(__file__).resolve().parents[2] / "ivr_flows"


def test_given_the_catalog_when_the_hospital_name_prompt_is_checked_then_it_is_known_in_every_voice():
    catalog = load_catalog(FLOWS / "prompts.yaml")

    assert catalog.missing("callcenter/hospital-name", ("en", "es")) is None
    assert "no voice" in catalog.missing("callcenter/hospital-name", ("fr",))
    assert "is not in" in catalog.missing("callcenter/hospital-nam", ("en",)), "a typo is still an error"


@pytest.mark.parametrize("flow", ["appointment-reminder", "discharge-followup", "satisfaction-survey",
                                  "chronic-check"])
def test_given_a_campaign_flow_when_validated_with_the_catalog_then_its_greeting_names_the_hospital(flow):
    loaded = load_campaign_flow(FLOWS / f"{flow}.yaml", catalog=load_catalog(FLOWS / "prompts.yaml"))

    assert loaded.nodes["intro"].prompts[1] == "callcenter/hospital-name"


def test_given_a_site_when_its_prompts_are_made_then_the_configured_name_else_your_hospital():
    voices = {"en": "en-us", "es": "es"}

    named = site_prompts(SiteConfig(hospital_name=" Saint Mary Clinic "), voices)["hospital-name"]
    unnamed = site_prompts(SiteConfig(), voices)["hospital-name"]

    assert {t.text for t in named.values()} == {"Saint Mary Clinic"}
    assert {lang: t.text for lang, t in unnamed.items()} == {"en": "your hospital", "es": "su hospital"}
    assert named["es"].voice == "es"
