"""Slack and Microsoft Teams incoming webhooks."""

import json

from registry.services.delivery import Digest
from workers.channels.digest import digest_context, digest_text
from workers.channels.http import post


def send_slack(digest: Digest) -> None:
    post(digest.team.slack_webhook_url, json.dumps({"text": digest_text(digest)}).encode(), {})


def send_teams(digest: Digest) -> None:
    context = digest_context(digest)
    card = {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": context["subject"],
        "title": context["subject"],
        "sections": [
            {"activityTitle": i["name"], "text": f"{i['message']} [Open]({i['url']})"}
            for i in context["items"]
        ],
    }
    post(digest.team.teams_webhook_url, json.dumps(card).encode(), {})
