"""Developers' fabric-ca enrollment secrets: the only thing an import keeps about them.

    store = SecretStore(state.secrets / SECRETS_FILE)
    store.put("pw-dev-001", "org1", secret); store.get("pw-dev-001")  # {"org": "org1", "secret": ...}
"""

from __future__ import annotations

import json
from pathlib import Path

from tdses.secretfiles import write_private

SECRETS_FILE = "programmableweb-developers.json"


class SecretsUnreadable(Exception):
    """The secrets file exists but does not hold what put() writes."""


class SecretStore:
    """Developers' fabric-ca enrollment secrets in one 0600 JSON file: {name: {"org": ..., "secret": ...}}.

    Written before the CA registers the developer, so a crash never leaves an identity nobody can enroll."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, dict[str, str]] = self._read() if path.exists() else {}

    def _read(self) -> dict[str, dict[str, str]]:
        try:
            entries = json.loads(self.path.read_text())
        except (OSError, ValueError) as error:
            raise SecretsUnreadable(f"cannot read {self.path}: {error}") from None
        if not isinstance(entries, dict) or not all(
                isinstance(e, dict) and isinstance(e.get("org"), str) and isinstance(e.get("secret"), str)
                for e in entries.values()):
            raise SecretsUnreadable(f"{self.path} does not hold developers' secrets as this importer writes them")
        return entries

    def get(self, name: str) -> dict[str, str] | None:
        return self.entries.get(name)

    def put(self, name: str, org: str, secret: str) -> None:
        self.entries[name] = {"org": org, "secret": secret}
        write_private(self.path, json.dumps(self.entries, indent=1, sort_keys=True))
