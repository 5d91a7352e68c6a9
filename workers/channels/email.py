"""Email digests over SMTP, each message within a total deadline.

`EMAIL_TIMEOUT` bounds each socket operation; a server that trickles its answers one
byte at a time never trips it. Every message therefore also has a total deadline,
NHI_SMTP_TOTAL_SECONDS: a watchdog (deadline.py) shuts the SMTP socket when it passes,
the send fails with DeliveryFailed (retried with backoff) and the worker is free.

Each message carries a Message-ID derived from its notifications (digest.py), the same
for every send of the same digest, and the notification ids in X-NHI-Notification-Ids,
so a receiver can drop the repeat of a digest sent twice.
"""

from __future__ import annotations

import smtplib
import socket
from email.utils import parseaddr
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.template.loader import render_to_string
from django.utils.module_loading import import_string

from registry.notifications.outbox import recipients_emails
from registry.services.delivery import DeliveryFailed, Digest
from workers.channels.deadline import Deadline
from workers.channels.digest import digest_context, digest_ref, notification_ids


class _DeadlineSMTPBackend(SMTPBackend):
    """Django's SMTP backend (same settings) whose connection registers its socket
    with the message's deadline as soon as it exists, before the server's greeting:
    a server that trickles even its greeting is cut off too."""

    def __init__(self, *, deadline: Deadline, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._deadline = deadline

    @property
    def connection_class(self) -> type[smtplib.SMTP]:
        # As Django's own property chooses (the stubs do not declare it).
        base: type[smtplib.SMTP] = smtplib.SMTP_SSL if self.use_ssl else smtplib.SMTP
        deadline = self._deadline

        class _Watched(base):  # type: ignore[valid-type, misc]
            def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
                sock = super()._get_socket(host, port, timeout)
                # Read at expiry: STARTTLS replaces `self.sock` with a wrapped socket.
                deadline.watch(lambda: self.sock)
                return sock

        return _Watched


def _connection(deadline: Deadline) -> Any:
    """The configured backend; Django's SMTP one bounded by `deadline`. Each socket
    step also waits no longer than the total itself."""
    step_seconds = min(float(settings.EMAIL_TIMEOUT), deadline.seconds)
    if import_string(settings.EMAIL_BACKEND) is SMTPBackend:
        return _DeadlineSMTPBackend(deadline=deadline, timeout=step_seconds)
    return get_connection(timeout=step_seconds)


def message_id(digest: Digest) -> str:
    """`<nhi-digest-…@domain>`, the domain of DEFAULT_FROM_EMAIL (else BASE_URL's host)."""
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    domain = address.rpartition("@")[2] or urlsplit(settings.BASE_URL).hostname or "localhost"
    return f"<{digest_ref(digest)}@{domain}>"


def send_email(digest: Digest) -> None:
    recipients = recipients_emails(digest.team, digest.audience)
    if not recipients:
        raise DeliveryFailed(
            f"team {digest.team.slug} has no email address for its {digest.audience}",
            permanent=True,
        )
    context = digest_context(digest)
    total = float(settings.NHI_SMTP_TOTAL_SECONDS)
    deadline = Deadline(total)
    headers = {"Message-ID": message_id(digest)}
    if ids := notification_ids(digest):
        headers["X-NHI-Notification-Ids"] = ids
    message = EmailMultiAlternatives(
        subject=context["subject"],
        body=render_to_string("emails/digest.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
        headers=headers,
        connection=_connection(deadline),
    )
    message.attach_alternative(render_to_string("emails/digest.html", context), "text/html")
    try:
        with deadline:
            message.send()
    except OSError as exc:  # smtplib errors are OSErrors
        if deadline.expired:
            raise DeliveryFailed(f"SMTP: no answer within {total:g} s") from exc
        raise DeliveryFailed(f"SMTP: {exc.__class__.__name__}: {exc}") from exc
