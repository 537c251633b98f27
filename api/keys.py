"""API keys: who may call the API, and with which scopes.

A key is ``cpt_<key id>_<secret>``: the id (8 hex characters) finds the record, the secret (32 random bytes,
URL-safe base64) proves it. Only a SHA-256 of the secret is stored, in ``$COMPTOIR_HOME/api/keys.json`` (owner only,
replaced atomically): the secret is shown once, at creation. A salted slow hash (bcrypt, scrypt) protects guessable
passwords; a 256-bit random secret cannot be guessed, so one SHA-256 is enough and keeps the check in microseconds
(DECISIONS.md "API keys"). A revoked key stays listed, with when it was revoked, and no longer opens anything.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from orchestration.settings import write_private_atomically

# aggregates: sales, products, segments, cohorts, forecasts, inventory, quality, and customer-level figures without
# personal columns; customers: the personal columns (names, e-mails, cities) too; score: POST /v1/score*.
SCOPES = ("aggregates", "customers", "score")
KEYS_DIR = "api"
KEYS_FILE = "keys.json"
PREFIX = "cpt"


class KeyStoreError(ValueError):
    """A key cannot be created or revoked (unknown scope, unknown id)."""


@dataclass(frozen=True)
class KeyRecord:
    key_id: str
    name: str
    scopes: list[str]
    secret_sha256: str
    created_at: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def keys_path(home: Path) -> Path:
    return home / KEYS_DIR / KEYS_FILE


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class KeyStore:
    """The keys file of one COMPTOIR_HOME. Reads are cached until the file changes (a revoke applies to the next
    request of a running API); writes replace the file atomically."""

    def __init__(self, home: Path) -> None:
        self.path = keys_path(home)
        self._lock = threading.Lock()
        self._cached: tuple[tuple[int, int, int], dict[str, KeyRecord]] | None = None

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def records(self) -> dict[str, KeyRecord]:
        stamp = self._stamp()
        if stamp is None:
            return {}
        with self._lock:
            if self._cached is not None and self._cached[0] == stamp:
                return self._cached[1]
            payload = json.loads(self.path.read_text(encoding="utf-8"))
            records = {item["key_id"]: KeyRecord(**item) for item in payload.get("keys", [])}
            self._cached = (stamp, records)
            return records

    def _write(self, records: dict[str, KeyRecord]) -> None:
        payload = {"keys": [asdict(record) for record in records.values()]}
        write_private_atomically(self.path, json.dumps(payload, indent=1) + "\n")

    def create(self, name: str, scopes: list[str]) -> tuple[str, KeyRecord]:
        """A new key: (the key to hand over, shown only now; its record)."""
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown or not scopes:
            raise KeyStoreError(f"scopes must be among {', '.join(SCOPES)}; got {', '.join(scopes) or 'none'}")
        records = dict(self.records())
        key_id = secrets.token_hex(4)
        while key_id in records:
            key_id = secrets.token_hex(4)
        secret = secrets.token_urlsafe(32)
        record = KeyRecord(key_id=key_id, name=name, scopes=sorted(set(scopes), key=SCOPES.index),
                           secret_sha256=_digest(secret),
                           created_at=datetime.now(UTC).isoformat(timespec="seconds"))
        records[key_id] = record
        self._write(records)
        return f"{PREFIX}_{key_id}_{secret}", record

    def revoke(self, key_id: str) -> KeyRecord:
        records = dict(self.records())
        record = records.get(key_id)
        if record is None:
            raise KeyStoreError(f"no key {key_id!r} (comptoir api keys list shows them)")
        if record.active:
            record = replace(record, revoked_at=datetime.now(UTC).isoformat(timespec="seconds"))
            records[key_id] = record
            self._write(records)
        return record

    def authenticate(self, key: str) -> KeyRecord | None:
        """The active record the key opens, or None (malformed, unknown, wrong secret, revoked)."""
        prefix, _, rest = key.partition("_")
        key_id, _, secret = rest.partition("_")
        if prefix != PREFIX or not key_id or not secret:
            return None
        record = self.records().get(key_id)
        if record is None or not record.active:
            return None
        # constant-time comparison of the digests: the response time says nothing about the stored hash
        return record if hmac.compare_digest(record.secret_sha256, _digest(secret)) else None
