"""Menu choices made before the call reached the flow (ivr/presets.py): checked against the flow, then taken
by the engine once each instead of asking."""
from __future__ import annotations

from pathlib import Path

from ivr_fakes import ScriptedPort

from callcenter.ivr import Enqueue, run_flow
from callcenter.ivr.presets import checked, stasis_args
from callcenter.selfservice.actions import load_inbound_flow

HOTLINE = load_inbound_flow(Path(__file__).resolve().parents[2] / "ivr_flows" / "hotline.yaml")
NOTICES = ["callcenter/recording-consent", "callcenter/emergency-notice"]


def test_given_choices_the_hotline_has_when_checked_then_all_are_kept_in_order():
    assert checked(HOTLINE, ["language=2", "main=5"]) == ({"language": "2", "main": "5"}, [])
    assert stasis_args({"language": "2", "main": "5"}) == ["language=2", "main=5"]


def test_given_choices_the_hotline_lacks_when_checked_then_each_is_a_problem_and_the_rest_kept():
    choices, problems = checked(HOTLINE, ["main=9", "notices=1", "nowhere=1", "language", "", "main=42",
                                          "language=2", "language=1"])

    assert choices == {"language": "2"}
    assert problems == [
        "menu 'main' of flow 'hotline' has no option '9'",
        "flow 'hotline' has no menu 'notices'",  # a play node: nothing to choose there
        "flow 'hotline' has no menu 'nowhere'",
        "'language' is not a choice of the form MENU=KEY (a node name and one phone key)",
        "'' is not a choice of the form MENU=KEY (a node name and one phone key)",
        "'main=42' is not a choice of the form MENU=KEY (a node name and one phone key)",
        "menu 'language' is chosen twice",
    ]


async def test_given_language_and_menu_preset_when_the_hotline_runs_then_no_menu_is_asked_and_both_marked():
    port = ScriptedPort()

    outcome = await run_flow(HOTLINE, port, {}, presets={"language": "2", "main": "5"})

    assert outcome == Enqueue("complaints", 0)
    assert port.named("ivr_choice") == [
        {"node": "language", "key": "2", "label": "Español", "preset": True},
        {"node": "main", "key": "5", "label": "Complaints", "preset": True},
    ]
    # The notices still play (consent to recording), in the language chosen; no menu prompt does.
    assert port.prompts_played() == NOTICES
    assert port.played[0].language == "es"


async def test_given_only_the_language_preset_when_the_hotline_runs_then_the_main_menu_is_asked():
    port = ScriptedPort([(5.0, "2")])  # the notices play 0-4 s, the main menu from 4 s

    outcome = await run_flow(HOTLINE, port, {}, presets={"language": "1"})

    assert outcome == Enqueue("results", 0)
    assert port.prompts_played() == NOTICES + ["callcenter/main-menu"]
    assert port.named("ivr_choice")[1] == {"node": "main", "key": "2", "label": "Test results"}


async def test_given_a_preset_key_the_menu_lacks_when_the_hotline_runs_then_the_caller_is_asked():
    port = ScriptedPort([(1.0, "1"), (6.0, "4")])

    outcome = await run_flow(HOTLINE, port, {}, presets={"language": "7"})

    assert outcome == Enqueue("nurse", 0)
    assert port.named("ivr_choice")[0] == {"node": "language", "key": "1", "label": "English"}
