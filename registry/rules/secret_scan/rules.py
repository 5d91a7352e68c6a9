"""The rule table: every credential type the registry refuses, in its published format.

detect-secrets (Yelp, pinned in pyproject) supplies the patterns it has; where they are
narrow (GitHub only 36 characters, no github_pat_, Stripe only sk_live_ 24, Slack tokens
only with digit groups) or missing (Google, Anthropic, Vault, Datadog...), our own
patterns sit next to them in the same rule. Sources are named per rule and listed in
docs/SECRET-DETECTION.md, with how to add one.

Pattern conventions, because every field of every imported row goes through these:
- start with a literal or a character class where possible (the regex engine then
  finds candidate positions in C instead of trying every one);
- every repeat is bounded or possessive: nothing can backtrack quadratically;
- a named group `v` marks the secret when it is narrower than the match (the value of
  `password=...`), so redaction keeps the key name readable.
"""

from __future__ import annotations

from detect_secrets.plugins.aws import AWSKeyDetector
from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
from detect_secrets.plugins.basic_auth import BasicAuthDetector
from detect_secrets.plugins.discord import DiscordBotTokenDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.mailchimp import MailchimpDetector
from detect_secrets.plugins.private_key import PrivateKeyDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.square_oauth import SquareOAuthDetector
from detect_secrets.plugins.stripe import StripeDetector
from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector
from detect_secrets.plugins.twilio import TwilioKeyDetector

from registry.rules.secret_scan import checks
from registry.rules.secret_scan.entropy import shannon
from registry.rules.secret_scan.patterns import (
    ASSIGNMENT,
    B64,
    GENERIC_KEYWORD,
    GENERIC_VALUE,
    TOKEN,
    UUID,
    Rule,
    ds,
)
from registry.rules.secret_scan.prefilter import ASSIGN, FLAG, HEX_DASH, RUN, URL
from registry.rules.token_format import TOKEN_PATTERN

