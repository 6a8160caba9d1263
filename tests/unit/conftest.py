"""Fixtures of the unit tests: a small, known set of queues and agents on the real database."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from callcenter.db.database import Database
from callcenter.db.models import Agent, Queue
from callcenter.eventlog import EventLog
from callcenter.queues.services import QueueService

QUEUES = (("general", "General", "general"), ("nurse", "Nurse line", "nurse"))
# number: (name, skills, languages)
AGENTS = {
    "1001": ("Alice", ["general"], ["en"]),
    "1002": ("Bruno", ["general"], ["en", "es"]),
    "1003": ("Nina", ["nurse"], ["en"]),
}


@pytest.fixture
def seeded_db(db: Database) -> Database:
    with db.session() as session:
        session.add_all(Queue(name=name, title=title, skill=skill) for name, title, skill in QUEUES)
        session.add_all(Agent(number=number, name=name, endpoint=f"Local/auto-{number}@agent-phones/n",
                              skills=skills, languages=languages)
                        for number, (name, skills, languages) in AGENTS.items())
    return db


@pytest.fixture
async def events(seeded_db: Database) -> AsyncIterator[EventLog]:
    log = EventLog(seeded_db)
    await log.start()
    yield log
    await log.close()


@pytest.fixture
async def queues(seeded_db: Database, events: EventLog) -> QueueService:
    service = QueueService(seeded_db, events)
    await service.load()
    return service
