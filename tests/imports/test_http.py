"""The admin import page through HTTP (aiohttp test client, SQLite): multipart upload, the report with every
bad row, admins only, CSRF, a file larger than the app's default body bound, nothing of the file in the
access log or any URL."""
from __future__ import annotations

import io
import logging

import pytest
from aiohttp import FormData
from sqlalchemy import func, select

from callcenter.db.models import AuditEvent, Patient
from callcenter.main import build, init_app
from tests.browser.live import ROLE_USERS, console_config, origin, seed_role_users, sign_in

GOOD = ("mrn,family_name,given_name,birth_date,mobile_phone\n"
        "IMP-1,Zyxwer,Quentina,1950-12-10,(415) 555-0101\n"
        "IMP-2,Vuttel,Ramon,1961-02-03,\n")
BAD = GOOD + "IMP-3,Pockle,,1970-01-01,\n"


@pytest.fixture
async def client(tmp_path, sqlite_url, aiohttp_client):
    seed_role_users(sqlite_url)
    services = build(console_config(tmp_path, sqlite_url))
    client = await aiohttp_client(init_app(services.cfg, services, ari=False))
    client.services = services
    return client


async def upload(client, role: str, text: str, **fields):
    token = await sign_in(client, ROLE_USERS[role].username)
    form = FormData()
    form.add_field("csrf_token", token)
    form.add_field("kind", fields.pop("kind", "patients"))
    for name, value in fields.items():
        form.add_field(name, value)
    form.add_field("file", io.BytesIO(text.encode()), filename="export.csv", content_type="text/csv")
    return await client.post("/admin/imports", data=form, allow_redirects=False,
                             headers={"Origin": origin(client), "Accept": "text/html"})


def patients(client) -> int:
    with client.services.db.session() as session:
        return session.scalar(select(func.count()).select_from(Patient))


async def test_given_admin_when_uploading_good_file_then_imported_and_report_shown(client, caplog):
    caplog.set_level(logging.DEBUG)
    response = await upload(client, "admin", GOOD)
    page = await response.text()
    assert response.status == 200 and "Imported." in page and 'data-count="created">2<' in page
    assert patients(client) == 2
    with client.services.db.session() as session:
        audit = session.scalar(select(AuditEvent).where(AuditEvent.action == "csv_import"))
        assert audit.actor_user_id is not None and audit.detail["created"] == 2
    assert not any(word in caplog.text for word in ("Zyxwer", "Quentina", "5550101", "export.csv"))


async def test_given_bad_row_when_uploading_then_nothing_written_until_good_rows_asked(client):
    response = await upload(client, "admin", BAD, dry_run="1")
    assert response.status == 422 and "Dry run: nothing was written." in await response.text()
    response = await upload(client, "admin", BAD)
    page = await response.text()
    assert response.status == 422 and "Nothing was written" in page
    assert "<td>4</td><td>given_name</td><td>required value missing</td>" in page
    assert patients(client) == 0
    response = await upload(client, "admin", BAD, good_rows="1")
    assert response.status == 422 and "Imported." in await response.text() and patients(client) == 2


async def test_given_file_over_one_mebibyte_when_uploading_then_taken_and_checked(client):
    # Rows without a given name: the whole file is read and checked, and none reaches the database.
    filler = "x" * 100
    rows = "".join(f"IMP-{n},{filler},,1950-12-10,\n" for n in range(9_000))
    text = "mrn,family_name,given_name,birth_date,mobile_phone\n" + rows
    assert len(text) > 1024 * 1024
    response = await upload(client, "admin", text)
    page = await response.text()
    assert response.status == 422 and 'data-count="total">9000<' in page
    assert "the rest of the file was not checked" in page


async def test_given_supervisor_or_no_csrf_token_when_uploading_then_refused(client):
    response = await upload(client, "supervisor", GOOD)
    assert response.status == 403
    await sign_in(client, ROLE_USERS["admin"].username)
    form = FormData()
    form.add_field("kind", "patients")
    form.add_field("file", io.BytesIO(GOOD.encode()), filename="export.csv")
    response = await client.post("/admin/imports", data=form, headers={"Origin": origin(client)})
    assert response.status == 403 and patients(client) == 0
