"""The suite's tiers (issue 12, section 4): the fast tier (`scripts/test --fast`: -m "not asterisk and not
browser and not postgres") runs none of the tests that need the sandbox Asterisk, the browser or PostgreSQL,
because tests/conftest.py marks each from what it uses (a fixture needing one of them, or tests/browser)."""
from __future__ import annotations

from pathlib import Path

from .conftest import BROWSER_TESTS, PROJECT_ROOT, pytest_collection_modifyitems


class Item:
    """What the hook reads of a collected test: the fixtures it uses (with those they use) and its file."""

    def __init__(self, path: Path, *fixtures: str):
        self.path, self.fixturenames, self.marks = path, list(fixtures), set()

    def add_marker(self, mark) -> None:
        self.marks.add(mark.name)


def test_given_tests_using_asterisk_postgres_or_the_browser_when_collected_then_each_is_marked_for_its_tier():
    integration = PROJECT_ROOT / "tests" / "integration" / "test_x.py"
    real_call = Item(integration, "center", "asterisk", "seeded_database")
    on_postgres = Item(PROJECT_ROOT / "tests" / "test_x.py", "db", "postgres_server_url")
    browser = Item(BROWSER_TESTS / "test_x.py", "page")
    fast = Item(PROJECT_ROOT / "tests" / "unit" / "test_x.py", "db")

    pytest_collection_modifyitems([real_call, on_postgres, browser, fast])

    assert (real_call.marks, on_postgres.marks, browser.marks, fast.marks) == (
        {"asterisk"}, {"postgres"}, {"browser"}, set())
