"""A real SMTP server on loopback (aiosmtpd) with a scriptable mailbox, and reading messages back."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from typing import Any

from support.servers import free_port


@dataclass
class Mailbox:
    """An aiosmtpd handler: keeps accepted messages; scripted refusals; an arrival hook."""

    #: address -> how many more times to answer 451 to it.
    temporary: dict[str, int] = field(default_factory=dict)
    #: addresses answered 550.
    refuse: set[str] = field(default_factory=set)
    #: the answer to MAIL FROM instead of 250 (e.g. "530 5.7.0 Authentication required").
    mail_from_reply: str | None = None
    #: called with the number of messages accepted so far, before accepting the next one;
    #: returning a reply string (e.g. "451 ...") answers that instead.
    on_data: Callable[[int], str | None] | None = None
    messages: list[EmailMessage] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
        if self.mail_from_reply:
            return self.mail_from_reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:  # noqa: N802
        with self.lock:
            self.attempts.append(address)
            if address in self.refuse:
                return "550 5.1.1 no such mailbox"
            if self.temporary.get(address, 0) > 0:
                self.temporary[address] -= 1
                return "451 4.7.1 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.on_data is not None:
            reply = self.on_data(len(self.messages))
            if reply:
                return reply
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        """Messages accepted for one address."""
        return [m for m in self.messages if m["To"] == address]

    def count_by_recipient(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for m in self.messages:
            out[str(m["To"])] = out.get(str(m["To"]), 0) + 1
        return out


@contextmanager
def smtp_server(mailbox: Mailbox | None = None, refuse: tuple[str, ...] = ()) -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on loopback: (its mailbox, its port); ``refuse``: addresses answered 550."""
    from aiosmtpd.controller import Controller

    mailbox = mailbox or Mailbox(refuse=set(refuse))
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def text_part(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def html_part(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("html",))
    assert part is not None
    return part.get_content()


def body_text(msg: Message) -> str:
    """The plain-text part of a message."""
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8")
    raise AssertionError("no text/plain part")
