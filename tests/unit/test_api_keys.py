"""API keys: shown once, stored as a hash only (owner-only file), scoped, revocable, checked in constant time."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from api.keys import KeyStore, KeyStoreError, keys_path
from orchestration.cli import build_parser


def test_a_key_opens_with_its_scopes_and_only_its_hash_is_stored(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    key, record = store.create("crm", ["score", "customers"])
    assert key.startswith(f"cpt_{record.key_id}_") and record.scopes == ["customers", "score"]
    text = keys_path(tmp_path).read_text(encoding="utf-8")
    assert key.split("_", 2)[2] not in text and record.secret_sha256 in text
    assert stat.S_IMODE(keys_path(tmp_path).stat().st_mode) == 0o600
    assert KeyStore(tmp_path).authenticate(key) == record  # another process reads the same file
    for wrong in ("", "cpt", f"cpt_{record.key_id}_", key + "x", key.replace("cpt_", "xyz_"), "cpt_zz_" + key[-8:]):
        assert store.authenticate(wrong) is None, wrong


def test_a_revoked_key_opens_nothing_at_once(tmp_path: Path) -> None:
    store, other = KeyStore(tmp_path), KeyStore(tmp_path)
    key, record = store.create("bi", ["aggregates"])
    assert other.authenticate(key) is not None  # cached by the running API...
    store.revoke(record.key_id)
    assert other.authenticate(key) is None  # ...and read again when the file changes
    assert other.records()[record.key_id].revoked_at
    with pytest.raises(KeyStoreError):
        store.revoke("nope")


def test_unknown_scopes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError):
        KeyStore(tmp_path).create("x", ["everything"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["api", "keys", "create", "--name", "x", "--scope", "everything"])


def test_the_api_verb_parses() -> None:
    parser = build_parser()
    assert parser.parse_args(["api"]).api_verb == "serve"
    args = parser.parse_args(["api", "--port", "9000", "serve", "--host", "0.0.0.0"])
    assert (args.api_verb, args.port, args.host) == ("serve", 9000, "0.0.0.0")
    assert parser.parse_args(["api", "keys", "revoke", "abcd1234"]).key_id == "abcd1234"
    assert parser.parse_args(["serve", "--api-port", "8001"]).api_port == 8001
