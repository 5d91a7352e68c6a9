"""Slack and Microsoft Teams incoming webhooks.

Path names, systems and messages are typed by people and by imports, so they are
escaped for each chat's markup before they reach a channel: `<!channel>`,
`<https://evil|Open the registry>`, `[text](https://evil)` and `<at>` mentions arrive
as the literal text someone typed, never as a mention or a disguised link. Only the
registry's own link to the path is markup.

Each message carries its digest's stable reference (digest.py) as the Idempotency-Key
and X-NHI-Message-Id headers and as a last "ref nhi-digest-…" line, so a repeat of the
same digest can be recognised by a receiver or by the people reading it.
"""

from __future__ import annotations

import json
import re

from registry.services.delivery import Digest
from workers.channels.digest import digest_context, digest_ref
from workers.channels.http import post

# Markdown that Teams' MessageCard renders: each such character is backslash-escaped.
_TEAMS_MARKDOWN = re.compile(r"([\\`*_\[\]()#|~])")


def slack_escape(text: str) -> str:
    """Slack's control characters as its documented entities: no mention, no link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def teams_escape(text: str) -> str:
    """Teams renders markdown and a little HTML (`<at>` mentions): both neutralised."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _TEAMS_MARKDOWN.sub(r"\\\1", text)


def slack_text(digest: Digest) -> str:
    context = digest_context(digest)
    lines = [slack_escape(context["subject"])]
    for item in context["items"]:
        where = slack_escape(f"{item['name']} ({item['system']}, {item['environment']})")
        lines.append(f"• {where}: {slack_escape(item['message'])} <{item['url']}|Open>")
    lines.append(f"ref {context['ref']}")
    return "\n".join(lines)


def message_headers(digest: Digest) -> dict[str, str]:
    ref = digest_ref(digest)
    return {"Idempotency-Key": ref, "X-NHI-Message-Id": ref}


def send_slack(digest: Digest) -> None:
    body = {"text": slack_text(digest), "unfurl_links": False, "unfurl_media": False}
    post(digest.team.slack_webhook_url, json.dumps(body).encode(), message_headers(digest))


def teams_card(digest: Digest) -> dict:
    context = digest_context(digest)
    return {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": context["subject"],
        "title": context["subject"],  # our words and a team slug ([a-z0-9-]) only
        "sections": [
            {
                "activityTitle": teams_escape(item["name"]),
                "text": f"{teams_escape(item['message'])} [Open]({item['url']})",
            }
            for item in context["items"]
        ],
        "text": f"ref {context['ref']}",  # our own [a-z0-9-] reference, no markup
    }


def send_teams(digest: Digest) -> None:
    body = json.dumps(teams_card(digest)).encode()
    post(digest.team.teams_webhook_url, body, message_headers(digest))
