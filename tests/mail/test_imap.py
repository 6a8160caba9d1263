"""The mailbox over a real IMAP server (dovecot, tests/mail/dovecot.py)."""
from __future__ import annotations

import pytest

from callcenter.config import MailConfig
from callcenter.mail.imap import Mailbox, MailboxError

from .dovecot import PASSWORD, USER
from .test_parse import simple


def config(server, **overrides) -> MailConfig:
    settings = dict(host="127.0.0.1", port=server.port, tls=False, username=USER, password=PASSWORD)
    return MailConfig(**{**settings, **overrides})


def test_given_two_new_messages_when_read_then_both_come_in_order_unseen_until_marked(dovecot):
    dovecot.deliver(simple(body="first", message_id="<1@x>"))
    dovecot.deliver(simple(body="second", message_id="<2@x>"))
    with Mailbox(config(dovecot)) as mailbox:
        fetched = mailbox.unseen(limit=10)
        assert [b"first" in f.raw for f in fetched] == [True, False]
        assert b"second" in fetched[1].raw
        assert mailbox.uidvalidity > 0
        assert dovecot.seen() == 0  # reading does not mark: only what is committed is
        mailbox.mark_seen(fetched[0].uid)
    assert dovecot.seen() == 1
    with Mailbox(config(dovecot)) as mailbox:
        assert [b"second" in f.raw for f in mailbox.unseen(limit=10)] == [True]


def test_given_a_message_over_the_size_limit_when_read_then_its_bytes_are_not_fetched(dovecot):
    dovecot.deliver(simple(body="x" * 5000))
    with Mailbox(config(dovecot, max_message_bytes=1000)) as mailbox:
        [big] = mailbox.unseen(limit=10)
    assert big.raw is None and big.size > 5000


def test_given_a_wrong_password_or_no_server_when_opened_then_a_clear_error_without_the_password(dovecot):
    with pytest.raises(MailboxError) as wrong:
        Mailbox(config(dovecot, password="nope-secret-xyz")).open()
    assert "nope-secret-xyz" not in str(wrong.value) and "127.0.0.1" in str(wrong.value)
    with pytest.raises(MailboxError, match="ConnectionRefused"):
        Mailbox(MailConfig(host="127.0.0.1", port=1, tls=False, username=USER, password=PASSWORD)).open()


def test_given_imaps_with_the_hospitals_ca_when_opened_then_read_and_without_it_refused(dovecot):
    dovecot.deliver(simple(body="over tls"))
    tls = config(dovecot, port=dovecot.tls_port, tls=True, ca_file=str(dovecot.pki.ca_file))
    with Mailbox(tls) as mailbox:
        assert [b"over tls" in f.raw for f in mailbox.unseen(limit=5)] == [True]
    untrusted = config(dovecot, port=dovecot.tls_port, tls=True)  # the system's CAs do not know this one
    with pytest.raises(MailboxError, match="SSLCertVerificationError"):
        Mailbox(untrusted).open()
