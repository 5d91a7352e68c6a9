"""Write the credential detector's test corpus (tests/samples/secrets/*.jsonl).

Every positive is random, made here in its vendor's published format: none is, or ever
was, a real credential. Each credential type appears bare, inside ordinary text (log
line, sentence, env file, JSON), and disguised (split by spaces or line breaks, glued
from quoted pieces, base64-encoded, URL-encoded); a disguised line carries the type of
the credential underneath. Negatives are what the registry legitimately holds.

Seeded: running it again writes the same files.

    python scripts/make_secret_corpus.py [--out tests/samples/secrets] [--seed N]
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import string
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, quote_plus

SEED = 20261110
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "tests" / "samples" / "secrets"

LOWER = string.ascii_lowercase
UPPER = string.ascii_uppercase
DIGITS = string.digits
HEX = "0123456789abcdef"
BASE62 = DIGITS + UPPER + LOWER
B64 = UPPER + LOWER + DIGITS + "+/"
B64URL = UPPER + LOWER + DIGITS + "-_"
BASE32 = UPPER + "234567"
BECH32 = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"


class Corpus:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.positives: list[dict] = []
        self.negatives: list[dict] = []

    # --- random building blocks -------------------------------------------------------

    def chars(self, alphabet: str, length: int) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(length))

    def b64_bytes(self, count: int, *, urlsafe: bool = False) -> str:
        raw = bytes(self.rng.getrandbits(8) for _ in range(count))
        return (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode()

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def password(self, length: int | None = None) -> str:
        length = length or self.rng.randint(12, 24)
        pools = [LOWER, UPPER, DIGITS, "!#$%*+-.:=?@^_~"]
        chars = [self.rng.choice(pool) for pool in pools]
        chars += [self.rng.choice("".join(pools)) for _ in range(length - len(pools))]
        self.rng.shuffle(chars)
        return "".join(chars)

    # --- positives --------------------------------------------------------------------

    def add(self, kind: str, value: str, note: str) -> None:
        self.positives.append({"type": kind, "value": value, "note": note})

    def contexts(self, kind: str, secret: str, *, env: str) -> None:
        """The secret bare, in a log line, a sentence, an env assignment and JSON."""
        self.add(kind, secret, "bare")
        self.add(kind, f"2026-11-10T08:15:02Z WARN upstream rejected {secret} (401)", "log line")
        self.add(
            kind, f"The nightly export job signs in with {secret} to read invoices.", "sentence"
        )
        self.add(kind, f"{env}={secret}", "env assignment")
        self.add(kind, json.dumps({"service": "billing-export", "credential": secret}), "JSON")

    def disguises(self, kind: str, secret: str, prefix_length: int) -> None:
        """Split, glued from quoted pieces, base64 and URL-encoded variants. (Splitting
        needs a vendor prefix to find the pieces by: types without one get only the
        encodings.)"""
        body = secret[prefix_length:]
        cut = max(4, len(body) // 4)
        pieces = [secret[:prefix_length] + body[:cut]]
        pieces += [body[i : i + cut] for i in range(cut, len(body), cut)]
        self.add(kind, "token: " + " ".join(pieces) + " (rotated)", "split by spaces")
        self.add(kind, "key was\n" + "\n".join(pieces) + "\nend", "split over lines")
        quoted = " + ".join(f'"{piece}"' for piece in pieces)
        self.add(kind, f"cred = {quoted}", "glued from quoted pieces")
        self.base64_and_url(kind, secret)

    def base64_and_url(self, kind: str, secret: str) -> None:
        encoded = base64.b64encode(secret.encode()).decode()
        self.add(kind, f"payload {encoded} attached", "base64")
        wrapped = base64.b64encode(f"config:\n  credential: {secret}\n".encode()).decode()
        self.add(kind, wrapped, "base64 of a config snippet")
        url = quote(secret, safe="")
        if url == secret:  # nothing to escape: percent-encode every character
            url = "".join(f"%{byte:02X}" for byte in secret.encode())
        self.add(kind, f"https://example.com/cb?state=ok&credential={url}", "URL-encoded")

    def vendor(
        self,
        kind: str,
        make: Callable[[], str],
        *,
        env: str,
        prefix_length: int,
        extra: int = 2,
        disguise: bool = True,
    ) -> None:
        self.contexts(kind, make(), env=env)
        for _ in range(extra):
            self.add(kind, make(), "bare (another sample)")
        if disguise:
            self.disguises(kind, make(), prefix_length)
        else:  # no prefix to find pieces by: only the encodings
            self.base64_and_url(kind, make())

    def build_positives(self) -> None:
        c, rng = self.chars, self.rng
        self.vendor(
            "AWS access key id",
            lambda: rng.choice(["AKIA", "ASIA"]) + c(BASE32, 16),
            env="AWS_ACCESS_KEY_ID",
            prefix_length=4,
        )
        self.aws_secret_keys()
        self.vendor(
            "AWS session token",
            lambda: rng.choice(["FwoGZXIvYXdzE", "IQoJb3JpZ2luX2VjE"]) + c(B64, 300) + "==",
            env="AWS_SESSION_TOKEN",
            prefix_length=12,
            disguise=False,
        )
        self.add(
            "AWS session token",
            f"aws_session_token = {self.b64_bytes(180)}",
            "assignment, no known prefix",
        )
        self.vendor(
            "GitHub token",
            lambda: rng.choice(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]) + c(BASE62, 36),
            env="GITHUB_TOKEN",
            prefix_length=4,
        )
        for _ in range(2):
            self.add(
                "GitHub token",
                "github_pat_" + c(BASE62, 22) + "_" + c(BASE62, 59),
                "fine-grained PAT",
            )
        self.vendor(
            "GitLab token",
            lambda: (
                rng.choice(["glpat-", "gldt-", "glrt-", "glsoat-", "glft-"]) + c(BASE62 + "_-", 20)
            ),
            env="GITLAB_TOKEN",
            prefix_length=6,
        )
        self.add("GitLab token", "glptt-" + c(HEX, 40), "pipeline trigger token")
        self.add("GitLab token", "gloas-" + c(HEX, 64), "OAuth application secret")
        self.add("GitLab token", "glcbt-" + c(HEX, 2) + "_" + c(BASE62, 20), "CI job token")
        self.add(
            "GitLab token",
            "glpat-" + c(BASE62 + "_-", 27) + ".01." + c(LOWER + DIGITS, 9),
            "routable PAT",
        )
        self.vendor(
            "Slack token",
            lambda: (
                rng.choice(["xoxb-", "xoxp-", "xoxa-", "xoxr-"])
                + c(DIGITS, 12)
                + "-"
                + c(DIGITS, 13)
                + "-"
                + c(BASE62, 24)
            ),
            env="SLACK_BOT_TOKEN",
            prefix_length=5,
        )
        self.add("Slack token", "xoxe.xoxp-1-" + c(UPPER + DIGITS, 163), "config refresh token")
        self.add(
            "Slack token",
            "xapp-1-A" + c(UPPER + DIGITS, 10) + "-" + c(DIGITS, 13) + "-" + c(HEX, 64),
            "app-level token",
        )
        self.vendor(
            "Slack webhook URL",
            lambda: (
                "https://hooks.slack.com/services/T"
                + c(UPPER + DIGITS, 8)
                + "/B"
                + c(UPPER + DIGITS, 10)
                + "/"
                + c(BASE62, 24)
            ),
            env="SLACK_WEBHOOK_URL",
            prefix_length=60,
        )
        self.vendor(
            "Stripe key",
            lambda: (
                rng.choice(["sk_live_", "rk_live_", "sk_test_"]) + c(BASE62, rng.choice([24, 99]))
            ),
            env="STRIPE_SECRET_KEY",
            prefix_length=8,
        )
        self.vendor(
            "Google API key",
            lambda: "AIza" + c(BASE62 + "_-", 35),
            env="GOOGLE_API_KEY",
            prefix_length=4,
        )
        self.vendor(
            "Google OAuth client secret",
            lambda: "GOCSPX-" + c(BASE62 + "_-", 28),
            env="GOOGLE_CLIENT_SECRET",
            prefix_length=7,
        )
        self.vendor(
            "Google OAuth access token",
            lambda: "ya29." + c(BASE62 + "_-", 150),
            env="GOOGLE_ACCESS_TOKEN",
            prefix_length=5,
            disguise=False,
        )
        self.gcp_service_account_keys()
        self.azure()
        self.vendor(
            "OpenAI API key",
            lambda: (
                "sk-"
                + rng.choice(["proj-", "svcacct-", "admin-"])
                + c(BASE62 + "_-", 74)
                + "T3BlbkFJ"
                + c(BASE62 + "_-", 74)
            ),
            env="OPENAI_API_KEY",
            prefix_length=8,
        )
        self.add("OpenAI API key", "sk-" + c(BASE62, 20) + "T3BlbkFJ" + c(BASE62, 20), "legacy key")
        self.vendor(
            "Anthropic API key",
            lambda: rng.choice(["sk-ant-api03-", "sk-ant-admin01-"]) + c(BASE62 + "_-", 93) + "AA",
            env="ANTHROPIC_API_KEY",
            prefix_length=13,
        )
        self.vendor(
            "HashiCorp Vault token",
            lambda: rng.choice(["hvs.", "hvb."]) + "CAES" + c(BASE62 + "_-", 90),
            env="VAULT_TOKEN",
            prefix_length=4,
        )
        self.vendor(
            "Terraform Cloud token",
            lambda: c(BASE62, 14) + ".atlasv1." + c(BASE62, 67),
            env="TFE_TOKEN",
            prefix_length=0,
            disguise=False,
        )
        self.vendor("npm token", lambda: "npm_" + c(BASE62, 36), env="NPM_TOKEN", prefix_length=4)
        self.add("npm token", "//registry.npmjs.org/:_authToken=npm_" + c(BASE62, 36), ".npmrc")
        self.add("npm token", "//npm.pkg.github.com/:_authToken=" + self.uuid(), ".npmrc uuid")
        self.vendor(
            "PyPI token",
            lambda: "pypi-AgEIcHlwaS5vcmc" + c(B64URL, 160),
            env="TWINE_PASSWORD",
            prefix_length=20,
        )
        self.urls_with_passwords()
        self.private_keys()
        self.jwts()
        self.vendor(
            "Twilio API key", lambda: "SK" + c(HEX, 32), env="TWILIO_API_KEY", prefix_length=2
        )
        self.vendor(
            "SendGrid API key",
            lambda: "SG." + c(BASE62 + "_-", 22) + "." + c(BASE62 + "_-", 43),
            env="SENDGRID_API_KEY",
            prefix_length=3,
        )
        self.vendor(
            "Mailgun API key", lambda: "key-" + c(HEX, 32), env="MAILGUN_API_KEY", prefix_length=4
        )
        for _ in range(3):
            self.add(
                "Mailgun API key",
                c(HEX, 32) + "-" + c(HEX, 8) + "-" + c(HEX, 8),
                "newer private key format",
            )
        self.datadog()
        self.vendor(
            "Shopify token",
            lambda: rng.choice(["shpat_", "shpss_", "shpca_", "shppa_"]) + c(HEX, 32),
            env="SHOPIFY_ACCESS_TOKEN",
            prefix_length=6,
        )
        self.vendor(
            "Atlassian API token",
            lambda: "ATATT3xFfGF0" + c(BASE62 + "_-", 170) + "=" + c(HEX.upper(), 8),
            env="JIRA_API_TOKEN",
            prefix_length=6,
        )
        self.vendor(
            "DigitalOcean token",
            lambda: rng.choice(["dop_v1_", "doo_v1_", "dor_v1_"]) + c(HEX, 64),
            env="DIGITALOCEAN_TOKEN",
            prefix_length=7,
        )
        self.vendor(
            "Heroku API key",
            lambda: "HRKU-AA" + c(BASE62 + "_-", 58),
            env="HEROKU_API_KEY",
            prefix_length=7,
        )
        self.add("Heroku API key", f"HEROKU_API_KEY={self.uuid()}", "legacy UUID key by name")
        self.vendor(
            "Databricks token", lambda: "dapi" + c(HEX, 32), env="DATABRICKS_TOKEN", prefix_length=4
        )
        self.vendor(
            "Discord bot token",
            lambda: (
                base64.b64encode(str(rng.randint(10**17, 10**19 - 1)).encode()).decode().rstrip("=")
                + "."
                + c(BASE62 + "_-", 6)
                + "."
                + c(BASE62 + "_-", 38)
            ),
            env="DISCORD_BOT_TOKEN",
            prefix_length=0,
            disguise=False,
        )
        self.vendor(
            "Telegram bot token",
            lambda: str(rng.randint(10**8, 10**10 - 1)) + ":AA" + c(BASE62 + "_-", 33),
            env="TELEGRAM_BOT_TOKEN",
            prefix_length=0,
            disguise=False,
        )
        self.vendor(
            "Square token",
            lambda: rng.choice(
                [
                    "sq0atp-" + c(BASE62 + "_-", 22),
                    "sq0csp-" + c(BASE62, 43),
                    "EAAA" + c(BASE62 + "_-", 60),
                ]
            ),
            env="SQUARE_ACCESS_TOKEN",
            prefix_length=7,
        )
        self.vendor(
            "Mailchimp API key",
            lambda: c(HEX, 32) + "-us" + str(rng.randint(1, 21)),
            env="MAILCHIMP_API_KEY",
            prefix_length=0,
            disguise=False,
        )
        self.vendor(
            "NHI Registry API token",
            lambda: "nhir_" + c(BASE62, 36),
            env="NHIR_TOKEN",
            prefix_length=5,
        )
        self.vendor(
            "webhook signing secret",
            lambda: "whsec_" + self.b64_bytes(24),
            env="WEBHOOK_SECRET",
            prefix_length=6,
        )
        self.vendor(
            "Hugging Face token",
            lambda: "hf_" + c(UPPER + LOWER, 34),
            env="HF_TOKEN",
            prefix_length=3,
        )
        self.vendor(
            "Grafana token",
            lambda: rng.choice(
                ["glsa_" + c(BASE62, 32) + "_" + c(HEX, 8), "glc_" + self.b64_bytes(60)]
            ),
            env="GRAFANA_TOKEN",
            prefix_length=5,
        )
        self.vendor(
            "Postman API key",
            lambda: "PMAK-" + c(HEX, 24) + "-" + c(HEX, 34),
            env="POSTMAN_API_KEY",
            prefix_length=5,
        )
        self.vendor(
            "New Relic API key",
            lambda: "NRAK-" + c(UPPER + DIGITS, 27),
            env="NEW_RELIC_API_KEY",
            prefix_length=5,
        )
        self.vendor(
            "Doppler token", lambda: "dp.pt." + c(BASE62, 43), env="DOPPLER_TOKEN", prefix_length=6
        )
        self.vendor(
            "age secret key",
            lambda: "AGE-SECRET-KEY-1" + c(BECH32, 58),
            env="SOPS_AGE_KEY",
            prefix_length=16,
        )
        self.vendor(
            "Sentry token", lambda: "sntryu_" + c(HEX, 64), env="SENTRY_AUTH_TOKEN", prefix_length=7
        )
        self.vendor(
            "Pulumi access token",
            lambda: "pul-" + c(HEX, 40),
            env="PULUMI_ACCESS_TOKEN",
            prefix_length=4,
        )
        self.vendor(
            "Linear API key",
            lambda: "lin_api_" + c(BASE62, 40),
            env="LINEAR_API_KEY",
            prefix_length=8,
        )
        self.vendor(
            "1Password service account token",
            lambda: "ops_eyJ" + self.b64_bytes(240),
            env="OP_SERVICE_ACCOUNT_TOKEN",
            prefix_length=7,
        )
        self.generic_assignments()
        self.http_authorization()

    def aws_secret_keys(self) -> None:
        kind = "AWS secret access key"
        for _ in range(4):
            self.add(kind, self.chars(B64, 40), "bare 40-char key")
        key = self.chars(B64, 40)
        self.add(kind, f"aws_secret_access_key={key}", "credentials file")
        self.add(kind, f'AWS_SECRET_ACCESS_KEY: "{self.chars(B64, 40)}"', "YAML")
        self.add(
            kind,
            f'{{"SecretAccessKey": "{self.chars(B64, 40)}", "Expiration": "2026-11-10T09:15:02Z"}}',
            "STS JSON",
        )
        self.add(kind, f"aws_secret_access_key = {self.chars(B64, 40)}", "spaces round =")
        key = self.chars(B64, 40)
        spaced = " ".join(key[i : i + 8] for i in range(0, 40, 8))
        self.add(kind, f"aws_secret_access_key = {spaced}", "split by spaces")
        self.add(
            kind,
            "aws_secret_access_key = \\\n    "
            + "\\\n    ".join(key[i : i + 10] for i in range(0, 40, 10)),
            "split over continued lines",
        )
        self.add(
            kind,
            "aws_secret_access_key = " + " ".join(f"'{key[i : i + 10]}'" for i in range(0, 40, 10)),
            "glued from quoted pieces",
        )
        self.base64_and_url(kind, f"aws_secret_access_key={self.chars(B64, 40)}")
        self.add(kind, quote_plus(f"aws_secret_access_key={self.chars(B64, 40)}"), "form-encoded")

    def gcp_service_account_keys(self) -> None:
        kind = "GCP service account key"
        for _ in range(3):
            project = "acme-" + self.chars(LOWER, 6)
            body = "\n".join(self.chars(B64, 64) for _ in range(6))
            key_file = {
                "type": "service_account",
                "project_id": project,
                "private_key_id": self.chars(HEX, 40),
                "private_key": f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n",
                "client_email": f"deployer@{project}.iam.gserviceaccount.com",
                "client_id": self.chars(DIGITS, 21),
            }
            text = json.dumps(key_file, indent=2)
            self.add(kind, text, "key file")
        self.add(kind, json.dumps(json.loads(text)), "key file on one line")
        self.add(kind, base64.b64encode(text.encode()).decode(), "key file, base64 (env var)")

    def azure(self) -> None:
        c, rng = self.chars, self.rng
        kind = "Azure storage account key"
        for _ in range(3):
            account = "acme" + c(LOWER + DIGITS, 8)
            self.add(
                kind,
                f"DefaultEndpointsProtocol=https;AccountName={account};AccountKey="
                f"{self.b64_bytes(64)};EndpointSuffix=core.windows.net",
                "connection string",
            )
        conn = (
            f"DefaultEndpointsProtocol=https;AccountName=acmelogs;AccountKey={self.b64_bytes(64)}"
        )
        key = conn.split("AccountKey=")[1]
        self.add(
            kind,
            conn.replace(key, " ".join(key[i : i + 22] for i in range(0, 88, 22))),
            "split by spaces",
        )
        self.add(
            kind,
            conn.replace(key, "\n".join(key[i : i + 44] for i in range(0, 88, 44))),
            "split over lines",
        )
        self.base64_and_url(kind, conn)
        kind = "Azure shared access key"
        for _ in range(3):
            self.add(
                kind,
                "Endpoint=sb://acme-" + c(LOWER, 6) + ".servicebus.windows.net/;"
                "SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey="
                + self.b64_bytes(32),
                "Service Bus connection string",
            )
        self.base64_and_url(kind, "SharedAccessKeyName=send;SharedAccessKey=" + self.b64_bytes(32))
        kind = "Azure SAS token"
        for _ in range(4):
            sig = quote(self.b64_bytes(32), safe="")
            self.add(
                kind,
                f"https://acme{c(LOWER, 5)}.blob.core.windows.net/exports/ledger.csv?"
                f"sv=2022-11-02&ss=b&srt=co&sp=rl&se=2026-12-31T00:00:00Z&"
                f"st=2026-01-01T00:00:00Z&spr=https&sig={sig}",
                "SAS URL",
            )
        self.add(
            kind,
            f"sv=2021-06-08&ss=bfqt&srt=sco&sp=rwdlacupx&se=2026-03-01&sig="
            f"{quote(self.b64_bytes(32), safe='')}",
            "bare SAS query",
        )
        sig = quote(self.b64_bytes(32), safe="")
        self.base64_and_url(kind, f"?sv=2022-11-02&sp=r&se=2026-12-31&sig={sig}")
        kind = "Azure AD client secret"
        for _ in range(5):
            secret = c(BASE62 + "_~.", 3) + c(DIGITS, 1) + "Q~" + c(BASE62 + "_~.-", 34)
            self.add(
                kind,
                rng.choice([secret, f"AZURE_CLIENT_SECRET={secret}", f'"secretText": "{secret}"']),
                "client secret",
            )
        self.base64_and_url(kind, c(BASE62, 3) + "8Q~" + c(BASE62 + "_~.-", 34))

    def urls_with_passwords(self) -> None:
        kind = "password in URL"
        schemes = [
            "https",
            "postgres",
            "postgresql",
            "mysql",
            "redis",
            "rediss",
            "amqp",
            "amqps",
            "mongodb",
            "mongodb+srv",
            "ftp",
            "smtp",
            "ldap",
        ]
        for scheme in schemes:
            user = self.rng.choice(["app", "svc-ledger", "admin", "deploy", ""])
            password = self.rng.choice([self.password(), self.chars(BASE62, 20)])
            self.add(
                kind,
                f"{scheme}://{user}:{quote(password, safe='!*')}@db.internal.example."
                f"com:5432/ledger",
                f"{scheme} URL",
            )
        self.add(kind, "https://user:password@host", "issue example")
        self.add(
            kind,
            "git clone https://ci-bot:"
            + self.chars(BASE62, 20)
            + "@git.example.com/payments/api.git",
            "clone URL in a command",
        )
        password = self.chars(BASE62, 24)
        self.add(
            kind,
            f"redis://:{password[:12]} {password[12:]}@cache.example.com:6379/0",
            "split by a space",
        )
        password = quote(self.password(), safe="")
        self.base64_and_url(kind, f"postgres://ledger:{password}@db.example.com/ledger")

    def private_keys(self) -> None:
        kind = "private key"
        headers = [
            "RSA PRIVATE KEY",
            "EC PRIVATE KEY",
            "DSA PRIVATE KEY",
            "OPENSSH PRIVATE KEY",
            "ENCRYPTED PRIVATE KEY",
            "PRIVATE KEY",
            "PGP PRIVATE KEY BLOCK",
        ]
        for header in headers:
            body = "\n".join(self.chars(B64, 64) for _ in range(4))
            self.add(
                kind, f"-----BEGIN {header}-----\n{body}\n-----END {header}-----", f"{header} block"
            )
        for version in (2, 3):
            self.add(
                kind,
                f"PuTTY-User-Key-File-{version}: ssh-rsa\nEncryption: none\n"
                f"Comment: deploy\nPublic-Lines: 1\n{self.chars(B64, 64)}\nPrivate-Lines: 1\n"
                f"{self.chars(B64, 64)}\nPrivate-MAC: {self.chars(HEX, 40)}",
                f"PuTTY v{version}",
            )
        self.add(
            kind,
            "---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\n" + self.chars(B64, 64),
            "SSH2 encrypted",
        )
        pgp = (
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n"
            + self.chars(B64, 64)
            + "\n="
            + self.chars(B64, 4)
            + "\n-----END PGP PRIVATE KEY BLOCK-----"
        )
        self.add(
            kind,
            pgp.replace("PGP PRIVATE KEY", "PGP  PRIVATE\nKEY", 1),
            "PGP header split by spaces and a line break",
        )
        self.base64_and_url(kind, pgp)
        self.add(kind, quote_plus(pgp), "PGP block form-encoded")
        rsa = (
            "-----BEGIN RSA PRIVATE KEY-----\n"
            + self.chars(B64, 64)
            + "\n-----END RSA PRIVATE KEY-----"
        )
        self.add(kind, json.dumps({"ssh_key": rsa}), "JSON-escaped")

    def jwts(self) -> None:
        kind = "JSON Web Token"

        def part(data: dict) -> str:
            return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

        for alg, signature_bytes in (("HS256", 32), ("RS256", 256), ("ES256", 64)):
            header = part({"alg": alg, "typ": "JWT"})
            payload = part(
                {
                    "sub": self.uuid(),
                    "iss": "https://idp.example.com",
                    "exp": self.rng.randint(1_700_000_000, 1_900_000_000),
                }
            )
            token = (
                f"{header}.{payload}.{self.b64_bytes(signature_bytes, urlsafe=True).rstrip('=')}"
            )
            self.add(kind, token, f"{alg} signed")
        unsigned = part({"alg": "none", "typ": "JWT"}) + "." + part({"sub": "svc-ledger"}) + "."
        self.add(kind, unsigned, "alg none, empty signature")
        self.add(kind, f"Authorization: Bearer {token}", "bearer header")
        self.add(kind, f"The vendor session {unsigned} expired.", "unsigned in a sentence")
        self.base64_and_url(kind, token)

    def datadog(self) -> None:
        kind = "Datadog API or application key"
        c = self.chars
        for value in (
            f"DD_API_KEY={c(HEX, 32)}",
            f"datadog api key: {c(HEX, 32)}",
            f"DD-APPLICATION-KEY: {c(HEX, 40)}",
            f"dd_app_key = '{c(HEX, 40)}'",
            f'{{"datadog_api_key": "{c(HEX, 32)}"}}',
            f"export DATADOG_API_KEY={c(HEX, 32)}",
        ):
            self.add(kind, value, "key by name")
        self.base64_and_url(kind, f"DD_API_KEY={c(HEX, 32)}")

    def generic_assignments(self) -> None:
        kind = "password or secret assignment"
        templates = [
            "password={}",
            "DB_PASSWORD: '{}'",
            '"client_secret": "{}"',
            "api_key: {}",
            "token={}",
            "passwd: {}",
            "pwd={}",
            "secret: {}",
            "--password {}",
            "spring.datasource.password={}",
            "apiKey: {}",
            "Server=db;Database=ledger;User Id=sa;Password={};",
            "export SECRET_KEY={}",
            "mysql -u root --password={} ledger",
            '{{"auth_token": "{}"}}',
            "passphrase: {}",
            "private_key_passphrase={}",
            "refresh_token: {}",
        ]
        for template in templates:
            value = self.rng.choice([self.password(), self.chars(BASE62, 32), self.chars(HEX, 40)])
            self.add(kind, template.format(value), "assignment")
        self.add(kind, "db_password = Summer2024!x", "weak but real password")
        self.base64_and_url(kind, f"password={self.password()}")

    def http_authorization(self) -> None:
        kind = "HTTP Authorization credential"
        for _ in range(3):
            self.add(kind, f"Authorization: Bearer {self.chars(BASE62, 40)}", "bearer header")
        for _ in range(3):
            creds = base64.b64encode(f"svc-ledger:{self.password()}".encode()).decode()
            self.add(kind, f"Authorization: Basic {creds}", "basic header")
        self.add(
            kind,
            f"curl -H 'Authorization: Bearer {self.chars(B64URL, 48)}' https://api",
            "curl command",
        )
        self.base64_and_url(kind, f"Authorization: Bearer {self.chars(BASE62, 40)}")

    # --- negatives --------------------------------------------------------------------

    def neg(self, category: str, value: str, *, identifier: bool = False) -> None:
        line: dict = {"category": category, "value": value}
        if identifier:
            line["identifier"] = True
        self.negatives.append(line)

    def build_negatives(self) -> None:
        c, rng = self.chars, self.rng
        account = "123456789012"
        for arn in (
            f"arn:aws:iam::{account}:role/deploy-bot",
            f"arn:aws:iam::{account}:user/teams/payments/billing-export",
            "arn:aws:iam::aws:policy/AdministratorAccess",
            "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
            "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
            f"arn:aws:kms:eu-west-1:{account}:key/{self.uuid()}",
            f"arn:aws:secretsmanager:eu-west-1:{account}:secret:prod/ledger/db-AbC12x",
            f"arn:aws:s3:::acme-billing-exports/{c(LOWER, 6)}/*",
            f"arn:aws:lambda:us-east-1:{account}:function:ledger-sync:PROD",
            f"arn:aws:sts::{account}:assumed-role/ci-deployer/GitHubActions-{c(DIGITS, 10)}",
            f"arn:aws:iam::{account}:policy/PaymentsReadOnlyAccessForLedgerSync2026",
        ):
            self.neg("arn", arn)
        for _ in range(10):
            value = self.uuid()
            self.neg("uuid", value.upper() if rng.random() < 0.3 else value)
        for _ in range(10):
            self.neg("commit sha", c(HEX, 40))
        for _ in range(6):
            self.neg("sha256 fingerprint", c(HEX, 64))
            self.neg("sha256 fingerprint", "sha256:" + c(HEX, 64))
        for _ in range(5):
            digest = base64.b64encode(bytes(rng.getrandbits(8) for _ in range(32))).decode()
            self.neg("ssh fingerprint", "SHA256:" + digest.rstrip("="))
        self.neg("ssh fingerprint", "MD5:" + ":".join(c(HEX, 2) for _ in range(16)))
        for image in (
            "registry.example.com/payments/api",
            "ghcr.io/acme/ledger-sync",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/billing-export",
        ):
            self.neg("docker image", f"{image}@sha256:{c(HEX, 64)}")
            self.neg("docker image", f"{image}:v{rng.randint(1, 9)}.{rng.randint(0, 20)}.3")
        for _ in range(8):
            prefix = rng.choice(["AKIA", "ASIA"])
            self.neg("aws access key id (identifier)", prefix + c(BASE32, 16), identifier=True)
        self.neg("aws access key id (identifier)", "AKIAIOSFODNN7EXAMPLE", identifier=True)
        for _ in range(6):
            project = "acme-" + rng.choice(["payments", "data", "growth"]) + "-prod"
            sa = rng.choice(["billing-export", "etl-loader", "ledger-sync"])
            self.neg(
                "gcp key name",
                f"projects/{project}/serviceAccounts/{sa}@{project}.iam."
                f"gserviceaccount.com/keys/{c(HEX, 40)}",
            )
        for _ in range(5):
            self.neg("entra key id", self.uuid())
        self.neg("entra key id", "A1B2C3D4E5F6A7B8C9D0E1F2A3B4C5D6E7F8A9B0")
        self.neg("entra key id", "CN=billing-export")
        for _ in range(5):
            self.neg("github grant id", str(rng.randint(1000, 99_999_999)))
        self.neg("github node id", "MDQ6VXNlcjU4MzIzMQ==")
        self.neg("github node id", "U_kgDOBmW3sQ")
        for _ in range(6):
            name = "-".join(
                rng.choice(
                    ["payments", "api", "worker", "ledger", "sync", "cron", "exporter", "billing"]
                )
                for _ in range(3)
            )
            self.neg("kubernetes name", f"{name}-{c(HEX, 10)}-{c(LOWER + DIGITS, 5)}")
            self.neg("kubernetes name", f"system:serviceaccount:{name.split('-')[0]}:{name}")
        for _ in range(5):
            self.neg(
                "jira key", f"{rng.choice(['PAY', 'SEC', 'DATA', 'OPS'])}-{rng.randint(1, 9999)}"
            )
        for value in (
            "https://jira.example.com/browse/PAY-12?x=1",
            "https://tickets.example.com/browse/SEC-2001",
            "https://github.com/acme/payments-api/pull/1234#issuecomment-987654321",
            "https://console.aws.amazon.com/iam/home?region=eu-west-1#/roles/details/deploy-bot",
            "https://portal.azure.com/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/",
            "https://hooks.slack.com/services/T000/B000/XXXX",
            "https://example.com/search?q=rotate%20keys&page=2",
            "ssh://git@github.com/acme/payments-api.git",
            "git@github.com:acme/payments-api.git",
            "https://user@example.com/path",
            "postgres://db.internal.example.com:5432/ledger?sslmode=require",
            "https://grafana.example.com/d/AbCdEfGh1/payments-overview?orgId=1&from=now-6h",
        ):
            self.neg("url without credentials", value)
        for _ in range(5):
            user = rng.choice(["alice", "bob.smith", "payments-team", "svc.ledger"])
            self.neg("email", f"{user}@{rng.choice(['example.com', 'acme.io', 'corp.example'])}")
        self.neg("email", "billing-export@acme-payments-prod.iam.gserviceaccount.com")
        for value in (
            "AdministratorAccess",
            "AmazonS3ReadOnlyAccess",
            "AWSLambdaBasicExecutionRole",
            "AmazonEC2ContainerRegistryReadOnly",
            "roles/bigquery.dataViewer",
            "CloudWatchAgentServerPolicy",
            "AzureKubernetesServiceClusterUserRole",
            "StorageBlobDataContributor",
            "PaymentsLedgerSyncServiceAccount2026",
        ):
            self.neg("camelcase identifier", value)
        for value in ("1.2.3", "v2.14.0-rc.1", "10.0.0+build.5", "2026.11.1"):
            self.neg("semver", value)
        for value in (
            "2026-11-10",
            "2026-11-10T08:15:02Z",
            "2026-11-20T09:30:00+01:00",
            "Tue, 10 Nov 2026 08:15:02 GMT",
            "1731225302",
            "9999-12-31T23:59:59Z",
        ):
            self.neg("date or timestamp", value)
        for value in ("0 3 * * *", "*/15 * * * 1-5", "@daily", "cron(0 12 * * ? *)"):
            self.neg("cron", value)
        for value in ("10.0.12.7", "192.168.1.0/24", "2001:db8::ff00:42:8329", "203.0.113.5:8443"):
            self.neg("ip address", value)
        for value in (
            "The nightly billing export job reads invoice data from the warehouse.",
            "Deploy key for the billing repo; AWS access key rotated by Vault every 30 days.",
            "The API key is stored in Vault at secret/payments and rotated monthly.",
            "Password rotation is handled by the secret manager, see runbook OPS-12.",
            "This token is used by the ledger-sync job to read from Snowflake.",
            "Needs a GitHub token with repo:contents read on payments-api for releases.",
            "Secret manager reference only: the credential itself lives in AWS Secrets Manager.",
            "Bearer tokens are minted per run by the OIDC provider and expire after an hour.",
            "Uses basic auth to the legacy SFTP gateway until the migration in Q3.",
            "The client secret is rotated every 90 days by the platform team (PAY-1234).",
            "password: see the 1Password vault entry 'ledger-db' (owner: payments).",
            "token: stored in Vault, never in this registry.",
            "api_key: managed by the Stripe dashboard, not copied anywhere.",
            "Key ID AKIA-style identifiers are recorded in external_id only.",
            "Reads s3:GetObject on billing-exports/* and writes to the ledger queue.",
            "Service principal for AzureKubernetesServiceClusterUserRole on the payments AKS.",
            "Rotated key 3f1c9a7be2d04c5e8a61b0f2d7e94c13a85b6d20 was disabled on 2026-11-01.",
            "Workload identity: system:serviceaccount:payments:ledger-sync via IRSA.",
            "Signs webhook payloads; the signing secret is kept by the delivery service.",
            "Pagination uses next_token=eyJwYWdlIjogMn0 style cursors in the API response.",
        ):
            self.neg("justification", value)
        for sentence in (
            "The nightly export reads invoices from the warehouse.",
            "Rotate the deploy key every ninety days, owner payments.",
            "token rotation handled by the platform team",
            "password: see vault entry ledger-db",
        ):
            self.neg("base64 of ordinary text", base64.b64encode(sentence.encode()).decode())
        for value in (
            "password=${DB_PASSWORD}",
            "token: <redacted>",
            "secret: '****'",
            "api_key=changeme",
            'password: "{{ .Values.db.password }}"',
            "token=%(token)s",
            "DB_PASSWORD=$DB_PASSWORD",
            "client_secret: [REDACTED]",
            "password: xxxxxxxxxxxx",
            "SECRET_KEY=your-secret-key-here",
            "api_key: YOUR_API_KEY",
            "password = null",
            "token: ''",
            "password: changeme123",
            "aws_secret_access_key=<your secret key>",
            "https://user:${PASSWORD}@db.example.com",
            "password: ********",
            "secret=REPLACE_ME",
            "--password $PGPASSWORD",
            "token: TODO",
        ):
            self.neg("placeholder", value)
        for value in (
            "vault:secret/data/ci",
            "secret: vault:secret/data/payments/db#password",
            "password: arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf",
            "secret: projects/p/secrets/x/versions/1",
            "token: op://Payments/ledger-db/password",
            "password: /run/secrets/db_password",
            "secret_name=payments-db-credentials",
            "secretKeyRef: ledger-db",
            "password_file=/etc/ledger/db.pass",
            "client_secret: @Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/x)",
            "api_key: env:LEDGER_API_KEY",
            "token: payments-api/prod/DB_PASSWORD",
            "secret: ENC[AES256_GCM,data:abc,iv:def,tag:ghi,type:str]",
            "password_rotation_days: 90",
            "token_expires_at: 2026-12-31T00:00:00Z",
            "keyId: 8c3d4e5f-6a7b-4c8d-0e9f-1a2b3c4d5e6f",
            "api_key_id: 1234567",
        ):
            self.neg("secret reference or metadata", value)
        for value in (
            "Billing Export Bot",
            "ledger-sync-prod",
            "Payments",
            "svc-ledger",
            "billing-export-gcp-017",
            "demo-0042",
            "gha-run-1234",
            "vault:approle/billing-reader",
            "vault:token/data-export",
            "kv/billing/* read",
            "db_datareader on ledger",
            "secrets read on kv/payments/*",
            "*:*",
            "repo:contents read on payments-api",
            "namespace-scoped edit in payments",
        ):
            self.neg("name or scope", value)
        for value in (
            "/var/lib/ledger/config.yaml",
            "C:\\Program Files\\Acme\\ledger.exe",
            "s3://acme-billing-exports/2026/11/",
            "gs://acme-data-staging/exports/",
        ):
            self.neg("path", value)
        for value in (
            "sk-learn pipelines",
            "task-force-alpha-2026",
            "ASK the payments team",
            "hvs. prefixed tokens are Vault service tokens",
            "ghp_ is GitHub's PAT prefix",
            "eyJ is how a JWT starts",
            "BEGIN TRANSACTION; COMMIT;",
            "Use glpat- tokens with read_api scope only",
            "The AKIA prefix marks long-term keys; ASIA marks temporary ones.",
            "Tokens start with xoxb- for bots and xoxp- for users.",
            "Keys are stored as AccountKey= entries in the vault, never here.",
            "PuTTY keys were converted to OpenSSH format in 2025.",
            "The sk_live_ key was rotated and moved to the secret manager.",
        ):
            self.neg("mentions a prefix", value)
        self.other_identifiers()

    def other_identifiers(self) -> None:
        """Public keys, certificates and ids that look random but grant nothing."""
        c = self.chars
        for _ in range(3):
            blob = base64.b64encode(
                b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00 "
                + bytes(self.rng.getrandbits(8) for _ in range(32))
            ).decode()
            self.neg("ssh public key", f"ssh-ed25519 {blob} deploy@ci")
        self.neg("ssh public key", "ssh-rsa " + self.b64_bytes(279) + " ledger-sync@payments")
        body = "\n".join(c(B64, 64) for _ in range(3))
        self.neg(
            "certificate or public key",
            f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----",
        )
        self.neg(
            "certificate or public key",
            f"-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----",
        )
        for _ in range(3):
            self.neg("vendor identifier", "0oa" + c(BASE62, 17))  # Okta app id
            self.neg("vendor identifier", "acct_1" + c(BASE62, 15))  # Stripe account
            self.neg("vendor identifier", "pk_live_51" + c(BASE62, 97))  # Stripe publishable key
            self.neg("vendor identifier", "AC" + c(HEX, 32))  # Twilio account SID
            self.neg(
                "vendor identifier",
                f"{c(DIGITS, 12)}-{c(LOWER + DIGITS, 32)}.apps.googleusercontent.com",
            )
        self.neg(
            "vendor identifier",
            "/subscriptions/" + self.uuid() + "/resourceGroups/"
            "rg-payments/providers/Microsoft.KeyVault/vaults/kv-payments-prod",
        )
        self.neg("vendor identifier", "C024BE91L")
        self.neg("vendor identifier", "xy12345.eu-central-1.snowflakecomputing.com")
        for value in (
            "Grants AmazonS3ReadOnlyAccess and AmazonEC2ContainerRegistryReadOnly to the job.",
            "PaymentsLedgerSyncServiceAccount2026Prod",
            "password_last_used: 2026-11-01T09:12:44+00:00",
            "secret: payments/ledger/db-password-v2",
            "api_key: managed-by-terraform",
            "commit=3f1c9a7be2d04c5e8a61b0f2d7e94c13a85b6d20",
            "fingerprint: SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU",
            "https://medium.com/@alice/rotating-keys-123",
            "com.acme:ledger-sync:1.2.3",
            "fe80::1%eth0",
            "https://example.com/reset?q=password%3Dreset",
            "data.aws_secretsmanager_secret_version.db.secret_string",
            "The secret value lives in AWS Secrets Manager under prod/ledger/db.",
        ):
            self.neg("tricky but harmless", value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=SEED, help="another seed: a fresh sample")
    args = parser.parse_args()
    corpus = Corpus(random.Random(args.seed))  # noqa: S311 - reproducible fakes, not secrets
    corpus.build_positives()
    corpus.build_negatives()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, lines in (("positives", corpus.positives), ("negatives", corpus.negatives)):
        path = args.out / f"{name}.jsonl"
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        print(f"{path}: {len(lines)} lines")
    types = {line["type"] for line in corpus.positives}
    categories = {line["category"] for line in corpus.negatives}
    print(f"{len(types)} credential types, {len(categories)} negative categories")


if __name__ == "__main__":
    main()
