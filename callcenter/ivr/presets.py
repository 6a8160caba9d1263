"""Menu choices made before a call reaches its flow.

A hospital's own dialplan may already have asked "press 2 for Spanish" before it hands the call to the
hotline (FastAGI's `route` script, or `Stasis(callcenter,inbound,hotline,language=2,main=5)` written in the
dialplan). Each choice is `NODE=KEY`: the first time the call reaches menu NODE, the engine takes KEY as if
the caller had pressed it, without playing the menu, and records it as an `ivr_choice` marked `preset`. A
choice the flow does not have (no such menu, no such key) is a problem here, never a guess.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from .flow import DTMF_KEYS, NODE_ID, Flow, MenuNode

PRESET = re.compile(rf"(?P<node>{NODE_ID})=(?P<key>.)")


def checked(flow: Flow, args: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """The choices among `args` (`NODE=KEY` each) that name a menu of `flow` and one of its keys, and a
    problem (plain words, for the operator) for every other argument."""
    choices: dict[str, str] = {}
    problems: list[str] = []
    for arg in args:
        problem = _problem(flow, arg, choices)
        if problem:
            problems.append(problem)
        else:
            node, key = arg.split("=", 1)
            choices[node] = key
    return choices, problems


def stasis_args(choices: Mapping[str, str]) -> list[str]:
    """The choices as Stasis arguments, after `inbound,<flow>`."""
    return [f"{node}={key}" for node, key in choices.items()]


def _problem(flow: Flow, arg: str, seen: Mapping[str, str]) -> str | None:
    match = PRESET.fullmatch(arg)
    if match is None or match["key"] not in DTMF_KEYS:
        return f"{arg[:40]!r} is not a choice of the form MENU=KEY (a node name and one phone key)"
    node, key = match["node"], match["key"]
    if not isinstance(flow.nodes.get(node), MenuNode):
        return f"flow {flow.name!r} has no menu {node!r}"
    if key not in flow.nodes[node].options:
        return f"menu {node!r} of flow {flow.name!r} has no option {key!r}"
    if node in seen:
        return f"menu {node!r} is chosen twice"
    return None
