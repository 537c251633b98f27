"""docker-compose.yml, checked statically (no Docker engine runs here): services, build contexts and the files
they copy, volumes, environment names the code reads, secrets from the environment, the same pins as locally."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestration.cli import build_parser
from orchestration.settings import API_PORT, DAGSTER_PORT, REPO_ROOT, SUPERSET_PORT
from orchestration.superset import server

COMPOSE = REPO_ROOT / "docker-compose.yml"
SECRET_NAMES = ("POSTGRES_PASSWORD", "SUPERSET_SECRET_KEY", "COMPTOIR_SUPERSET_ADMIN_PASSWORD",
                "COMPTOIR_SUPERSET_VIEWER_PASSWORD")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def _dockerfile(service: dict[str, Any]) -> tuple[Path, str]:
    build = service["build"]
    context = REPO_ROOT / build["context"]
    return context, (context / build.get("dockerfile", "Dockerfile")).read_text(encoding="utf-8")


def _stage(dockerfile: str, target: str) -> str:
    """The lines of one build stage (from its FROM to the next FROM)."""
    stages = re.split(r"(?m)^FROM ", dockerfile)
    matches = [stage for stage in stages if re.match(rf"\S+ AS {re.escape(target)}\s", stage)]
    assert len(matches) == 1, f"no stage {target}"
    return matches[0]


def _lock_pins(name: str) -> dict[str, str]:
    pins = {}
    for line in (REPO_ROOT / "requirements" / f"{name}.lock").read_text(encoding="utf-8").splitlines():
        if "==" in line and not line.startswith("#"):
            package, version = line.split("==", 1)
            pins[package.strip().lower().replace("_", "-")] = version.strip()
    return pins


def test_the_services_are_there(services: dict[str, Any]) -> None:
    assert {"postgres", "dagster-webserver", "dagster-daemon", "superset-init", "superset", "superset-sync"} <= set(
        services)
    assert services["dagster-webserver"]["ports"] == [f"{DAGSTER_PORT}:{DAGSTER_PORT}"]
    assert services["superset"]["ports"] == [f"{SUPERSET_PORT}:{SUPERSET_PORT}"]
    assert services["superset"]["depends_on"]["superset-init"]["condition"] == "service_completed_successfully"
    assert "/health" in " ".join(services["superset"]["healthcheck"]["test"])


def test_build_contexts_targets_and_copied_files_exist(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if "build" not in service:
            assert re.fullmatch(r"[\w./-]+:[\w.-]+", service["image"]), f"{name}: image without a pinned tag"
            continue
        context, dockerfile = _dockerfile(service)
        stage = _stage(dockerfile, service["build"]["target"])
        for source in re.findall(r"(?m)^COPY (\S+) \S+$", stage):
            assert (context / source).exists(), f"{name}: COPY {source} does not exist"


def test_images_install_the_locked_sets_plus_pinned_postgres_drivers(services: dict[str, Any]) -> None:
    pipeline = _lock_pins("pipeline")
    for service_name, lock in (("dagster-webserver", "pipeline"), ("superset", "bi")):
        _, dockerfile = _dockerfile(services[service_name])
        stage = _stage(dockerfile, services[service_name]["build"]["target"])
        installs = re.findall(r"pip install [^\n]*", stage)
        assert any(f"-r requirements/{lock}.lock" in line for line in installs), service_name
        extras = [token for line in installs for token in shlex.split(line)
                  if "==" in token or (re.fullmatch(r"[A-Za-z][\w.-]*", token) and token not in ("pip", "install"))]
        assert all("==" in token for token in extras), f"{service_name}: unpinned {extras}"
    _, dockerfile = _dockerfile(services["dagster-webserver"])
    # Dagster's integration libraries share one version line: dagster-postgres must match dagster-dbt's lock.
    assert f"dagster-postgres=={pipeline['dagster-dbt']}" in dockerfile


def test_volumes_are_declared_and_shared_at_the_same_path(compose: dict[str, Any], services: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    mounts: dict[str, dict[str, str]] = {}
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source, target, *mode = volume.split(":")
            if source.startswith("."):
                assert (REPO_ROOT / source).exists(), f"{name}: {source}"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
            mounts.setdefault(source, {})[name] = target + (":" + mode[0] if mode else "")
    warehouse = mounts["warehouse"]
    assert warehouse["dagster-webserver"] == warehouse["dagster-daemon"] == "/data/warehouse"
    # Superset reads the published file at the path the sync writes into its database URI, read-only
    assert warehouse["superset"] == "/data/warehouse:ro"
    assert services["dagster-webserver"]["environment"]["COMPTOIR_HOME"] == "/data/warehouse"


def test_environment_names_are_the_ones_the_code_reads(services: dict[str, Any]) -> None:
    superset_env = services["superset"]["environment"]
    config = (REPO_ROOT / "superset" / "superset_config.py").read_text(encoding="utf-8")
    for name in ("COMPTOIR_HOME", server.DATABASE_URI_ENV, "SUPERSET_SECRET_KEY"):
        assert name in superset_env and name in config, name
    assert superset_env[server.DATABASE_URI_ENV].startswith("postgresql+psycopg2://")
    assert superset_env["SUPERSET_CONFIG_PATH"] == "/app/superset/superset_config.py"
    sync_env = services["superset-sync"]["environment"]
    assert {server.ADMIN_PASSWORD_ENV, server.VIEWER_PASSWORD_ENV} <= set(sync_env)
    _, dockerfile = _dockerfile(services["dagster-webserver"])
    for name in ("DAGSTER_PG_HOST", "DAGSTER_PG_DB", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD"):
        assert name in services["dagster-daemon"]["environment"] and f"{{env: {name}}}" in dockerfile, name
    assert services["dagster-daemon"]["environment"]["DAGSTER_HOME"] == "/opt/dagster/home"
    assert "/opt/dagster/home/dagster.yaml" in dockerfile
    # the builds only publish; the sync service follows the publishes (the pipeline needs no Superset password)
    assert server.ADMIN_PASSWORD_ENV not in services["dagster-daemon"]["environment"]
    command = services["superset-sync"]["command"]
    assert command[:3] == ["comptoir", "superset", "follow"] and command[command.index("--url") + 1] == (
        "http://superset:8088")
    assert build_parser().parse_args(command[1:]).superset_verb == "follow"


def test_secrets_come_from_the_environment_only(services: dict[str, Any]) -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    for name in SECRET_NAMES:
        assert f"${{{name}:?" in text, name  # compose refuses to start without it
    for service_name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET", key):
                assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", str(value)), f"{service_name}: {key} is a constant"
            if str(value).startswith("postgresql"):
                assert "${POSTGRES_PASSWORD:?" in str(value), f"{service_name}: {key} holds a constant password"
    # The admin password reaches Superset on standard input, never on a command line.
    init = " ".join(services["superset-init"]["command"])
    assert "printenv COMPTOIR_SUPERSET_ADMIN_PASSWORD | python /app/superset/admin_user.py" in init
    assert "--password" not in init and "$$COMPTOIR_SUPERSET_ADMIN_PASSWORD" not in init


def test_service_commands_exist(services: dict[str, Any]) -> None:
    command = services["superset-sync"]["command"]
    assert command[0] == "comptoir"
    build_parser().parse_args(command[1:])  # raises SystemExit when the verb does not exist
    for name in ("dagster-webserver", "dagster-daemon"):
        assert "orchestration.definitions" in services[name]["command"]
    assert (REPO_ROOT / "orchestration" / "definitions.py").exists()


def test_the_api_service_serves_the_published_warehouse_read_only(services: dict[str, Any]) -> None:
    api = services["api"]
    assert api["ports"] == [f"{API_PORT}:{API_PORT}"]
    # the pipeline image: its lock holds the API's dependencies (fastapi, uvicorn)
    assert api["build"]["target"] == "pipeline" and {"fastapi", "uvicorn"} <= set(_lock_pins("pipeline"))
    assert "warehouse:/data/warehouse:ro" in api["volumes"]
    assert api["environment"]["COMPTOIR_HOME"] == "/data/warehouse"
    command = api["command"]
    assert command[0] == "comptoir"
    args = build_parser().parse_args(command[1:])
    assert (args.command, args.api_verb, args.host, args.port) == ("api", "serve", "0.0.0.0", API_PORT)
    assert f"localhost:{API_PORT}/openapi.json" in " ".join(api["healthcheck"]["test"])
    # no secret reaches the API's container: it needs none (keys are hashed in the warehouse volume)
    assert not any(re.search(r"PASSWORD|SECRET", name) for name in api["environment"])
