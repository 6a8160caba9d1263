"""Fixtures of the HL7 interface tests: the service over the `db` fixture (SQLite and PostgreSQL) with the
shared patient feed and the discharge follow-up port, and ACK reading."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import hl7
import pytest

from callcenter.campaigns.followup import DischargeFollowUp
from callcenter.config import Hl7Config
from callcenter.db.models import Campaign
from callcenter.hl7.services import Hl7Service
from callcenter.patients.services import IdentityRule, PatientFeed

NOW = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
CARDIO_FOLLOWUP = """name: cardio-followup
kind: discharge_followup
title: Cardiology follow-up
version: 1
target: {rule: discharged, department: Cardiology, within_days: 2}
mode: automated
flow: discharge-followup
"""


@dataclass(frozen=True)
class Ack:
    code: str
    control_id: str
    error_code: str
    error_where: str
    text: str


def read_ack(raw: bytes) -> Ack:
    message = hl7.parse(raw.decode("utf-8"))
    msa = message.segment("MSA")
    errors = [s for s in message if str(s[0]) == "ERR"]
    if errors:
        err = errors[0]
        return Ack(str(msa(1)), str(msa(2)), err.extract_field(1, 3, 1, 1, 1), str(err(2)), str(err(8)))
    return Ack(str(msa(1)), str(msa(2)), "", "", "")


def make_service(db, mrn_system: str = "GENHOSP", max_bytes: int = 1 << 20, clock=lambda: NOW) -> Hl7Service:
    feed = PatientFeed(IdentityRule(mrn_system=mrn_system), DischargeFollowUp(), clock=clock)
    return Hl7Service(db, feed, Hl7Config(mrn_system=mrn_system, max_message_bytes=max_bytes))


@pytest.fixture
def service(db) -> Hl7Service:
    return make_service(db)


@pytest.fixture
def followup_campaign(db) -> None:
    with db.session() as session:
        session.add(Campaign(name="cardio-followup", kind="discharge_followup", title="Cardiology follow-up",
                             source_yaml=CARDIO_FOLLOWUP))
