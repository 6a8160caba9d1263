"""Sending email over SMTP (smtplib; blocking, so the outbox calls it in a worker thread). The server's
certificate is always verified, as the IMAP side's is: against [mail] ca_file (a private CA) or the system's
CAs; `smtp_security` is "starttls" (port 587), "tls" (SMTPS, port 465) or "none" (a relay on localhost only).
Errors say whether trying again may help; they never carry a password, an address or the message."""
from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from ..config import MailConfig

SECURITY = ("starttls", "tls", "none")


class SmtpError(Exception):
    """A message not sent; `retry`: a later try may work (the server away, a 4xx answer)."""

    def __init__(self, message: str, retry: bool):
        super().__init__(message)
        self.retry = retry


def send(cfg: MailConfig, message: EmailMessage) -> None:
    """Hand one message to the [mail] smtp_host; raises SmtpError."""
    try:
        with _connect(cfg) as smtp:
            if cfg.smtp_user:
                smtp.login(cfg.smtp_user, cfg.smtp_password)
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise SmtpError(f"recipient refused ({', '.join(map(str, codes))})", _temporary(*codes)) from None
    except smtplib.SMTPResponseException as exc:
        raise SmtpError(f"SMTP {exc.smtp_code}", _temporary(exc.smtp_code)) from None
    except (OSError, smtplib.SMTPException) as exc:   # refused, timed out, TLS failed, disconnected
        raise SmtpError(f"SMTP {cfg.smtp_host}:{cfg.smtp_port}: {type(exc).__name__}", True) from None


def _connect(cfg: MailConfig) -> smtplib.SMTP:
    if cfg.smtp_security not in SECURITY:
        raise SmtpError(f"[mail] smtp_security must be one of {', '.join(SECURITY)}", False)
    context = ssl.create_default_context(cafile=cfg.ca_file or None)
    timeout = cfg.smtp_timeout_seconds
    if cfg.smtp_security == "tls":
        return smtplib.SMTP_SSL(cfg.smtp_host, cfg.smtp_port, timeout=timeout, context=context)
    smtp = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=timeout)
    if cfg.smtp_security == "starttls":
        try:
            smtp.starttls(context=context)
        except BaseException:
            smtp.close()
            raise
    return smtp


def _temporary(*codes: int) -> bool:
    """4xx: try again later; 5xx: refused for good (a bad address)."""
    return all(400 <= code < 500 for code in codes) if codes else True
