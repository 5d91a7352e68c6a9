"""Lifecycle events to a team's event webhook, signed per the Standard Webhooks spec:
headers webhook-id, webhook-timestamp and webhook-signature ("v1," + base64 of
HMAC-SHA256 over "{id}.{timestamp}.{body}" with the base64-decoded whsec_ secret)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from registry.rules.links import path_url
from registry.services.delivery import DeliveryFailed, Digest
from workers.channels.http import post


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def send_webhook(digest: Digest) -> None:
    team = digest.team
    if not team.event_webhook_url or not team.event_webhook_secret:
        raise DeliveryFailed(f"team {team.slug} has no event webhook", permanent=True)
    for notification in digest.notifications:
        payload = notification.payload
        body = json.dumps(
            {
                "type": notification.reason,
                "timestamp": payload.get("occurred_at", notification.created_at.isoformat()),
                "data": {**payload.get("path", {}), "url": path_url(notification.path_id)},
            },
            sort_keys=True,
        ).encode()
        # Stable per notification, so a redelivery after a crash can be recognised.
        message_id = payload.get("message_id") or f"msg_nhi_{notification.pk}"
        timestamp = int(time.time())
        post(
            team.event_webhook_url,
            body,
            {
                "webhook-id": message_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(team.event_webhook_secret, message_id, timestamp, body),
            },
        )
