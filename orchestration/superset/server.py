"""Superset's processes, run from the BI environment (.venv-bi): initialisation, the web server, credentials.

Nothing here imports Superset: it runs `.venv-bi/bin/superset` and `.venv-bi/bin/gunicorn` with
SUPERSET_CONFIG_PATH pointing at superset/superset_config.py and COMPTOIR_HOME set, so everything Superset
writes lands in $COMPTOIR_HOME/superset/ (0700; its files 0600: the processes inherit Comptoir's umask).
No password is ever put on a command line (`ps` shows those to every local user): the admin account is made
by superset/admin_user.py, which reads the password on its standard input.
"""

import contextlib
import hashlib
import json
import logging
import os
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from orchestration.settings import PRIVATE_FILE_MODE, REPO_ROOT, private_dir

log = logging.getLogger(__name__)

BI_VENV_ENV = "COMPTOIR_BI_VENV"  # where the BI environment lives (default .venv-bi in the repository)
CONFIG_FILE = REPO_ROOT / "superset" / "superset_config.py"
ADMIN_SCRIPT = REPO_ROOT / "superset" / "admin_user.py"
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD_ENV = "COMPTOIR_SUPERSET_ADMIN_PASSWORD"
VIEWER_PASSWORD_ENV = "COMPTOIR_SUPERSET_VIEWER_PASSWORD"
DATABASE_URI_ENV = "COMPTOIR_SUPERSET_DATABASE_URI"
INIT_STAMP = ".initialised"


class SupersetSetupError(RuntimeError):
    """The BI environment is missing or a Superset command failed."""


def bi_venv() -> Path:
    return Path(os.environ.get(BI_VENV_ENV) or REPO_ROOT / ".venv-bi")


def superset_dir(home: Path) -> Path:
    return home / "superset"


@dataclass(frozen=True)
class Credential:
    username: str
    password: str
    source: str  # "environment", "generated now" or the file it was read from


def credential(home: Path, username: str, env: str) -> Credential:
    """The password from `env`, else the one generated on first use into $COMPTOIR_HOME/superset/ (mode 0600)."""
    from_env = os.environ.get(env)
    if from_env:
        return Credential(username, from_env, f"${env}")
    # 0700 whoever comes first (this helper or Superset's config), and whatever the caller's umask.
    folder = private_dir(superset_dir(home))
    path = folder / f"{username}_password"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return Credential(username, path.read_text(encoding="utf-8").strip(), str(path))
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(12))
    return Credential(username, path.read_text(encoding="utf-8").strip(), "generated now")


def admin_credential(home: Path) -> Credential:
    return credential(home, ADMIN_USERNAME, ADMIN_PASSWORD_ENV)


def viewer_credential(home: Path) -> Credential:
    from orchestration.superset.security import VIEWER_USERNAME

    return credential(home, VIEWER_USERNAME, VIEWER_PASSWORD_ENV)


def environment(home: Path) -> dict[str, str]:
    """The environment Superset's commands run with."""
    env = {
        **os.environ,
        "COMPTOIR_HOME": str(home),
        "SUPERSET_CONFIG_PATH": str(CONFIG_FILE),
        "FLASK_APP": "superset",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("PYTHONPATH", None)  # nothing of the pipeline's environment may leak into Superset's
    return env


def _executable(name: str) -> Path:
    path = bi_venv() / "bin" / name
    if not path.exists():
        raise SupersetSetupError(
            f"{path} is missing: create the BI environment with `make setup` "
            "(`comptoir serve --no-superset` serves the Dagster UI alone)"
        )
    return path


def _run_command(home: Path, command: list[str], name: str, stdin: str | None = None) -> str:
    """Run a BI command with Superset's environment; ``stdin`` is its standard input (secrets go there)."""
    started = time.monotonic()
    completed = subprocess.run(
        command, env=environment(home), input=stdin, capture_output=True, text=True, timeout=900,
    )
    output = completed.stdout + completed.stderr
    if completed.returncode != 0 or ("Error!" in output and "already exists" not in output):
        raise SupersetSetupError(f"`{name}` failed:\n{output[-3000:]}")
    log.info("%s: %.1fs", name, time.monotonic() - started)
    return output


def _run(home: Path, *args: str) -> str:
    return _run_command(home, [str(_executable("superset")), *args], f"superset {' '.join(args[:2])}")


def admin_user_command(username: str) -> list[str]:
    """superset/admin_user.py in the BI environment: creates the admin account or sets its password again, the
    password read on standard input, so that no command line holds it."""
    return [str(_executable("python")), str(ADMIN_SCRIPT), "--username", username, "--firstname", "Comptoir",
            "--lastname", "Admin", "--email", "admin@comptoir.invalid"]


def _stamp(home: Path) -> str:
    """What an initialisation is valid for: the metadata database and the Superset release."""
    # The default SQLite file lives in the home and moves with it: a home copied or moved elsewhere stays
    # initialised. A database named by the environment is one of its own.
    uri = os.environ.get(DATABASE_URI_ENV) or "sqlite in COMPTOIR_HOME/superset"
    lock = (REPO_ROOT / "requirements" / "bi.lock").read_text(encoding="utf-8") if (
        REPO_ROOT / "requirements" / "bi.lock").exists() else ""
    release = next((line for line in lock.splitlines() if line.lower().startswith("apache-superset==")), "")
    return json.dumps({"database": hashlib.sha256(uri.encode()).hexdigest()[:16], "superset": release})


def is_initialised(home: Path) -> bool:
    stamp = superset_dir(home) / INIT_STAMP
    if not stamp.exists() or stamp.read_text(encoding="utf-8") != _stamp(home):
        return False
    # a deleted SQLite file needs a new initialisation whatever the stamp says
    return bool(os.environ.get(DATABASE_URI_ENV)) or (superset_dir(home) / "superset.db").exists()


def init(home: Path, force: bool = False) -> bool:
    """Create or upgrade the metadata database, the admin account and Superset's roles; False when already done."""
    if not force and is_initialised(home):
        return False
    admin = admin_credential(home)
    _run(home, "db", "upgrade")
    _run_command(home, admin_user_command(admin.username), "superset admin account", stdin=admin.password + "\n")
    _run(home, "init")
    (superset_dir(home) / INIT_STAMP).write_text(_stamp(home), encoding="utf-8")
    return True


def server_command(host: str, port: int, workers: int = 2, threads: int = 4) -> list[str]:
    """gunicorn serving Superset: few processes, several threads each (two cores, small marts)."""
    return [
        str(_executable("gunicorn")), "--no-control-socket", "--workers", str(workers), "--worker-class", "gthread",
        "--threads", str(threads), "--timeout", "120", "--graceful-timeout", "10", "--bind", f"{host}:{port}",
        "--log-level", "warning", "superset.app:create_app()",
    ]


def start_server(home: Path, host: str, port: int, log_file: Path | None = None) -> subprocess.Popen[bytes]:
    """Start Superset in its own process group (stop it with stop_process_group)."""
    log_path = log_file or superset_dir(home) / "superset.log"
    private_dir(log_path.parent)
    # 0600 whatever the caller's umask: an error's traceback may quote a query's rows.
    with os.fdopen(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE_MODE), "ab") as out:
        process = subprocess.Popen(
            server_command(host, port), env=environment(home), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process


def stop_process_group(process: subprocess.Popen[bytes], sig: int, timeout: float = 30.0) -> int | None:
    """Signal a child's whole process group, wait for the child, then kill whatever of the group is left."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("process %d did not stop in %.0fs: killing it", process.pid, timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # stragglers (workers, daemons) of a group whose leader is gone
    return process.wait()
