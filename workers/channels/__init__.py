"""Sending a digest on its channel; the delivery service decides what and when."""

from registry.models import Notification
from registry.services.delivery import Digest, Sender
from workers.channels.chat import send_slack, send_teams
from workers.channels.email import send_email
from workers.channels.webhook import send_webhook

_SENDERS: dict[str, Sender] = {
    Notification.Channel.EMAIL: send_email,
    Notification.Channel.SLACK: send_slack,
    Notification.Channel.TEAMS: send_teams,
    Notification.Channel.WEBHOOK: send_webhook,
}


def send(digest: Digest) -> None:
    _SENDERS[digest.channel](digest)
