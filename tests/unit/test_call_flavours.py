"""The call flavours are composed, not subclassed (issue 12): inbound, click-to-dial, automated campaign and
progressive calls are one `Call` class holding a small strategy object (calls/flavour.py). What they do is
covered by the tests of each kind of call; here, that each flavour supplies the interface the call asks of it,
that no class extends `Call` any more, and that a call keeps no attribute of one flavour only."""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import SimpleNamespace

import pytest

import callcenter
from callcenter.ari.models import Channel
from callcenter.callbacks.call import UrgentCallback
from callcenter.calls.click_to_dial import ClickToDial
from callcenter.calls.flavour import CallFlavour, Inbound
from callcenter.calls.services import Call, CallIvr
from callcenter.campaigns.dialing.automated import AutomatedDial
from callcenter.campaigns.dialing.call import PatientDial
from callcenter.campaigns.dialing.progressive import ProgressiveDial
from callcenter.config import SiteConfig, TelephonyConfig

JOB = SimpleNamespace(campaign=SimpleNamespace(name="c", script=None, desk_script="outbound_followup"),
                      patient_id=1, attempt_id=5, phone_e164="+14155550100")
FLAVOURS = {
    "inbound": lambda: Inbound(),
    "click-to-dial": lambda: ClickToDial(patient_id=None),
    "automated campaign": lambda: AutomatedDial(JOB, site=SiteConfig(), finish_attempt=None),
    "progressive": lambda: ProgressiveDial(JOB, site=SiteConfig(), finish_attempt=None),
    "urgent callback": lambda: UrgentCallback(1, None, "nurse", 100, None),
}
HOOKS = ("write_start", "flow_context", "legs_answered", "ending", "pop_extras")


@pytest.mark.parametrize("kind", FLAVOURS)
def test_given_each_call_flavour_when_checked_then_it_supplies_the_flavour_interface(kind):
    flavour = FLAVOURS[kind]()

    assert isinstance(flavour, CallFlavour)
    assert flavour.direction == ("inbound" if kind == "inbound" else "outbound")
    for hook in HOOKS:
        ours = inspect.signature(getattr(CallFlavour, hook))
        theirs = inspect.signature(getattr(flavour, hook))
        assert list(theirs.parameters) == list(ours.parameters)[1:], f"{kind}: {hook}{theirs}"
    assert inspect.iscoroutinefunction(flavour.ending)


def test_given_every_module_of_callcenter_when_imported_then_no_class_subclasses_call():
    for module in pkgutil.walk_packages(callcenter.__path__, "callcenter."):
        if not module.name.startswith("callcenter.db.migrations"):  # Alembic's scripts run only under Alembic
            importlib.import_module(module.name)

    assert [c for c in Call.__subclasses__() if c.__module__.startswith("callcenter.")] == []


def test_given_a_call_when_built_then_it_holds_its_flavour_and_no_attribute_of_one_flavour_only():
    deps = SimpleNamespace(settings=TelephonyConfig(), inbound_actions=None)
    flow = SimpleNamespace(default_language="en")
    channel = Channel(id="c1", name="PJSIP/x", state="Up", caller_number="+14155550100", caller_name="",
                      language="en")
    flavour = ProgressiveDial(JOB, site=SiteConfig(), finish_attempt=None)

    call = Call(deps, channel, flow, flavour=flavour)

    assert call.flavour is flavour and call.direction == "outbound"
    assert isinstance(Call(deps, channel, flow).flavour, Inbound), "a call is inbound unless told otherwise"
    one_flavour_only = {"actions", "job", "site", "result", "amd_status", "picked_up_at", "patient_id",
                        "answer_grace", "script", "mode", "role"}
    assert one_flavour_only.isdisjoint(vars(call))


def test_given_a_call_when_built_then_what_the_caller_pressed_and_chose_lives_in_its_ivr_part():
    deps = SimpleNamespace(settings=TelephonyConfig(), inbound_actions=None)
    channel = Channel(id="c1", name="PJSIP/x", state="Up", caller_number="+14155550100", caller_name="",
                      language="en")

    call = Call(deps, channel, SimpleNamespace(default_language="en"))

    assert isinstance(call.ivr, CallIvr) and call.ivr.path == [] and call.ivr.keys.empty()
    assert {"keys", "ivr_path"}.isdisjoint(vars(call)), "the IVR's own fields are the IVR part's, as legs..."
    assert not hasattr(call, "clear_keys") and not hasattr(call, "ivr_choice")


def test_given_the_call_flavours_when_their_classes_are_read_then_none_extends_another():
    classes = {kind: type(make()) for kind, make in FLAVOURS.items()}

    for kind, cls in classes.items():
        others = [other for other in classes.values() if other is not cls]
        assert not any(issubclass(cls, other) for other in others), f"{kind} extends another flavour"
        assert cls.__bases__ == (object,), f"{kind}: {cls.__bases__}"


@pytest.mark.parametrize("kind", ["automated campaign", "progressive"])
async def test_given_a_campaign_call_of_either_mode_when_it_ends_then_its_attempt_is_written_once_alike(
        kind):
    written = []

    async def finish_attempt(attempt_id, result, **facts):
        written.append((attempt_id, result, sorted(facts)))
    flavour = FLAVOURS[kind]()
    flavour.dial = PatientDial(JOB, role=flavour.dial.role, site=SiteConfig(), finish_attempt=finish_attempt)
    call = SimpleNamespace(id="c1", ivr=CallIvr(path=[{"node": "main", "key": "1"}]))

    await flavour.ending(call)
    await flavour.ending(call)

    assert isinstance(flavour.dial, PatientDial)
    assert written == [(5, "failed", ["amd_cause", "amd_status", "answered_at", "call_id", "ended_at", "keys",
                                      "outcome"])]
