from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string

from registry.notifications.outbox import recipients_emails
from registry.services.delivery import DeliveryFailed, Digest
from workers.channels.digest import digest_context


def send_email(digest: Digest) -> None:
    recipients = recipients_emails(digest.team, digest.audience)
    if not recipients:
        raise DeliveryFailed(
            f"team {digest.team.slug} has no email address for its {digest.audience}",
            permanent=True,
        )
    context = digest_context(digest)
    message = EmailMultiAlternatives(
        subject=context["subject"],
        body=render_to_string("emails/digest.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
        connection=get_connection(timeout=settings.EMAIL_TIMEOUT),
    )
    message.attach_alternative(render_to_string("emails/digest.html", context), "text/html")
    try:
        message.send()
    except OSError as exc:  # smtplib errors are OSErrors
        raise DeliveryFailed(f"SMTP: {exc.__class__.__name__}: {exc}") from exc
