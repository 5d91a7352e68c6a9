"""The credential detector (registry.rules.secret_scan) against its corpus and the issue's cases.

tests/samples/secrets/*.jsonl is written by scripts/make_secret_corpus.py: random values
in each vendor's published format (bare, in text, disguised) and what the registry
legitimately holds. Recall is counted per type with the right kind reported; every
negative must be accepted. No timing is asserted: bench_detector measures speed.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import random
from collections import Counter, defaultdict
from io import StringIO
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from django.core.management import call_command

from registry.management.commands.seed_demo import build_specs
from registry.rules.secret_scan import Finding, find_secret, redact
from registry.rules.secret_scan.rules import IDENTIFIER_KINDS, KINDS, RULES

SAMPLES = Path(__file__).parents[1] / "samples"
CORPUS = SAMPLES / "secrets"
MIN_RECALL = 0.98


def _load(name: str) -> list[dict]:
    return [json.loads(line) for line in (CORPUS / name).read_text().splitlines() if line]


POSITIVES = _load("positives.jsonl")
NEGATIVES = _load("negatives.jsonl")


# --- the corpus ---------------------------------------------------------------------------


def test_the_corpus_is_large_and_varied_enough():
    assert len(POSITIVES) >= 150
    assert len({line["type"] for line in POSITIVES}) >= 30
    assert len(NEGATIVES) >= 200
    # Every type in the corpus is one the detector reports, and the reverse.
    assert {line["type"] for line in POSITIVES} == set(KINDS)


def _recall_table() -> tuple[str, dict[str, float], list[str]]:
    found: Counter[str] = Counter()
    total: Counter[str] = Counter()
    misses = []
    for line in POSITIVES:
        total[line["type"]] += 1
        finding = find_secret(line["value"])
        if finding and finding.kind == line["type"]:
            found[line["type"]] += 1
        else:
            misses.append(f"  {line['type']} ({line.get('note')}): got {finding}")
    recall = {kind: found[kind] / total[kind] for kind in total}
    rows = [f"  {kind:<36} {found[kind]:>3}/{total[kind]:<3} {recall[kind]:.0%}" for kind in total]
    return "\n".join(rows), recall, misses


def test_recall_per_type_and_overall():
    table, recall, misses = _recall_table()
    overall = 1 - len(misses) / len(POSITIVES)
    low = {kind: share for kind, share in recall.items() if share < MIN_RECALL}
    message = f"recall by type:\n{table}\noverall {overall:.1%}\nmisses:\n" + "\n".join(misses)
    assert not low and overall >= MIN_RECALL, message


def test_no_false_positive_in_any_category():
    checked: Counter[str] = Counter()
    flagged: dict[str, list[str]] = defaultdict(list)
    for line in NEGATIVES:
        checked[line["category"]] += 1
        finding = find_secret(line["value"], identifier=line.get("identifier", False))
        if finding:
            flagged[line["category"]].append(f"{line['value']!r} -> {finding}")
    table = "\n".join(
        f"  {category:<34} {len(flagged.get(category, []))} of {count}"
        for category, count in checked.items()
    )
    details = "\n".join(f"  {c}: {v}" for c, values in flagged.items() for v in values)
    assert not flagged, f"false positives by category:\n{table}\n{details}"


# --- redaction ----------------------------------------------------------------------------


@pytest.mark.parametrize("line", POSITIVES, ids=lambda line: f"{line['type']}/{line['note']}")
def test_redact_removes_every_positive_from_a_log_line(line):
    log = f"2026-11-10T08:15:02Z WARN import failed payload={line['value']} user=alice"

    redacted = redact(log)

    assert redacted.startswith("2026-11-10T08:15:02Z WARN import failed payload=")
    assert redacted.endswith("user=alice") or "[REDACTED]" in redacted.rsplit(" ", 2)[-1]
    assert "[REDACTED]" in redacted
    assert line["value"] not in redacted
    assert find_secret(redacted) is None, redacted


def test_redact_leaves_every_negative_intact():
    changed = [
        (line["category"], line["value"])
        for line in NEGATIVES
        if not line.get("identifier") and redact(line["value"]) != line["value"]
    ]
    assert not changed


def test_redact_keeps_the_key_name_and_replaces_each_credential():
    text = (
        "retrying with password=Xk9#mP2$vL7qR4 and token ghp_"
        + "Zr8mK2pQ9vX4tL7nB3cW6yH1dF5gJ0sA2eR8 for https://svc:Tq7Lw2Xk9Pv4@db.example.com/x"
    )

    assert redact(text) == (
        "retrying with password=[REDACTED] and token [REDACTED] for "
        "https://svc:[REDACTED]@db.example.com/x"
    )


def test_redact_replaces_a_whole_private_key_block():
    body = "\n".join(["MIIEowIBAAKCAQEAx4Zr8mK2pQ9vX4tL7nB3cW6yH1dF5gJ0sA2eR8Tq7Lw2Xk9P"] * 3)
    block = f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"

    assert redact(f"key:\n{block}\ndone") == "key:\n[REDACTED]\ndone"


def _megabyte(unit: str) -> str:
    return (unit * (1_000_000 // len(unit) + 1))[:1_000_000]


HOSTILE = {
    "log of the whole corpus": "\n".join(
        f"2026-11-10 WARN line {i} {line['value']}" for i, line in enumerate(POSITIVES + NEGATIVES)
    ),
    "one long word": "a",
    "mixed-case run": "A1b2",
    "vendor prefixes": "sk-ghp_glpat-xoxb-AKIA",
    "repeated assignment": "password=",
    "percent escapes": "%41%2",
    "url authorities": "://a:",
    "jwt-like dots": "eyJa.",
    "key headers": "-----BEGIN ",
    "split pieces": "gh p_ 'ab' + ",
    "wrapped base64": "QUJDREVGR0hJSktMTU5PUA==\n",
    "hex and dashes": "0123456789abcdef-",
    "digits and colons": "123456789:",
    "a long word then a stray character": "abcdefghijklmnopqrstuvwxyzabcdefghijklmnop=",
    "vendor prefixes split into many pieces": "sk- " + "a1 " * 200,
    "urls with a password": "https://u:p@h ",
    "quoted pieces": "'AKIA' 'ABCD' ",
}


@pytest.mark.parametrize("unit", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_megabyte_of_hostile_text_finishes(unit):
    # No timing assert: a regex that backtracks catastrophically would not finish at all.
    text = _megabyte(unit)

    assert isinstance(redact(text), str)
    find_secret(text)


# --- identifier fields --------------------------------------------------------------------


def test_identifier_fields_allow_an_aws_access_key_id_and_nothing_else():
    key_id = "AKIAIOSFODNN7EXAMPLE"

    assert find_secret(key_id, identifier=True) is None
    assert find_secret(key_id) == Finding("AWS access key id", 0, 20)
    assert find_secret(f"ci job with {key_id}") == Finding("AWS access key id", 12, 32)
    assert {"AWS access key id"} == IDENTIFIER_KINDS


def test_identifier_fields_still_refuse_every_other_credential():
    allowed = [line for line in POSITIVES if line["type"] in IDENTIFIER_KINDS]
    refused = [line for line in POSITIVES if line["type"] not in IDENTIFIER_KINDS]

    assert all(find_secret(line["value"], identifier=True) is None for line in allowed)
    missed = [line for line in refused if find_secret(line["value"], identifier=True) is None]
    assert not missed


# --- the issue's examples, plain and disguised ----------------------------------------------

AZURE_KEY = "Zr8mK2pQ9vX4tL7n" * 5 + "B3cW6y=="  # 86 base64 characters and padding
PGP_BODY = "lQOYBGZr8mK2pQ9vX4tL7nB3cW6yH1dF5gJ0sA2eR8Tq7Lw2Xk9Pv4Hn6Jm3Bc5Df8"
# name: (kind, value, how many leading characters stay whole when the value is split)
EXAMPLES = {
    "aws secret access key": (
        "AWS secret access key",
        "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCY3Zr8mK2pQ9",
        len("aws_secret_access_key="),
    ),
    "gitlab": ("GitLab token", "glpat-Zr8mK2pQ9vX4tL7nB3cW", 6),
    "stripe": ("Stripe key", "sk_live_Zr8mK2pQ9vX4tL7nB3cW6yH1", 8),
    "google api key": ("Google API key", "AIzaSyZr8mK2pQ9vX4tL7nB3cW6yH1dF5gJ0sA2", 4),
    "azure connection string": (
        "Azure storage account key",
        "DefaultEndpointsProtocol=https;AccountName=acmelogs;AccountKey=" + AZURE_KEY,
        len("DefaultEndpointsProtocol=https;AccountName=acmelogs;AccountKey="),
    ),
    "openai": (
        "OpenAI API key",
        "sk-proj-" + "Zr8mK2pQ9vX4tL7nB3cW6yH1dF5g" * 2 + "T3BlbkFJ" + "Jm3Bc5Df8GsKt7Lw2Xk9" * 3,
        8,
    ),
    "anthropic": (
        "Anthropic API key",
        "sk-ant-api03-" + "Zr8mK2pQ9vX4tL7nB3cW6yH1dF5gJ0sA2eR8Tq7Lw" * 2 + "Xk9Pv4Hn6Jm3AA",
        13,
    ),
    "vault": ("HashiCorp Vault token", "hvs.CAESIZr8mK2pQ9vX4tL7nB3cW6yH1dF5gJ0sA2eR8Tq7Lw", 4),
    "npm": ("npm token", "npm_Zr8mK2pQ9vX4tL7nB3cW6yH1dF5gJ0sA2eR8", 4),
    "pypi": (
        "PyPI token",
        "pypi-AgEIcHlwaS5vcmc" + "Zr8mK2pQ9vX4tL7nB3cW6yH1dF5gJ0sA2eR8Tq7Lw2Xk9" * 2,
        20,
    ),
    "slack webhook": (
        "Slack webhook URL",
        "https://hooks.slack.com/services/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",
        len("https://hooks.slack.com/services/T0A1B2C3D/B0A1B2C3D4E/"),
    ),
    "url with a password": ("password in URL", "https://user:password@host", 15),
    "pgp private key": (
        "private key",
        f"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n{PGP_BODY}\n-----END PGP PRIVATE KEY BLOCK-----",
        0,
    ),
}


def _split(value: str, keep: int, separator: str) -> str:
    if value.startswith("-----BEGIN PGP"):  # the header's own words are split instead
        return value.replace("PGP PRIVATE KEY", f"PGP {separator}PRIVATE{separator}KEY", 1)
    head, tail = value[:keep], value[keep:]
    return head + separator.join(tail[i : i + 6] for i in range(0, len(tail), 6))


def _percent_encoded(value: str) -> str:
    encoded = quote(value, safe="")
    return encoded if encoded != value else "".join(f"%{b:02X}" for b in value.encode())


DISGUISES = {
    "plain": lambda value, keep: f"found {value} in the export",
    "spaces": lambda value, keep: f"found {_split(value, keep, ' ')} in the export",
    "line breaks": lambda value, keep: f"found\n{_split(value, keep, chr(10))}\nin the export",
    "base64": lambda value, keep: base64.b64encode(value.encode()).decode(),
    "url encoding": lambda value, keep: f"https://example.com/cb?x={_percent_encoded(value)}",
}


@pytest.mark.parametrize("disguise", DISGUISES)
@pytest.mark.parametrize("example", EXAMPLES)
def test_the_issue_examples_are_found_plain_and_disguised(example, disguise):
    kind, value, keep = EXAMPLES[example]
    text = DISGUISES[disguise](value, keep)

    finding = find_secret(text)

    assert finding is not None and finding.kind == kind, (text, finding)
    assert redact(text) != text


def test_findings_point_at_the_disguised_run():
    encoded = base64.b64encode(b"npm_Zr8mK2pQ9vX4tL7nB3cW6yH1dF5gJ0sA2eR8").decode()
    text = f"payload {encoded} attached"

    assert find_secret(text) == Finding("npm token", 8, 8 + len(encoded))
    assert redact(text) == "payload [REDACTED] attached"


@pytest.mark.parametrize(
    "text",
    [
        "The API key is stored in Vault at secret/payments and rotated monthly.",
        "Password rotation is handled by the secret manager (PAY-1234).",
        "token: stored in Vault, never in this registry.",
        "password=${DB_PASSWORD}",
        "secret: vault:secret/data/ci",
        "api_key: arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf",
        "secret: projects/p/secrets/x/versions/1",
        "password: /run/secrets/db_password",
        "client_secret: <redacted>",
        "password: '****'",
        "password = changeme",
        "projects/p/serviceAccounts/sa@p.iam.gserviceaccount.com/keys/"
        "3f1c9a7be2d04c5e8a61b0f2d7e94c13a85b6d20",
        "system:serviceaccount:payments:ledger-sync",
        "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
        "registry.example.com/payments/api@sha256:" + "ab12" * 16,
    ],
)
def test_what_the_registry_legitimately_holds_is_accepted(text):
    assert find_secret(text) is None
    assert redact(text) == text


# --- the rule table -------------------------------------------------------------------------


def test_every_rule_names_its_source_and_builds_on_detect_secrets_where_it_can():
    assert all(rule.source for rule in RULES)
    from_detect_secrets = {rule.kind for rule in RULES if "detect-secrets" in rule.source}
    assert len(from_detect_secrets) >= 15
    assert len(set(KINDS)) >= 30


# --- data the project already ships ----------------------------------------------------------


def _strings(data: object) -> list[str]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [s for key, value in data.items() for s in [str(key), *_strings(value)]]
    if isinstance(data, list):
        return [s for item in data for s in _strings(item)]
    return []


def _sample_values(path: Path) -> list[str]:
    text = path.read_text()
    values = [text]
    if path.suffix == ".csv":
        values += [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    elif path.suffix == ".json":
        try:
            values += _strings(json.loads(text))
        except json.JSONDecodeError:  # the deliberately broken samples
            values += text.splitlines()
    elif path.suffix == ".yaml":
        try:
            values += [s for document in yaml.safe_load_all(text) for s in _strings(document)]
        except yaml.YAMLError:
            values += text.splitlines()
    return values


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.*")), ids=lambda path: path.name)
def test_the_import_samples_hold_no_credential(path):
    # Sources name credentials by their ids (an access-key listing's AccessKeyId): a key
    # *id* is allowed as in identifier fields; everything else is still a secret.
    flagged = [(v[:80], f) for v in _sample_values(path) if (f := find_secret(v, identifier=True))]
    assert not flagged


def test_the_demo_estate_holds_no_credential():
    specs = build_specs(random.Random(20261122))
    flagged = [
        (field, value)
        for spec in specs
        for field, value in spec.data.items()
        if isinstance(value, str) and find_secret(value, identifier=field == "external_id")
    ]
    assert specs and not flagged


# --- the benchmark command -----------------------------------------------------------------


def test_the_benchmark_command_runs():
    out = StringIO()

    call_command("bench_detector", "--values", "500", "--min-rate", "0", stdout=out)

    output = out.getvalue()
    assert "typical values: 500" in output
    assert "values/s" in output
    assert "positive corpus:" in output
    assert "100.0% detected" in output
