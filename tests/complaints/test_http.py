"""Tickets through HTTP (aiohttp test client, SQLite): the public form answers with the serial; HTML in every
text field is shown escaped; a flood from one address is held back with the text given back while another
address is served; the honeypot stores nothing; letters with their scan (too large, wrong type refused, the
typed text kept); the handler console's steps; permissions of the team's pages."""
from __future__ import annotations

import io
import re

import pytest
from aiohttp import FormData
from sqlalchemy import func, select

from callcenter.complaints import serial
from callcenter.db.models import AuditEvent, Call, Complaint, ComplaintAttachment, Recording, User
from callcenter.main import build, init_app
from tests.browser.live import ROLE_USERS, console_config, origin, page_csrf, seed_role_users, sign_in

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


async def console(tmp_path, sqlite_url, aiohttp_client, *, proxy: bool):
    seed_role_users(sqlite_url)
    cfg = console_config(tmp_path, sqlite_url)
    if proxy:  # the tests speak as several addresses through X-Forwarded-For, over plain http
        cfg.http.trusted_proxies, cfg.http.secure_cookies = "127.0.0.1", "false"
    cfg.complaints.web_per_address = 3
    cfg.complaints.max_attachment_bytes = 64 * 1024
    services = build(cfg)
    client = await aiohttp_client(init_app(services.cfg, services, ari=False))
    client.services = services
    return client


@pytest.fixture
async def client(tmp_path, sqlite_url, aiohttp_client):
    return await console(tmp_path, sqlite_url, aiohttp_client, proxy=False)


@pytest.fixture
async def proxied(tmp_path, sqlite_url, aiohttp_client):
    return await console(tmp_path, sqlite_url, aiohttp_client, proxy=True)


def forwarded(address: str | None, client) -> dict:
    headers = {"Origin": origin(client), "Accept": "text/html"}
    return headers | ({"X-Forwarded-For": address, "X-Forwarded-Proto": "http"} if address else {})


async def submit(client, address: str | None = None, **fields):
    page = await client.get("/complaints/new", headers=forwarded(address, client))
    assert page.status == 200
    form = {"csrf_token": page_csrf(await page.text()), "kind": "complaint", "category": "waiting_time",
            "department": "outpatient", "text": "I waited three hours.", "website": ""} | fields
    return await client.post("/complaints/new", data=form, headers=forwarded(address, client))


def tickets(client) -> list[Complaint]:
    with client.services.db.session() as session:
        return list(session.scalars(select(Complaint).order_by(Complaint.id)))


async def test_given_the_public_form_when_sent_then_the_page_shows_the_serial_of_the_stored_ticket(client):
    response = await submit(client)

    html = await response.text()
    assert response.status == 201
    [ticket] = tickets(client)
    assert serial.display(ticket.serial) in html and serial.is_valid(ticket.serial)
    assert (ticket.channel, ticket.status, ticket.patient_id) == ("web", "received", None)


async def test_given_html_in_every_text_field_when_sent_and_viewed_then_it_is_stored_as_written_and_escaped(
        client):
    fields = {name: XSS for name in ("text", "contact_name", "contact_phone", "contact_email")}
    assert (await submit(client, **fields)).status == 201
    [ticket] = tickets(client)
    assert ticket.text == XSS and ticket.contact_name == XSS

    await sign_in(client, ROLE_USERS["supervisor"].username)
    page = await (await client.get(f"/complaints/{ticket.id}", headers={"Accept": "text/html"})).text()

    assert "<script>alert" not in page and "<img src=x" not in page
    assert page.count("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") >= 4


async def test_given_a_flood_from_one_address_when_over_the_limit_then_held_back_text_kept_others_served(
        proxied):
    client, flooder = proxied, "203.0.113.5"
    for n in range(3):
        assert (await submit(client, flooder, text=f"flood {n}")).status == 201

    held = await submit(client, flooder, text="my real complaint, typed carefully")
    other = await submit(client, "198.51.100.7", text="another patient")

    page = await held.text()
    assert held.status == 429 and "my real complaint, typed carefully" in page and "seconds" in page
    assert other.status == 201
    assert [t.text for t in tickets(client)] == ["flood 0", "flood 1", "flood 2", "another patient"]


