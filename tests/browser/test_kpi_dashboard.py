"""The KPI dashboard in the real browser, on a seeded day of call events (tests/browser/kpi_day.py) whose
KPIs were worked out by hand: totals, tables, threshold colours, charts, the CSV download, a change of cut
without a reload, the wallboard's today figures agreeing with the dashboard, and agents refused.

The hospital's time zone is chosen so that it is about noon there while the test runs: the seeded morning
(08:00-10:00) is then always in the past of "today", for the dashboard and the wallboard's today-so-far.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from callcenter.db.database import Database

from . import kpi_day
from .conftest import _seeded_config
from .live import LiveConsole


def _noon_zone() -> ZoneInfo:
    """A fixed-offset zone where it is now between 12:00 and 13:00 (Etc/GMT+N is UTC-N)."""
    offset = 12 - datetime.now(UTC).hour
    return ZoneInfo("Etc/UTC" if offset == 0 else f"Etc/GMT{-offset:+d}")


@pytest.fixture
def kpi_console(tmp_path) -> Iterator[LiveConsole]:
    zone = _noon_zone()
    cfg = _seeded_config(tmp_path, "Local/auto-{number}@agent-phones/n")
    cfg.site.time_zone = zone.key
    db = Database(cfg.database.url)
    try:
        kpi_day.seed_day(db, datetime.now(zone).date(), zone)
    finally:
        db.close()
    live = LiveConsole(cfg).start()
    yield live
    live.stop()


def _open_dashboard(signed_in, live: LiveConsole) -> Page:
    page = signed_in("supervisor", live)
    page.goto("/supervisor/kpi")
    expect(page.locator("body[data-loaded-by='interval']")).to_have_count(1)
    return page


def _cell(page: Page, group: str, key: str, kpi: str):
    return page.locator(f"table[data-group='{group}'] tr[data-key='{key}'] td[data-kpi='{kpi}']")


def test_given_seeded_day_when_supervisor_opens_dashboard_then_hand_computed_numbers_and_colours(
        signed_in, kpi_console, screenshot):
    page = _open_dashboard(signed_in, kpi_console)

    tiles = {"offered": "7", "answered": "4", "abandoned": "2", "service_level": "50.0%",
             "abandon_rate": "33.3%", "asa_seconds": "43.8 s", "aht_seconds": "3:18", "occupancy": "5.5%"}
    for name, text in tiles.items():
        expect(page.locator(f".kpi-tile[data-kpi='{name}'] .kpi-tile-value")).to_have_text(text)
    levels = {"service_level": "red", "abandon_rate": "red", "asa_seconds": "amber", "aht_seconds": "green",
              "occupancy": "green"}
    for name, lvl in levels.items():
        expect(page.locator(f".kpi-tile[data-kpi='{name}']")).to_have_attribute("data-level", lvl)
        expect(_cell(page, "inbound", "total", name)).to_have_attribute("data-level", lvl)

    total = {"offered": "7", "answered": "4", "abandoned": "2", "short_abandons": "1",
             "service_level": "50.0%", "abandon_rate": "33.3%"}
    for name, text in total.items():
        expect(_cell(page, "inbound", "total", name)).to_contain_text(text)
    day = datetime.now(ZoneInfo(kpi_console.cfg.site.time_zone)).date().isoformat()
    rows = {"08:00": ("4", "2", "1", "33.3%", "red"), "08:15": ("2", "2", "0", "100.0%", "green"),
            "09:00": ("1", "0", "1", "0.0%", "red")}
    for hhmm, (offered, answered, abandoned, sl, lvl) in rows.items():
        key = f"{day}T{hhmm}"
        expect(_cell(page, "inbound", key, "offered")).to_have_text(offered)
        expect(_cell(page, "inbound", key, "answered")).to_have_text(answered)
        expect(_cell(page, "inbound", key, "abandoned")).to_have_text(abandoned)
        expect(_cell(page, "inbound", key, "service_level")).to_contain_text(sl)
        expect(_cell(page, "inbound", key, "service_level")).to_have_attribute("data-level", lvl)
        expect(page.locator(f"table[data-group='inbound'] tr[data-key='{key}'] th")).to_have_text(hhmm)
    # No campaign call and no survey that day: one line each instead of an empty table.
    expect(page.locator("p.kpi-none[data-group='outbound']")).to_have_count(1)
    expect(page.locator("table[data-group='inbound'] thead th[scope='col']")).to_have_count(13)
    screenshot(page, "kpi-dashboard")


def test_given_seeded_day_when_dashboard_opens_then_charts_have_a_point_or_bar_per_value(
        signed_in, kpi_console, screenshot):
    page = _open_dashboard(signed_in, kpi_console)

    rates = page.locator("#chart-rates svg[role='img']")
    expect(rates).to_have_attribute("aria-labelledby", "chart-rates-title")
    # 08:00 to 09:00: five intervals drawn, three with calls resolved (a dot each on both lines).
    expect(rates.locator("[data-series='service_level'] circle")).to_have_count(3)
    expect(rates.locator("[data-series='abandon_rate'] circle")).to_have_count(3)
    expect(rates.locator("line.threshold")).to_have_count(2)
    expect(rates.locator("text.tick-x").first).to_have_text("08:00")
    volumes = page.locator("#chart-volumes svg")
    for series in ("offered", "answered", "abandoned"):
        expect(volumes.locator(f"[data-series='{series}'] rect")).to_have_count(5)
    heights = volumes.locator("[data-series='offered'] rect").evaluate_all(
        "rects => rects.map(r => Number(r.getAttribute('height')))")
    assert heights[0] == 2 * heights[1] == 4 * heights[4] > 0 and heights[2] == heights[3] == 0
    agents = page.locator("#chart-agents svg rect")
    expect(agents).to_have_count(8)  # two desks signed in 08:00-10:00, a bar part per state each
    expect(page.locator("#chart-agents-title")).to_have_text("Agent states (time per state)")
    widths = {state: agents.and_(page.locator(f"[data-series='{state}_seconds']")).evaluate_all(
        "rects => rects.map(r => Number(r.getAttribute('width')))")
        for state in ("available", "on_call", "wrapup", "paused")}
    assert all(w > 0 for w in widths["available"] + widths["on_call"] + widths["wrapup"])
    assert widths["paused"] == [0, 0]  # nobody paused
    for desk in range(2):  # each bar is the desk's two signed-in hours
        assert abs(sum(widths[s][desk] for s in widths) - max(sum(widths[s][d] for s in widths)
                                                               for d in range(2))) < 0.5
    screenshot(page, "kpi-dashboard-charts")


def test_given_dashboard_when_csv_downloaded_then_same_numbers_as_the_table(signed_in, kpi_console):
    page = _open_dashboard(signed_in, kpi_console)

    with page.expect_download() as download:
        page.click("#kpi-csv")
    text = download.value.path().read_text(encoding="utf-8")

    day = datetime.now(ZoneInfo(kpi_console.cfg.site.time_zone)).date().isoformat()
    assert download.value.suggested_filename == f"kpi-interval-{day}-to-{day}.csv"
    rows = {r["key"]: r for r in csv.DictReader(io.StringIO(text))}
    names = ("offered", "answered", "abandoned", "service_level", "asa_seconds")
    assert {k: rows["total"][k] for k in names} == {
        "offered": "7", "answered": "4", "abandoned": "2", "service_level": "0.5", "asa_seconds": "43.75"}
    assert rows[f"{day}T08:00"]["offered"] == "4" and rows[f"{day}T08:00"]["service_level"] == "0.3333"


def test_given_dashboard_when_cut_changed_to_queue_then_table_updates_without_reload(
        signed_in, kpi_console, screenshot):
    page = _open_dashboard(signed_in, kpi_console)
    page.evaluate("window.__sameDocument = true")

    page.select_option("#kpi-by", "queue")

    expect(page.locator("body[data-loaded-by='queue']")).to_have_count(1)
    assert page.evaluate("window.__sameDocument === true")
    assert "by=queue" in page.url
    for queue, expected in kpi_day.QUEUES.items():
        for name in ("offered", "answered", "abandoned"):
            expect(_cell(page, "inbound", queue, name)).to_have_text(str(expected[name]))
        expect(_cell(page, "inbound", queue, "service_level")).to_contain_text(
            f"{expected['service_level'] * 100:.1f}%")
    expect(page.locator("#kpi-csv")).to_have_attribute("href", re.compile(r"/api/kpi\.csv\?.*by=queue"))
    # The nurse queue's 100 s answer is on time against its own 120 s target (red against the 30 s default).
    expect(_cell(page, "inbound", "nurse", "asa_seconds")).to_have_attribute("data-level", "green")
    page.locator("table[data-group='inbound']").scroll_into_view_if_needed()
    screenshot(page, "kpi-dashboard-by-queue")


def test_given_dashboard_when_last_7_days_chosen_then_range_set_and_charts_by_day(signed_in, kpi_console):
    page = _open_dashboard(signed_in, kpi_console)
    today = datetime.now(ZoneInfo(kpi_console.cfg.site.time_zone)).date()

    page.select_option("#kpi-period", "last7")

    expect(page.locator("body[data-loads='2']")).to_have_count(1)
    expect(page.locator("#kpi-from")).to_have_value((today - timedelta(days=6)).isoformat())
    expect(page.locator("#kpi-to")).to_have_value(today.isoformat())
    expect(page.locator("#chart-volumes-title")).to_contain_text("per day")
    # Only today had calls: one group of bars; the totals are the same as today's.
    expect(page.locator("#chart-volumes svg [data-series='offered'] rect")).to_have_count(1)
    expect(page.locator(".kpi-tile[data-kpi='offered'] .kpi-tile-value")).to_have_text("7")
    # A row per 15 minutes with anything inbound: desks signed in 08:00 to 10:00.
    expect(page.locator("table[data-group='inbound'] tbody tr")).to_have_count(8)
    assert f"from={(today - timedelta(days=6)).isoformat()}" in page.url


def test_given_from_after_to_when_shown_then_message_and_previous_numbers_stay(signed_in, kpi_console):
    page = _open_dashboard(signed_in, kpi_console)

    page.fill("#kpi-from", "2026-12-31")
    page.fill("#kpi-to", "2026-12-01")
    page.click("#kpi-filters button[type=submit]")

    expect(page.locator("#kpi-error")).to_contain_text("'from' (2026-12-31) is after 'to' (2026-12-01)")
    expect(page.locator("#kpi-period")).to_have_value("custom")
    expect(page.locator(".kpi-tile[data-kpi='offered'] .kpi-tile-value")).to_have_text("7")


def test_given_seeded_today_when_wallboard_and_dashboard_open_then_same_figures_per_queue(
        signed_in, kpi_console, screenshot):
    page = _open_dashboard(signed_in, kpi_console)
    page.select_option("#kpi-by", "queue")
    expect(page.locator("body[data-loaded-by='queue']")).to_have_count(1)
    names = ("offered", "answered", "abandoned", "service_level")
    dashboard = {q: [_cell(page, "inbound", q, n).evaluate("td => td.firstChild.textContent") for n in names]
                 for q in kpi_day.QUEUES}

    page.goto("/supervisor")
    wallboard = {}
    for queue in kpi_day.QUEUES:
        line = page.locator(f".queue-card[data-queue='{queue}'] .queue-today")
        expect(line).to_have_count(1)
        wallboard[queue] = [line.locator(f"[data-kpi='{n}'] strong").inner_text() for n in names]

    assert wallboard == dashboard
    assert wallboard["general"] == ["4", "2", "1", "33.3%"]
    screenshot(page, "kpi-wallboard-today")


def test_given_agent_when_opening_dashboard_then_refused(signed_in, kpi_console):
    page = signed_in("agent", kpi_console)

    response = page.goto("/supervisor/kpi")

    assert response.status == 403
    expect(page.locator("nav.mainnav a", has_text="KPIs")).to_have_count(0)
