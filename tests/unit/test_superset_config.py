"""superset/superset_config.py: everything under COMPTOIR_HOME, secrets never in the repository, no internet."""

from __future__ import annotations

import os
import re
import runpy
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestration.settings import REPO_ROOT

CONFIG = REPO_ROOT / "superset" / "superset_config.py"


@pytest.fixture(autouse=True)
def keep_umask() -> Iterator[None]:
    """The config sets the process's umask (as it does in Superset): the test process gets its own back."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield
    os.umask(previous)


def load_config(monkeypatch: pytest.MonkeyPatch, home: Path, **env: str) -> dict[str, Any]:
    monkeypatch.setenv("COMPTOIR_HOME", str(home))
    for name in ("SUPERSET_SECRET_KEY", "COMPTOIR_SUPERSET_DATABASE_URI"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONFIG))


def test_secret_key_is_generated_once_into_the_home_with_owner_only_access(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first = load_config(monkeypatch, tmp_path)
    key_file = tmp_path / "superset" / "secret_key"
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(first["SECRET_KEY"]) >= 32
    assert load_config(monkeypatch, tmp_path)["SECRET_KEY"] == first["SECRET_KEY"]
    # another home gets another key
    assert load_config(monkeypatch, tmp_path / "other")["SECRET_KEY"] != first["SECRET_KEY"]


def test_secret_key_from_the_environment_wins_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = load_config(monkeypatch, tmp_path, SUPERSET_SECRET_KEY="from-the-environment")
    assert config["SECRET_KEY"] == "from-the-environment"
    assert not (tmp_path / "superset" / "secret_key").exists()


def test_metadata_database_is_sqlite_under_the_home_unless_a_uri_is_given(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = load_config(monkeypatch, tmp_path)
    assert config["SQLALCHEMY_DATABASE_URI"].startswith(f"sqlite:///{tmp_path / 'superset' / 'superset.db'}")
    uri = "postgresql+psycopg2://superset:secret@db:5432/superset"
    assert load_config(monkeypatch, tmp_path, COMPTOIR_SUPERSET_DATABASE_URI=uri)["SQLALCHEMY_DATABASE_URI"] == uri


def test_no_third_party_host_is_allowed_by_the_content_security_policy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = load_config(monkeypatch, tmp_path)
    policy = config["TALISMAN_CONFIG"]["content_security_policy"]
    sources = [source for value in policy.values() for source in ([value] if isinstance(value, str) else value)]
    assert not [source for source in sources if "." in source or source.startswith("http")], sources
    assert config["MAPBOX_API_KEY"] == ""
    assert config["FEATURE_FLAGS"]["THUMBNAILS"] is False
    assert config["FEATURE_FLAGS"]["ALERT_REPORTS"] is False


def test_no_secret_is_committed_in_the_superset_folder() -> None:
    for path in (REPO_ROOT / "superset").rglob("*"):
        if path.is_file() and path.suffix in {".py", ".yaml", ".yml", ".md"}:
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"SECRET_KEY\s*=\s*['\"]", text), path
            assert "password:" not in text.lower(), path


def test_loading_the_config_makes_superset_files_owner_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """For a Superset that `comptoir` did not start (docker-compose.yml): the config sets the umask itself."""
    os.umask(0o022)
    config = load_config(monkeypatch, tmp_path / "home")
    assert os.umask(0o022) == 0o077
    folder = tmp_path / "home" / "superset"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert config["DATA_CACHE_CONFIG"]["CACHE_DIR"] == str(folder / "cache")