async def test_given_the_honeypot_filled_when_sent_then_nothing_is_stored_and_no_serial_shown(client):
    response = await submit(client, website="http://spam.example")

    assert response.status == 200 and "reference number" not in await response.text()
    assert tickets(client) == []


@pytest.mark.parametrize("fields, why", [({"text": "  "}, "text is empty"),
                                         ({"kind": "rant"}, "kind must be"),
                                         ({"text": "x" * 5001}, "longer than 5000")])
async def test_given_a_bad_field_when_sent_then_the_form_comes_back_with_the_reason(client, fields, why):
    response = await submit(client, **fields)

    assert response.status == 400 and why in await response.text()
    assert tickets(client) == []


async def letter(client, data: bytes, content_type: str = "application/pdf", text: str = "Letter about food"):
    token = await sign_in(client, ROLE_USERS["supervisor"].username)
    page = await client.get("/complaints/letter", headers={"Accept": "text/html"})
    assert page.status == 200
    form = FormData()
    for name, value in {"csrf_token": token, "kind": "complaint", "category": "food",
                        "department": "maternity", "severity": "low", "text": text,
                        "contact_name": "A. Sender"}.items():
        form.add_field(name, value)
    form.add_field("scan", io.BytesIO(data), filename="../../letter.pdf", content_type=content_type)
    return await client.post("/complaints/letter", data=form, allow_redirects=False,
                             headers={"Origin": origin(client), "Accept": "text/html"})


async def test_given_a_letter_with_its_scan_when_entered_then_ticket_and_owner_only_file_are_kept(client):
    response = await letter(client, PDF)

    assert response.status == 303
    [ticket] = tickets(client)
    assert ticket.channel == "letter" and response.headers["Location"] == f"/complaints/{ticket.id}"
    with client.services.db.session() as session:
        row = session.scalars(select(ComplaintAttachment)).one()
    path = client.services.complaints.store.root / row.path
    assert (row.filename, row.content_type, row.size) == ("letter.pdf", "application/pdf", len(PDF))
    assert path.read_bytes() == PDF and path.stat().st_mode & 0o077 == 0
    served = await client.get(f"/complaints/{ticket.id}/attachments/{row.id}")
    assert served.status == 200 and await served.read() == PDF
    assert served.headers["Content-Type"] == "application/pdf"
    with client.services.db.session() as session:
        reads = select(func.count()).where(AuditEvent.action == "complaint_attachment_read")
        assert session.scalar(reads) == 1


@pytest.mark.parametrize("data, content_type, status, why", [
    (PDF + b"0" * 70 * 1024, "application/pdf", 413, "larger than"),
    (b"<html><script>alert(1)</script></html>", "application/pdf", 415, "PDF, PNG, JPEG or TIFF"),
    (b"MZ\x90\x00 an executable renamed", "image/png", 415, "PDF, PNG, JPEG or TIFF"),
    (PDF, "image/png", 415, "not image/png"),
])
async def test_given_a_bad_scan_when_a_letter_is_entered_then_refused_with_the_text_kept_and_nothing_stored(
        client, data, content_type, status, why):
    response = await letter(client, data, content_type, text="Keep this summary")

    page = await response.text()
    assert response.status == status and why in page and "Keep this summary" in page
    assert tickets(client) == []
    assert not any(client.services.complaints.store.root.rglob("*.*"))


async def test_given_a_ticket_when_the_handler_works_it_then_each_step_shows_in_its_history(client):
    await submit(client)
    [ticket] = tickets(client)
    await sign_in(client, ROLE_USERS["supervisor"].username)

    for step, extra in (("assign", {}), ("start", {}),
                        ("resolve", {"text": "Called back, apologised.", "communicated_by": "phone"}),
                        ("close", {})):
        page = await (await client.get(f"/complaints/{ticket.id}", headers={"Accept": "text/html"})).text()
        done = await client.post(f"/complaints/{ticket.id}/step",
                                 data={"csrf_token": page_csrf(page), "step": step} | extra,
                                 headers={"Origin": origin(client), "Accept": "text/html"},
                                 allow_redirects=False)
        assert done.status == 303

    page = await (await client.get(f"/complaints/{ticket.id}", headers={"Accept": "text/html"})).text()
    assert re.findall(r'data-type="(\w+)"', page) == ["received", "assign", "start", "resolve", "close"]
    assert "Called back, apologised." in page and 'data-status="closed"' in page


