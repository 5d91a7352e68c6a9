"""Microsoft Entra ID application credentials: Microsoft Graph `GET /applications`
(`{"@odata.context": ..., "value": [application, ...]}`) or a bare list of
applications (e.g. one `value` array per page, merged).

One row per credential, not per application: each client secret (`passwordCredentials`)
and each certificate (`keyCredentials`) is issued, expires and leaks on its own. An
application without credentials gives no row.

- `system` "entra" (or the `system` argument, e.g. "entra/contoso"); `external_id`
  "<appId>/<keyId>"; `name` "<app displayName>: <credential displayName>" (or
  "... client secret" / "... certificate" when the credential has no name); `kind`
  oauth_client for a client secret, certificate for a key credential; `environment`
  other; `created_via` discovery; `credential_lifetime` long_lived.
- `startDateTime` is `last_rotated_at`; `endDateTime` is `expires_at`, kept as-is even
  when past (the import service decides).
- hints: `app` (displayName) and `app_id` (appId): owner rules can use both.
- A password credential's `hint` (the secret's first characters), `secretText`, and a
  key credential's `key` are never read: nothing of a secret reaches the registry.
- A file that is not JSON, or not one of the shapes above, gives one error row with
  line 0 (the file as a whole). Lines are 1-based positions of the *application* in
  the list (an application's credentials share its line). Secret-shaped values never
  reach `data` or `hints`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, BinaryIO

from registry.importers.base import ImportRow, load_json, read_time, without_secrets

DEFAULT_SYSTEM = "entra"
CREDENTIAL_LISTS = (
    ("passwordCredentials", "oauth_client", "client secret"),
    ("keyCredentials", "certificate", "certificate"),
)


def read(source: BinaryIO, *, system: str | None = None) -> Iterator[ImportRow]:
    system_name = system or DEFAULT_SYSTEM
    applications, error = _load(source)
    if error:
        yield ImportRow(line=0, errors=[error])
        return
    for line, application in enumerate(applications, start=1):
        if not isinstance(application, dict):
            yield ImportRow(line=line, errors=["Not a JSON object."])
            continue
        for row in _rows(line, application, system_name):
            yield without_secrets(row)


def _load(source: BinaryIO) -> tuple[list[Any], str | None]:
    document, error = load_json(source)
    if error:
        return [], error
    if isinstance(document, dict) and isinstance(document.get("value"), list):
        return document["value"], None
    if isinstance(document, list):
        return document, None
    return [], 'Expected Microsoft Graph applications: {"value": [...]} or a JSON list.'


def _rows(line: int, application: dict[str, Any], system_name: str) -> Iterator[ImportRow]:
    app_id = application.get("appId")
    app_name = application.get("displayName")
    if not isinstance(app_id, str) or not app_id:
        yield ImportRow(line=line, data={"system": system_name}, errors=["appId: missing."])
        return
    if not isinstance(app_name, str) or not app_name.strip():
        app_name = app_id
    hints = {"app": app_name, "app_id": app_id}
    for list_name, kind, label in CREDENTIAL_LISTS:
        credentials = application.get(list_name)
        if credentials is None:
            continue
        if not isinstance(credentials, list):
            yield ImportRow(
                line=line,
                data={"system": system_name},
                hints=dict(hints),
                errors=[f"{list_name}: expected a list."],
            )
            continue
        for index, credential in enumerate(credentials):
            where = f"{list_name}[{index}]"
            if not isinstance(credential, dict):
                yield ImportRow(
                    line=line,
                    data={"system": system_name},
                    hints=dict(hints),
                    errors=[f"{where}: not a JSON object."],
                )
                continue
            yield _credential_row(
                line, credential, where, kind, label, app_id, app_name, hints, system_name
            )


def _credential_row(
    line: int,
    credential: dict[str, Any],
    where: str,
    kind: str,
    label: str,
    app_id: str,
    app_name: str,
    hints: dict[str, str],
    system_name: str,
) -> ImportRow:
    errors: list[str] = []
    data: dict[str, Any] = {"system": system_name}
    key_id = credential.get("keyId")
    if isinstance(key_id, str) and key_id:
        data["external_id"] = f"{app_id}/{key_id}"
    else:
        errors.append(f"{where}.keyId: missing.")
    display = credential.get("displayName")
    if isinstance(display, str) and display.strip():
        data["name"] = f"{app_name}: {display.strip()}"
    else:
        data["name"] = f"{app_name} {label}"

    def timestamp(field_name: str) -> dt.datetime | None:
        return read_time(credential.get(field_name), f"{where}.{field_name}", errors)

    start = timestamp("startDateTime")
    end = timestamp("endDateTime")
    data.update(
        kind=kind,
        environment="other",
        created_via="discovery",
        credential_lifetime="long_lived",
    )
    if start is not None:
        data["last_rotated_at"] = start
    if end is not None:
        data["expires_at"] = end
    # The keyId names this one secret or certificate (what Entra's sign-in logs and audit
    # events report); the appId is the client id every credential of the app shares.
    # Never the secret's `hint`: its first characters are part of the credential.
    identifiers = [("client_id", app_id)]
    if isinstance(key_id, str) and key_id:
        identifiers.append(("key_id", key_id))
    return ImportRow(
        line=line, data=data, hints=dict(hints), identifiers=identifiers, errors=errors
    )
