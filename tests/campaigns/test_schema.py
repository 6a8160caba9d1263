"""Campaign YAML: every problem reported at once with file and line; defaults; kind-specific rules."""
from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import pytest

from callcenter.campaigns.actions import load_campaign_flow
from callcenter.campaigns.exceptions import CampaignError
from callcenter.campaigns.schema import load_campaign_file, load_campaign_text
from callcenter.ivr.flow import QuestionnaireNode

from .conftest import campaign_yaml

PROJECT = Path(__file__).resolve().parents[2]


def _problems(text: str, flows_dir: Path | None = None) -> list[str]:
    with pytest.raises(CampaignError) as caught:
        load_campaign_text(text, "c.yaml", flows_dir)
    return caught.value.problems


def test_given_a_minimal_campaign_when_loaded_then_compliance_and_pacing_have_defaults(flows_dir):
    campaign = load_campaign_text(campaign_yaml(), "c.yaml", flows_dir)

    assert campaign.target.rule == "appointments" and campaign.target.days_ahead == 1
    assert campaign.target.statuses == ("booked",)
    assert (campaign.compliance.window_start, campaign.compliance.window_end) == (time(8), time(21))
    assert campaign.compliance.retry_after["busy"] == timedelta(minutes=15)
    assert campaign.pacing.max_channels == 10 and campaign.schedule is None


def test_given_many_mistakes_when_loaded_then_every_one_is_reported_with_its_line(flows_dir):
    text = "\n".join([
        "name: Bad_Name",                                        # 1
        "kind: discharge_followup",                              # 2
        "title: x",                                              # 3
        "version: 1",                                            # 4
        "target: {rule: appointments, days_ahead: 1}",           # 5
        "mode: automated",                                       # 6
        "flow: no-such-flow",                                    # 7
        "schedule: '61 * * * *'",                                # 8
        "compliance:",                                           # 9
        "  window: {start: '08:00', end: '07:00'}",              # 10
        "  retry_after: {no_answer: 2x, bussy: 15m}",            # 11
        "pacing: {max_channels: 0}",                             # 12
        "colour: blue",                                          # 13
    ])
    problems = _problems(text, flows_dir)

    expected = {
        "c.yaml:1: name:": "is not a name",
        "c.yaml:5: target: rule:": "targets with rule 'discharged'",
        "c.yaml:7: flow:": "no flow file no-such-flow.yaml",
        "c.yaml:8: schedule:": "is not a cron expression",
        "c.yaml:10: window: end:": "is not after start 08:00",
        "c.yaml:11: retry_after: no_answer:": "is not a duration",
        "c.yaml:11: retry_after: unknown key 'bussy'": "did you mean 'busy'",
        "c.yaml:12: pacing: max_channels:": "out of range",
        "c.yaml:13: unknown key 'colour'": "",
    }
    for prefix, words in expected.items():
        assert any(p.startswith(prefix) and words in p for p in problems), (prefix, problems)


@pytest.mark.parametrize("line, message", [
    ("compliance: {window: {start: '8:00'}}", "is not a time of day HH:MM"),
    ("compliance: {caps: {per_day: 3, per_week: 2}}", "per_week: 2 is less than per_day 3"),
    ("compliance: {machine: shout}", "is not one of leave_message, hang_up"),
    ("pacing: {abandon_cap: 3}", "expected a fraction"),
])
def test_given_a_bad_compliance_value_when_loaded_then_the_problem_names_line_8(flows_dir, line, message):
    problems = _problems(campaign_yaml(extra=line + "\n"), flows_dir)

    assert any(p.startswith("c.yaml:8:") and message in p for p in problems), problems


def test_given_progressive_without_queue_or_automated_without_flow_then_refused(flows_dir):
    text = ("name: x\nkind: chronic_check\ntitle: t\nversion: 1\n"
            "target: {rule: chronic_not_reached, days: 30}\n")
    assert any("needs 'queue'" in p for p in _problems(text + "mode: progressive\n"))
    assert any("needs 'flow'" in p for p in _problems(text + "mode: automated\n"))


def test_given_a_yaml_syntax_error_when_loaded_then_file_and_line_are_named():
    problems = _problems("name: x\ntarget: {rule: [\n")

    assert problems[0].startswith("c.yaml:") and "invalid YAML" in problems[0]


def test_given_the_example_campaigns_when_validated_against_the_real_flows_then_all_are_valid():
    files = sorted((PROJECT / "campaigns").glob("*.yaml"))
    assert len(files) >= 4
    for path in files:
        campaign = load_campaign_file(path, PROJECT / "ivr_flows")
        assert campaign.review, f"{path.name}: clinical content must say it needs review"


def test_given_a_campaign_protocol_when_loaded_then_the_flow_questionnaire_asks_it():
    campaign = load_campaign_file(PROJECT / "campaigns" / "cardiology-discharge-followup.yaml",
                                  PROJECT / "ivr_flows")
    flow = load_campaign_flow(PROJECT / "ivr_flows" / f"{campaign.flow}.yaml", protocol=campaign.protocol)
    own = load_campaign_flow(PROJECT / "ivr_flows" / f"{campaign.flow}.yaml")

    [asked] = [n for n in flow.nodes.values() if isinstance(n, QuestionnaireNode)]
    [default] = [n for n in own.nodes.values() if isinstance(n, QuestionnaireNode)]
    assert campaign.protocol == "chest_pain"
    assert asked.protocol.id == "chest_pain" and default.protocol.id == "surgical_wound"
    assert asked.question_prompt(asked.protocol.questions[0].id).startswith("callcenter/triage-chest_pain-")


def test_given_an_unknown_protocol_when_loaded_then_its_file_and_line_with_a_suggestion(flows_dir):
    problems = _problems(campaign_yaml(kind="discharge_followup", target="{rule: discharged, within_days: 2}",
                                       flow="discharge-followup", extra="protocol: chest_pian\n"), flows_dir)

    assert any(p.startswith("c.yaml:8: protocol: unknown triage protocol 'chest_pian'")
               and "did you mean 'chest_pain'" in p for p in problems), problems


def test_given_a_protocol_on_a_progressive_campaign_or_a_flow_without_questionnaire_then_refused(flows_dir):
    progressive = campaign_yaml(mode="progressive", extra="protocol: chest_pain\n")
    assert any(p.startswith("c.yaml:8: protocol:") and "only an automated" in p
               for p in _problems(progressive, flows_dir))
    with pytest.raises(CampaignError, match="asks no questionnaire"):
        load_campaign_flow(PROJECT / "ivr_flows" / "appointment-reminder.yaml", protocol="chest_pain")


def test_given_an_unknown_script_when_loaded_then_its_file_and_line_with_a_suggestion(flows_dir):
    problems = _problems(campaign_yaml(mode="progressive", extra="script: outbound_folowup\n"), flows_dir)

    assert any(p.startswith("c.yaml:8: script: unknown call script 'outbound_folowup'")
               and "did you mean 'outbound_followup'" in p for p in problems), problems


def test_given_the_shipped_campaigns_when_loaded_then_each_named_script_exists():
    from callcenter.triage.guide import CALL_TYPES
    scripts = [load_campaign_file(path).script for path in sorted((PROJECT / "campaigns").glob("*.yaml"))]
    assert [s for s in scripts if s is not None and s not in CALL_TYPES] == []
    assert "chronic_check" in scripts
