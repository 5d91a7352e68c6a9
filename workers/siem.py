"""Audit anchors to the SIEM: a signed head of the chain, outside the database.

POST {NHI_AUDIT_ANCHOR_WEBHOOK_URL} with a plain JSON body

    {"type": "audit.anchor", "anchors": [{"statement": {...}, "signature": "..."}, ...]}

signed per Standard Webhooks when NHI_AUDIT_ANCHOR_WEBHOOK_SECRET (whsec_...) is set.
Statements the SIEM did not accept stay pending and go with the next run, in order, so a
SIEM outage delays anchors and loses none (the local sink has them all the while).
"""

from __future__ import annotations

import hashlib
import json
import time

from django.conf import settings
from django.utils import timezone

from registry.audit.anchors import anchor_now, mark_sent_to_siem, sink_lock, unsent_to_siem
from workers.channels.http import post
from workers.channels.webhook import sign

BATCH = 100


def publish_anchors() -> int:
    """Send every statement the SIEM has not acknowledged; return how many went."""
    url = settings.NHI_AUDIT_ANCHOR_WEBHOOK_URL
    if not url:
        return 0
    with sink_lock():  # two beats, or a command beside the beat, send each batch once
        return _publish(url)


def _publish(url: str) -> int:
    pending, total = unsent_to_siem()
    sent_to = total - len(pending)
    for start in range(0, len(pending), BATCH):
        batch = pending[start : start + BATCH]
        body = json.dumps({"type": "audit.anchor", "anchors": batch}, sort_keys=True).encode()
        headers = {}
        if secret := settings.NHI_AUDIT_ANCHOR_WEBHOOK_SECRET:
            # Stable per batch content, so a SIEM can drop a repeat after a lost answer.
            message_id = "msg_anchor_" + hashlib.sha256(body).hexdigest()[:24]
            timestamp = int(time.time())
            headers = {
                "webhook-id": message_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(secret, message_id, timestamp, body),
            }
        post(url, body, headers)
        sent_to += len(batch)
        mark_sent_to_siem(sent_to)
    return len(pending)


def anchor_and_publish() -> dict:
    record = anchor_now(now=timezone.now())
    return {
        "anchored_seq": record["statement"]["seq"] if record else None,
        "sent_to_siem": publish_anchors(),
    }
