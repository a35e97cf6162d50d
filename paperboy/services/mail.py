"""Sending mail with the standard library: SMTP as the settings say, or an outbox folder.

With no ``smtp_host`` configured, messages are written to ``<home>/outbox/`` as ``.eml`` files,
so a fresh install loses no password-reset link and an admin can open them with any mail client.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import tempfile
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from paperboy.config import Settings


class MailError(RuntimeError):
    """A message could not be handed over; ``permanent`` when retrying cannot help (SMTP 5xx)."""

    def __init__(self, text: str, permanent: bool = False) -> None:
        super().__init__(text)
        self.permanent = permanent


def new_message(settings: Settings, to: str, subject: str, text: str, html: str | None = None) -> EmailMessage:
    """A message from the configured sender: plain text, with an HTML alternative when given."""
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=_domain(settings.mail_from))
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg


def _domain(address: str) -> str:
    return address.rsplit("@", 1)[-1].strip(" >") or "localhost"


class Mailer:
    """Hands messages to the configured SMTP server (one connection per ``send``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def outbox(self) -> Path:
        """Where messages go when no SMTP server is configured."""
        return Path(self.settings.home) / "outbox"

    def send(self, msg: EmailMessage) -> None:
        """Deliver one message; ``MailError`` says whether a retry could help."""
        if not self.settings.smtp_host:
            self._write(msg)
            return
        try:
            with self._connect() as smtp:
                smtp.send_message(msg)
        except smtplib.SMTPResponseException as exc:
            raise MailError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", permanent=500 <= exc.smtp_code < 600) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise MailError(f"recipients refused: {exc.recipients!r}", permanent=all(c >= 500 for c in codes)) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"SMTP server unreachable: {exc}") from exc

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        timeout = s.http_timeout
        if s.smtp_security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                s.smtp_host, s.smtp_port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=timeout)
            if s.smtp_security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
        if s.smtp_user:
            smtp.login(s.smtp_user, s.smtp_password)
        return smtp

    def _write(self, msg: EmailMessage) -> None:
        """Write atomically (temporary file, then rename), so the outbox never holds half a message."""
        self.outbox.mkdir(parents=True, exist_ok=True)
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{time.monotonic_ns()}.eml"
        fd, tmp = tempfile.mkstemp(dir=self.outbox, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(bytes(msg))
        os.replace(tmp, self.outbox / name)
