"""Reading patients' emails (issue 17, callcenter/mail/parse.py): the formats mail programs send, and hostile
input (MIME bombs, deep nesting, broken encodings, HTML) ending in a ticket's text or a reason in words."""
from __future__ import annotations

import base64
from email.message import EmailMessage

import pytest

from callcenter.mail.parse import Limits, Unreadable, read_email


def simple(body: str = "The nurse was rude to my mother.", **headers) -> bytes:
    message = EmailMessage()
    message["From"] = headers.get("sender", "Maria Lopez <Maria.Lopez@example.org>")
    message["To"] = "complaints@hospital.example"
    message["Subject"] = headers.get("subject", "Complaint about ward 5")
    message["Message-ID"] = headers.get("message_id", "<abc@example.org>")
    for name, value in headers.get("extra", {}).items():
        message[name] = value
    message.set_content(body)
    return message.as_bytes()


def test_given_a_plain_email_when_read_then_sender_subject_and_text_are_kept():
    email = read_email(simple())
    assert (email.sender, email.sender_name) == ("maria.lopez@example.org", "Maria Lopez")
    assert email.subject == "Complaint about ward 5"
    assert email.text == "The nurse was rude to my mother."
    assert email.attachments == [] and not email.auto_reply
    assert len(email.message_key) == 64


def test_given_the_same_message_id_when_read_twice_then_the_key_is_the_same_and_another_id_differs():
    assert read_email(simple()).message_key == read_email(simple(body="other")).message_key
    assert read_email(simple(message_id="<x@y>")).message_key != read_email(simple()).message_key


def test_given_an_encoded_subject_and_a_latin1_body_when_read_then_both_are_decoded():
    raw = (b"From: =?utf-8?q?Jos=C3=A9?= <jose@example.org>\r\n"
           b"Subject: =?iso-8859-1?q?Queja_urgente_=E1?=\r\n"
           b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           b"Esper\xe9 tres horas.\r\n")
    email = read_email(raw)
    assert email.sender_name == "José" and email.subject == "Queja urgente á"
    assert email.text == "Esperé tres horas."


def test_given_an_unknown_charset_when_read_then_the_text_is_kept_with_replacement_marks():
    raw = (b"From: a@example.org\r\nSubject: x\r\nContent-Type: text/plain; charset=x-no-such\r\n\r\n"
           b"caf\xc3\xa9 \xff\r\n")
    assert read_email(raw).text.startswith("café ")


def test_given_an_html_only_email_when_read_then_its_visible_text_is_kept_without_script_or_tags():
    message = EmailMessage()
    message["From"] = "a@example.org"
    message["Subject"] = "html"
    message.set_content("<html><head><style>p{}</style></head><body><p>Long <b>wait</b> &amp; no call</p>"
                        "<script>alert(1)</script><p>second</p></body></html>", subtype="html")
    assert read_email(message.as_bytes()).text == "Long wait & no call\nsecond"


def test_given_a_scanned_letter_attached_when_read_then_the_attachment_keeps_name_type_and_bytes():
    message = EmailMessage()
    message["From"] = "a@example.org"
    message["Subject"] = "letter"
    message.set_content("See the attached letter.")
    pdf = b"%PDF-1.4 fake"
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename="../../etc/letter.pdf")
    email = read_email(message.as_bytes())
    assert email.text == "See the attached letter."
    [attachment] = email.attachments
    assert (attachment.filename, attachment.content_type, attachment.data) == (
        "letter.pdf", "application/pdf", pdf)


def test_given_an_auto_reply_or_bounce_when_read_then_it_is_marked_so_no_acknowledgement_loops():
    assert read_email(simple(extra={"Auto-Submitted": "auto-replied"})).auto_reply
    assert read_email(simple(extra={"Precedence": "bulk"})).auto_reply
    assert read_email(simple(sender="MAILER-DAEMON@hospital.example")).auto_reply


@pytest.mark.parametrize("raw, reason", [
    (b"", "no usable From address"),
    (b"Subject: no sender\r\n\r\nhello\r\n", "no usable From address"),
    (b"From: not an address\r\n\r\nhello\r\n", "no usable From address"),
    (b"From: a@example.org\r\nSubject: empty\r\n\r\n", "no text and no attachment"),
    (b"\x00\xff\xfe garbage", "no usable From address"),
])
def test_given_a_malformed_message_when_read_then_it_is_refused_with_a_reason(raw, reason):
    with pytest.raises(Unreadable, match=reason):
        read_email(raw)


def nested(depth: int) -> bytes:
    body = b"Content-Type: text/plain\r\n\r\ndeep\r\n"
    for level in range(depth):
        boundary = f"b{level}".encode()
        body = (b"Content-Type: multipart/mixed; boundary=" + boundary + b"\r\n\r\n--" + boundary + b"\r\n"
                + body + b"\r\n--" + boundary + b"--\r\n")
    return b"From: a@example.org\r\nSubject: bomb\r\nMIME-Version: 1.0\r\n" + body


def test_given_parts_nested_too_deep_when_read_then_it_is_refused_and_a_shallow_one_is_read():
    assert read_email(nested(3)).text == "deep"
    with pytest.raises(Unreadable, match="nests parts more than 8 deep"):
        read_email(nested(50))


def test_given_thousands_of_parts_when_read_then_it_is_refused():
    parts = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(2000))
    raw = (b"From: a@example.org\r\nSubject: bomb\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + parts + b"--b--\r\n")
    with pytest.raises(Unreadable, match="more than 100 parts"):
        read_email(raw)


def test_given_attachments_decoding_past_the_limits_when_read_then_it_is_refused():
    limits = Limits(max_attachment_bytes=1000, max_decoded_bytes=2500)
    big = EmailMessage()
    big["From"] = "a@example.org"
    big.set_content("text")
    big.add_attachment(b"x" * 1001, maintype="application", subtype="octet-stream", filename="a.bin")
    with pytest.raises(Unreadable, match="attachment is larger than 1000 bytes"):
        read_email(big.as_bytes(), limits)
    many = EmailMessage()
    many["From"] = "a@example.org"
    many.set_content("text")
    for i in range(3):
        many.add_attachment(b"y" * 900, maintype="image", subtype="png", filename=f"{i}.png")
    with pytest.raises(Unreadable, match="decodes to more than 2500 bytes"):
        read_email(many.as_bytes(), limits)


def test_given_broken_base64_when_read_then_what_decodes_is_kept_or_the_message_is_refused_in_words():
    raw = (b"From: a@example.org\r\nSubject: b64\r\nContent-Type: text/plain\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(b"hello there")[:-3] + b"!!*\r\n")
    try:
        email = read_email(raw)
    except Unreadable as exc:
        assert "encoding" in str(exc) or "no text" in str(exc)
    else:
        assert isinstance(email.text, str)


def test_given_a_forwarded_message_when_read_then_its_text_counts():
    inner = simple(body="Forwarded complaint text")
    raw = (b"From: b@example.org\r\nSubject: Fwd\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\nContent-Type: text/plain\r\n\r\n"
           b"See below\r\n--z\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--z--\r\n")
    assert "Forwarded complaint text" in read_email(raw).text and "See below" in read_email(raw).text