@pytest.mark.parametrize("role", ["agent", "nurse"])
async def test_given_a_desk_role_when_opening_the_team_pages_then_refused(client, role):
    await submit(client)
    await sign_in(client, ROLE_USERS[role].username)

    for path in ("/complaints", "/complaints/1", "/complaints/letter"):
        response = await client.get(path, headers={"Accept": "text/html"}, allow_redirects=False)
        assert response.status == 403, path


async def test_given_the_relations_role_when_it_works_a_phone_ticket_then_audited_for_it_and_no_call_record(
        client):
    """Patient relations (issue 17) works tickets: the ticket page's read is audited in its name; the ticket
    says it came from a call but does not link the call's record, which the role may not open."""
    with client.services.db.session() as session:
        session.add(Call(id="c" * 32, direction="inbound", status="ended", caller_e164="+14155550100"))
    ticket = await client.services.complaints.create_ticket("phone", text="Rude on the phone.",
                                                          call_id="c" * 32)
    await sign_in(client, ROLE_USERS["relations"].username)

    page = await client.get(f"/complaints/{ticket.id}", headers={"Accept": "text/html"})
    call = await client.get(f"/calls/{'c' * 32}", headers={"Accept": "text/html"}, allow_redirects=False)

    html = await page.text()
    assert page.status == 200 and "Rude on the phone." in html and "cccccccc" in html
    assert f'href="/calls/{"c" * 32}"' not in html
    assert call.status == 403
    with client.services.db.session() as session:
        rows = session.execute(select(AuditEvent.action, User.username)
                               .join(User, AuditEvent.actor_user_id == User.id)
                               .where(AuditEvent.action == "complaint_viewed")).all()
    assert rows == [("complaint_viewed", ROLE_USERS["relations"].username)]


async def test_given_a_recorded_phone_ticket_when_relations_plays_it_then_audited_and_no_other_recording(
        client):
    """The team hears the call a ticket came from (least privilege: that recording only, through the review's
    grant bound to the user and the recording, audited with the ticket as the reason)."""
    root = client.services.review.directory
    root.mkdir(parents=True, exist_ok=True)
    with client.services.db.session() as session:
        for n in (1, 2):
            (root / f"call-{n}.wav").write_bytes(b"RIFF" + bytes([n]) * 60)
            session.add(Call(id=str(n) * 32, direction="inbound", status="ended", caller_e164="+14155550100"))
            session.flush()
            session.add(Recording(id=n, call_id=str(n) * 32, name=f"call-{n}", path=f"call-{n}.wav"))
    ticket = await client.services.complaints.create_ticket("phone", text="Rude.", call_id="1" * 32,
                                                            recording_id=1)
    token = await sign_in(client, ROLE_USERS["relations"].username)
    headers = {"Origin": origin(client), "Accept": "text/html"}

    page = await (await client.get(f"/complaints/{ticket.id}", headers=headers)).text()
    played = await client.post(f"/complaints/{ticket.id}/recording", data={"csrf_token": token},
                               headers=headers, allow_redirects=False)
    audio = await client.get(played.headers["Location"])
    grant = played.headers["Location"].split("grant=")[1]
    other = await client.get(f"/api/recordings/2/audio?grant={grant}")
    search = await client.post("/api/recordings/search", json={"patient": "MRN-1"},
                               headers={"Origin": origin(client), "X-CSRF-Token": token})

    assert 'id="ticket-recording"' in page
    assert played.status == 303 and audio.status == 200 and await audio.read() == b"RIFF" + b"\x01" * 60
    assert other.status == 403 and search.status == 403
    with client.services.db.session() as session:
        rows = session.execute(select(AuditEvent.recording_id, AuditEvent.reason, User.username)
                               .join(User, AuditEvent.actor_user_id == User.id)
                               .where(AuditEvent.action == "recording_played")).all()
    assert rows == [(1, f"ticket {ticket.id}", ROLE_USERS["relations"].username)]
