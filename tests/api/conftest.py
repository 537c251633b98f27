"""Fixtures of the API tests: a private COMPTOIR_HOME serving the built sample's published warehouse and models,
an application on it (FastAPI's TestClient, the real app) and keys of each scope."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import serve_app
from api.keys import KeyStore
from orchestration.publish import publish_warehouse
from orchestration.settings import PUBLISHED_DIR, WAREHOUSE_FILE


def make_api_home(built_sample: Path, target: Path) -> Path:
    """A home of our own (keys written there, publishes made there): the built sample copied in and published
    as a build publishes it (the file and its published.json fact), its saved models linked."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(built_sample, target / WAREHOUSE_FILE)
    publish_warehouse(target / WAREHOUSE_FILE, target / PUBLISHED_DIR / WAREHOUSE_FILE, run_id="api-test")
    os.symlink(built_sample.parent / "models", target / "models")
    return target


@pytest.fixture(scope="session")
def api_home(built_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_api_home(built_sample, tmp_path_factory.mktemp("api-home"))


@pytest.fixture(scope="session")
def api_keys(api_home: Path) -> dict[str, str]:
    """A key per scope, one with every scope (`all`), and a revoked one."""
    store = KeyStore(api_home)
    keys = {scope: store.create(f"test-{scope}", [scope])[0] for scope in ("aggregates", "customers", "score")}
    keys["all"] = store.create("test-all", ["aggregates", "customers", "score"])[0]
    revoked, record = store.create("test-revoked", ["aggregates"])
    store.revoke(record.key_id)
    keys["revoked"] = revoked
    return keys


@pytest.fixture(scope="session")
def client(api_home: Path, api_keys: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(serve_app(api_home)) as test_client:
        yield test_client


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