SPECIFIC: tuple[Rule, ...] = (
    Rule(
        "AWS access key id",
        (ds(AWSKeyDetector.denylist[0]),),
        "detect-secrets AWSKeyDetector",
        triggers=("AKIA", "ASIA", "ABIA", "ACCA", "A3T"),
        collapsible=True,
        identifier_ok=True,
    ),
    Rule(
        "AWS secret access key",
        (
            rf"[Aa][Ww][Ss][\w.-]{{0,20}}?(?i:secret)[\w.-]{{0,20}}?{ASSIGNMENT}"
            rf"(?P<v>[{B64}]{{40}})(?![{B64}=])",
            # STS responses (AssumeRole, GetSessionToken) and the CLI's JSON output.
            rf"SecretAccessKey{ASSIGNMENT}(?P<v>[{B64}]{{40}})(?![{B64}=])",
            ds(AWSKeyDetector.denylist[1]),
        ),
        'own (aws_secret_access_key=, AWS_SECRET_ACCESS_KEY: ..., "SecretAccessKey": ...) '
        "+ detect-secrets AWSKeyDetector (quoted form)",
        check=lambda value: shannon(value) >= 3.0,
        collapsible=True,
        triggers=("SecretAccessKey",),
        hints=frozenset({ASSIGN}),
    ),
    Rule(
        "AWS session token",
        (
            r"(?:FwoGZXIvYXdz|FQoGZXIvYXdz|IQoJb3JpZ2lu|AQoDYXdz|AQoEXAMPLE)"
            rf"[{B64}]{{80,}}+={{0,2}}",
            rf"[Aa](?i:ws_?session_?token|mz-security-token){ASSIGNMENT}(?P<v>[{B64}=]{{100,}}+)",
            rf"[Xx]-(?i:amz-security-token){ASSIGNMENT}(?P<v>[{B64}=]{{100,}}+)",
        ),
        "own (STS token prefixes; aws_session_token= / X-Amz-Security-Token:)",
        triggers=("FwoGZXIvYXdz", "FQoGZXIvYXdz", "IQoJb3JpZ2lu", "AQoDYXdz", "AQoEXAMPLE"),
        edges=None,
        hints=frozenset({ASSIGN}),
    ),
    Rule(
        "GitHub token",
        (
            r"gh[pousr]_[A-Za-z0-9]{36,251}+",
            r"github_pat_[A-Za-z0-9_]{22,251}+",
            ds(GitHubTokenDetector.denylist[0]),
        ),
        "detect-secrets GitHubTokenDetector + own (longer tokens, github_pat_)",
        triggers=("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        collapsible=True,
    ),
    Rule(
        "GitLab token",
        (
            r"gl(?:pat|dt|rtr|rt|ptt|cbt|oas|soat|ft|imt|agent|ffct|wt)-[A-Za-z0-9_.-]{20,300}+",
            *(ds(pattern) for pattern in GitLabTokenDetector.denylist),
        ),
        "detect-secrets GitLabTokenDetector + own (routable tokens, more prefixes)",
        triggers=(
            "glpat-",
            "gldt-",
            "glrt-",
            "glrtr-",
            "glptt-",
            "glcbt-",
            "gloas-",
            "glsoat-",
            "glft-",
            "glimt-",
            "glagent-",
            "glffct-",
            "glwt-",
            "GR1348941",
        ),
        collapsible=True,
    ),
    Rule(
        "Slack token",
        (
            r"xoxe\.xox[bp]-\d-[A-Za-z0-9]{20,250}+",
            r"xox[abposre]-[0-9A-Za-z-]{10,250}+",
            r"xapp-\d-[A-Z0-9]{6,}+-\d{6,}+-[a-z0-9]{20,}+",
            ds(SlackDetector.denylist[0]),
        ),
        "detect-secrets SlackDetector + own (any token body, xoxe. refresh, xapp- app tokens)",
        triggers=("xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-", "xoxe-", "xoxe.", "xapp-"),
        collapsible=True,
    ),
    Rule(
        "Slack webhook URL",
        (
            r"https?://hooks\.slack\.com/(?:services|workflows|triggers)/T[A-Z0-9]{6,12}"
            r"/[AB][A-Z0-9]{6,12}/(?:\d{6,}/)?[A-Za-z0-9]{16,}+",
        ),
        "own (published lengths; detect-secrets' webhook pattern also matches "
        "T000/B000/XXXX placeholders)",
        triggers=("hooks.slack.com",),
        collapsible=True,
    ),
    Rule(
        "Stripe key",
        (r"[rs]k_(?:live|test)_[0-9a-zA-Z]{24,247}+", ds(StripeDetector.denylist[0])),
        "detect-secrets StripeDetector + own (test mode, longer keys)",
        triggers=("sk_live_", "sk_test_", "rk_live_", "rk_test_"),
        collapsible=True,
    ),
    Rule(
        "Google API key",
        (r"AIza[0-9A-Za-z_-]{35}",),
        "own (Google Cloud API key format)",
        edges=TOKEN,
        triggers=("AIza",),
        collapsible=True,
    ),
    Rule(
        "Google OAuth client secret",
        (r"GOCSPX-[0-9A-Za-z_-]{28}",),
        "own (Google OAuth client secret format)",
        edges=TOKEN,
        triggers=("GOCSPX-",),
        collapsible=True,
    ),
    Rule(
        "Google OAuth access token",
        (r"ya29\.[0-9A-Za-z_-]{30,}+",),
        "own (Google OAuth 2.0 access token format)",
        triggers=("ya29.",),
        collapsible=True,
    ),
    Rule(
        "GCP service account key",
        (
            r'\\{0,2}"type\\{0,2}"\s{0,5}+:\s{0,5}+\\{0,2}"service_account\\{0,2}"'
            r'[^{}]{0,4000}?"private_key\\{0,2}"\s{0,5}+:\s{0,5}+\\{0,2}"-----BEGIN',
        ),
        "own (service account key file: type service_account with a private_key)",
        edges=None,
        triggers=('service_account"',),
    ),
    Rule(
        "Azure storage account key",
        (
            rf"AccountKey=(?P<v>[{B64}]{{86}}==)",
            ds(AzureStorageKeyDetector.denylist[0]),
        ),
        "detect-secrets AzureStorageKeyDetector + own (key as the secret span)",
        edges=None,
        triggers=("AccountKey=",),
        collapsible=True,
    ),
    Rule(
        "Azure shared access key",
        (rf"SharedAccessKey=(?P<v>[{B64}]{{42,43}}=)",),
        "own (Service Bus / Event Hubs / IoT Hub connection strings)",
        edges=None,
        triggers=("SharedAccessKey=",),
        collapsible=True,
    ),
    Rule(
        "Azure SAS token",
        (
            r"sv=\d{4}-\d\d-\d\d&[^\s\"'<>]{0,500}?sig=(?P<v>(?:[A-Za-z0-9+/]|%2[BbFf]|%3[Dd]){40,}+)",
            r"sig=(?P<v>(?:[A-Za-z0-9+/]|%2[BbFf]|%3[Dd]){40,}+)[^\s\"'<>]{0,500}?[&?]sv=\d{4}-",
        ),
        "own (shared access signature: sv=...&sig=...)",
        edges=None,
        triggers=("sig=",),
    ),
    Rule(
        "Azure AD client secret",
        (
            r"[A-Za-z0-9_~.](?<![A-Za-z0-9_~.-][A-Za-z0-9_~.])[A-Za-z0-9_~.]{2}\dQ~"
            r"[A-Za-z0-9_~.-]{31,34}+(?![A-Za-z0-9_~.-])",
        ),
        "own (Entra ID client secret: 3 chars, a digit, Q~, 31-34 chars)",
        edges=None,
        triggers=("Q~",),
    ),
    Rule(
        "Anthropic API key",
        (r"sk-ant-(?:api|admin|sid|oat)\d\d-[A-Za-z0-9_-]{80,200}+",),
        "own (sk-ant-api03-, sk-ant-admin01-)",
        triggers=("sk-ant-",),
        collapsible=True,
    ),
    Rule(
        "OpenAI API key",
        (r"sk-(?:(?:proj|svcacct|admin)-)?[A-Za-z0-9_-]{20,400}+",),
        "own candidate, verified with detect-secrets OpenAIDetector's pattern "
        "(legacy) or the T3BlbkFJ marker (project/service-account keys)",
        check=checks.openai_key,
        triggers=("sk-",),
        collapsible=True,
    ),
    Rule(
        "HashiCorp Vault token",
        (r"hv[sbr]\.[A-Za-z0-9_-]{24,}+",),
        "own (hvs. service, hvb. batch, hvr. recovery tokens)",
        edges=TOKEN,
        triggers=("hvs.", "hvb.", "hvr."),
        collapsible=True,
    ),
    Rule(
        "Terraform Cloud token",
        (
            r"[A-Za-z0-9](?<![A-Za-z0-9][A-Za-z0-9])[A-Za-z0-9]{13}\.atlas\.?v1\."
            r"[A-Za-z0-9_=-]{60,70}+(?![A-Za-z0-9_=-])",
        ),
        "own (14 chars .atlasv1. 60-70 chars)",
        edges=None,
        triggers=(".atlasv1.", ".atlas.v1."),
    ),
    Rule(
        "npm token",
        (
            r"npm_[A-Za-z0-9]{36}",
            r""":_authToken\s{0,3}+=\s{0,3}+["']?(?P<v>[^\s"']{8,}+)""",
        ),
        "own (npm_ tokens; .npmrc _authToken). detect-secrets NpmDetector's .npmrc pattern "
        "has an unbounded .+ and is not used",
        check=lambda value: value.startswith("npm_") or checks.assigned_token(value),
        triggers=("npm_", "_authToken"),
        collapsible=True,
    ),
    Rule(
        "PyPI token",
        tuple(ds(pattern) for pattern in PypiTokenDetector.denylist),
        "detect-secrets PypiTokenDetector",
        edges=TOKEN,
        triggers=("pypi-Ag",),
        collapsible=True,
    ),
    Rule(
        "private key",
        (
            r"-----BEGIN[ \t\r\n]{1,3}+(?:[A-Z0-9]{2,10}+[ \t\r\n]{1,3}+){0,3}?PRIVATE"
            r"[ \t\r\n]{1,3}+KEY(?:[ \t\r\n]{1,3}+BLOCK)?-----"
            r"(?:[\s\S]{0,20000}?-----END[ A-Z0-9]{0,40}?PRIVATE KEY(?: BLOCK)?-----)?",
            r"PuTTY-User-Key-File-\d:(?:[\s\S]{0,20000}?Private-MAC: [0-9a-fA-F]+)?",
            *(ds(pattern) for pattern in PrivateKeyDetector.denylist),
            r"BEGIN (?:[A-Z0-9]+ ){1,3}PRIVATE KEY",
        ),
        "detect-secrets PrivateKeyDetector + own (every BEGIN ... PRIVATE KEY, "
        "ENCRYPTED/PKCS8, PuTTY v3, the whole block for redaction)",
        edges=None,
        triggers=("BEGIN", "PuTTY-User-Key-File"),
    ),
    Rule(
        "JSON Web Token",
        (
            r"eyJ[A-Za-z0-9_-]{8,}+={0,2}+\.[A-Za-z0-9_-]{2,}+={0,2}+"
            r"(?:\.[A-Za-z0-9_-]*+={0,2}+)?",
        ),
        "own candidate (signed and unsigned), verified with detect-secrets "
        "JwtTokenDetector.is_formally_valid",
        check=checks.jwt,
        edges=TOKEN,
        triggers=("eyJ",),
        collapsible=True,
    ),
    Rule(
        "Twilio API key",
        (r"SK[0-9a-fA-F]{32}", ds(TwilioKeyDetector.denylist[1])),
        "detect-secrets TwilioKeyDetector (SK) + own (upper-case hex); account SIDs (AC...) "
        "are identifiers and allowed",
        check=lambda value: checks.hex_with_digits(value[2:]),
        triggers=("SK",),
        collapsible=True,
    ),
    Rule(
        "SendGrid API key",
        (ds(SendGridDetector.denylist[0]),),
        "detect-secrets SendGridDetector",
        edges=TOKEN,
        triggers=("SG.",),
        collapsible=True,
    ),
    Rule(
        "Mailgun API key",
        (
            r"key-[0-9a-f]{32}",
            r"[0-9a-f](?<![0-9a-zA-Z][0-9a-f])[0-9a-f]{31}-[0-9a-f]{8}-[0-9a-f]{8}"
            r"(?![0-9a-zA-Z-])",
        ),
        "own (key- + 32 hex; 32hex-8hex-8hex)",
        check=lambda value: checks.hex_with_digits(value.removeprefix("key-")),
        triggers=("key-",),
        collapsible=True,
        hints=frozenset({HEX_DASH}),
    ),
    Rule(
        "Datadog API or application key",
        (
            r"(?i:(?:dd|datadog)[_\s.-]{0,2}(?:api|app(?:lication)?)[_\s.-]{0,2}key)"
            rf"{ASSIGNMENT}(?P<v>[a-f0-9]{{40}}|[a-f0-9]{{32}})(?![A-Za-z0-9])",
        ),
        "own (32/40 hex after DD_API_KEY=, datadog api key:, dd-application-key:)",
        check=checks.hex_with_digits,
        edges=None,
        hints=frozenset({ASSIGN}),
    ),
    Rule(
        "Shopify token",
        (r"shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}",),
        "own (shpat_/shpss_/shpca_/shppa_ + 32 hex)",
        triggers=("shpat_", "shpss_", "shpca_", "shppa_"),
        collapsible=True,
    ),
    Rule(
        "Atlassian API token",
        (r"ATATT3[A-Za-z0-9_=-]{100,300}+",),
        "own (ATATT3 + ~186 chars)",
        edges=TOKEN,
        triggers=("ATATT3",),
        collapsible=True,
    ),
    Rule(
        "DigitalOcean token",
        (r"do[opr]_v1_[a-f0-9]{64}",),
        "own (dop_v1_/doo_v1_/dor_v1_ + 64 hex)",
        triggers=("dop_v1_", "doo_v1_", "dor_v1_"),
        collapsible=True,
    ),
    Rule(
        "Heroku API key",
        (
            rf"HRKU-(?:AA[0-9A-Za-z_-]{{58}}|{UUID})",
            rf"[Hh](?i:eroku)[\w.-]{{0,20}}?(?i:key|token){ASSIGNMENT}(?P<v>{UUID})",
        ),
        "own (HRKU-AA + 58; HRKU-<uuid>; heroku_api_key=<uuid>)",
        edges=TOKEN,
        triggers=("HRKU-",),
        collapsible=True,
        hints=frozenset({ASSIGN}),
    ),
    Rule(
        "Databricks token",
        (r"dapi[a-f0-9]{32}(?:-\d)?",),
        "own (dapi + 32 hex)",
        check=lambda value: checks.hex_with_digits(value[4:36]),
        triggers=("dapi",),
        collapsible=True,
    ),
    Rule(
        "Discord bot token",
        (
            r"[MNO][A-Za-z0-9_-]{23,25}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,38}+",
            ds(DiscordBotTokenDetector.denylist[0]),
        ),
        "detect-secrets DiscordBotTokenDetector + own (38-char HMAC part); first part must "
        "decode to a numeric id",
        check=checks.discord_bot_token,
        edges=TOKEN,
        hints=frozenset({RUN}),
        shape_only=True,
    ),
    Rule(
        "Telegram bot token",
        (
            r"[0-9](?<![0-9][0-9])[0-9]{7,9}:[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])",
            ds(TelegramBotTokenDetector.denylist[0]),
        ),
        "detect-secrets TelegramBotTokenDetector (+ word boundaries, random-looking body)",
        check=lambda value: checks.random_token(value.partition(":")[2]),
        edges=TOKEN,
        triggers=(":AA",),
        hints=frozenset({RUN}),
        shape_only=True,
    ),
    Rule(
        "Square token",
        (
            r"sq0atp-[0-9A-Za-z_-]{22}",
            r"EAAA[A-Za-z0-9_-]{60}",
            ds(SquareOAuthDetector.denylist[0]),
        ),
        "detect-secrets SquareOAuthDetector (sq0csp-) + own (sq0atp-, EAAA access tokens)",
        edges=TOKEN,
        triggers=("sq0atp-", "sq0csp-", "EAAA"),
        collapsible=True,
    ),
    Rule(
        "Mailchimp API key",
        (
            r"[0-9a-f](?<![0-9a-z][0-9a-f])[0-9a-f]{31}-us\d{1,2}(?![0-9])",
            ds(MailchimpDetector.denylist[0]),
        ),
        "detect-secrets MailchimpDetector (+ boundaries)",
        check=lambda value: checks.hex_with_digits(value[:32]),
        hints=frozenset({HEX_DASH}),
        shape_only=True,
    ),
    Rule(
        "NHI Registry API token",
        (TOKEN_PATTERN.pattern,),
        "own (registry.rules.token_format.TOKEN_PATTERN)",
        triggers=("nhir_",),
        collapsible=True,
    ),
    Rule(
        "webhook signing secret",
        (rf"whsec_[{B64}]{{24,}}+={{0,2}}",),
        "own (Standard Webhooks / Stripe whsec_)",
        edges=None,
        triggers=("whsec_",),
        collapsible=True,
    ),
    Rule(
        "Hugging Face token",
        (r"hf_[A-Za-z]{34}",),
        "own (hf_ + 34 letters)",
        triggers=("hf_",),
        collapsible=True,
    ),
    Rule(
        "Grafana token",
        (r"glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}", rf"glc_[{B64}]{{32,400}}+={{0,2}}"),
        "own (glsa_ service account tokens, glc_ Grafana Cloud tokens)",
        edges=TOKEN,
        triggers=("glsa_", "glc_"),
        collapsible=True,
    ),
    Rule(
        "Postman API key",
        (r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}",),
        "own (PMAK- + 24 hex - 34 hex)",
        triggers=("PMAK-",),
        collapsible=True,
    ),
    Rule(
        "New Relic API key",
        (r"NRAK-[A-Z0-9]{27}",),
        "own (NRAK- user keys)",
        triggers=("NRAK-",),
        collapsible=True,
    ),
    Rule(
        "Doppler token",
        (r"dp\.(?:pt|st|ct|sa|scim|audit)\.[A-Za-z0-9]{40,44}",),
        "own (dp.pt./dp.st./dp.ct./dp.sa. tokens)",
        triggers=("dp.",),
        collapsible=True,
    ),
    Rule(
        "age secret key",
        (r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",),
        "own (age encryption identity)",
        triggers=("AGE-SECRET-KEY-1",),
        collapsible=True,
    ),
    Rule(
        "Sentry token",
        (r"sntrys_eyJ[A-Za-z0-9+/=_-]{60,}+", r"sntryu_[a-f0-9]{64}"),
        "own (sntrys_ org tokens, sntryu_ user tokens)",
        edges=TOKEN,
        triggers=("sntrys_", "sntryu_"),
        collapsible=True,
    ),
    Rule(
        "Pulumi access token",
        (r"pul-[a-f0-9]{40}",),
        "own (pul- + 40 hex)",
        triggers=("pul-",),
        collapsible=True,
    ),
    Rule(
        "Linear API key",
        (r"lin_api_[A-Za-z0-9]{40}",),
        "own (lin_api_ + 40)",
        triggers=("lin_api_",),
        collapsible=True,
    ),
    Rule(
        "1Password service account token",
        (r"ops_eyJ[A-Za-z0-9+/=_-]{100,}+",),
        "own (ops_eyJ...)",
        edges=TOKEN,
        triggers=("ops_eyJ",),
        collapsible=True,
    ),
    Rule(
        "password in URL",
        (
            r"""://[^\s:/?#@\[\]"'<>]{0,256}+:(?P<v>[^\s/?#@\[\]"'<>]{1,256}+)@""",
            ds(BasicAuthDetector.denylist[0]),
        ),
        "own (any scheme, empty user) + detect-secrets BasicAuthDetector",
        check=checks.url_password,
        edges=None,
        hints=frozenset({URL}),
        collapsible=True,
        collapsed_check=checks.split_url_password,
    ),
    # Last among the specific rules: no prefix, only shape and randomness. A vendor rule
    # matching at the same place wins.
    Rule(
        "AWS secret access key",
        (
            # After `Bearer ` or `token ` it is an HTTP credential, reported as such. Next
            # to a %-escape of a base64 character it is a piece of a longer encoded run.
            rf"[{B64}](?<![{B64}][{B64}])(?<!%[{B64}])(?<![Bb]earer [{B64}])"
            rf"(?<![Tt]oken [{B64}])"
            rf"[{B64}]{{39}}(?![{B64}=])(?!%(?:2[BbFf]|3[Dd]))",
        ),
        "own (bare 40-char key: mixed classes, entropy, not base64 of text)",
        check=checks.aws_secret_key,
        edges=None,
        hints=frozenset({RUN}),
        shape_only=True,
    ),
)

GENERIC: tuple[Rule, ...] = (
    Rule(
        "password or secret assignment",
        (
            rf"{GENERIC_KEYWORD}{ASSIGNMENT}{GENERIC_VALUE}",
            r"--(?i:password|passwd|pass|token|secret|api-key|apikey|client-secret|auth-token)"
            rf"""(?:=|\s{{1,3}}+)["']?{GENERIC_VALUE}""",
        ),
        "own (key name ends in password/secret/token/api key..., value high-entropy and "
        "not a placeholder or secret-manager reference)",
        check=checks.generic_secret_value,
        edges=None,
        generic=True,
        hints=frozenset({ASSIGN, FLAG}),
    ),
    Rule(
        "HTTP Authorization credential",
        (r"[Bb]earer\s{1,3}+(?P<v>[A-Za-z0-9._~+/-]{16,}+=*)",),
        "own (Bearer tokens that look random)",
        check=checks.bearer_token,
        triggers=("Bearer ", "Authorization", "authorization"),
        edges=None,
        generic=True,
    ),
    Rule(
        "HTTP Authorization credential",
        (rf"[Bb]asic\s{{1,3}}+(?P<v>[{B64}]{{8,}}+={{0,2}})",),
        "own (Basic credentials that decode to user:password)",
        check=checks.basic_auth_header,
        triggers=("Basic ", "Authorization", "authorization"),
        edges=None,
        generic=True,
    ),
)

RULES: tuple[Rule, ...] = SPECIFIC + GENERIC
IDENTIFIER_KINDS = frozenset(rule.kind for rule in RULES if rule.identifier_ok)
KINDS: tuple[str, ...] = tuple(dict.fromkeys(rule.kind for rule in RULES))
TRIGGERS: tuple[str, ...] = tuple(
    dict.fromkeys(trigger for rule in RULES for trigger in rule.triggers)
)
