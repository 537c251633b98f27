"""Private by default (issue 13): what Comptoir writes can hold personal data or secrets, so it is its owner's only,
0700 folders and 0600 files, through the umask `comptoir` sets for itself and every process it starts (dbt, Dagster,
Superset). Checked with os.stat on a real build's COMPTOIR_HOME and on the `comptoir` command itself.
Superset's own files are checked by tests/e2e/test_superset.py, on a running Superset."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.settings import REPO_ROOT, private_dir, private_home
from orchestration.superset.server import admin_credential, admin_user_command

pytestmark = pytest.mark.slow


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def open_to_others(root: Path) -> list[str]:
    """Every folder or file under ``root`` (itself included) that its group or other users may read or enter."""
    paths = [root, *root.rglob("*")]
    return [f"{oct(mode(p))} {p.relative_to(root)}" for p in paths if not p.is_symlink() and mode(p) & 0o077]


def comptoir(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COMPTOIR_HOME": str(home)}
    env.pop("COMPTOIR_SEEDS_DIR", None)
    return subprocess.run([sys.executable, "-m", "orchestration.cli", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_a_build_leaves_nothing_that_other_users_can_read(built_sample: Path) -> None:
    home = built_sample.parent
    for name in ("comptoir.duckdb", "published/comptoir.duckdb"):  # names, e-mails, addresses
        assert mode(home / name) == 0o600, name
    for name in ("published", "dbt/runs", "models", "dagster"):
        assert mode(home / name) == 0o700, name
    run_folders = list((home / "dbt" / "runs").iterdir())
    assert run_folders and all(mode(folder) == 0o700 for folder in run_folders)
    assert any(folder.joinpath("dbt.log").exists() for folder in run_folders)  # the logs are in the walk below
    assert open_to_others(home) == []


def test_comptoir_creates_its_home_owner_only_and_closes_an_open_one(tmp_path: Path) -> None:
    fresh = tmp_path / "new" / "home"
    completed = comptoir(fresh, "superset", "publish")  # nothing to publish yet: it fails, after making the home
    assert completed.returncode == 1 and "no warehouse to publish" in completed.stderr
    assert (mode(tmp_path / "new"), mode(fresh)) == (0o700, 0o700)

    earlier = tmp_path / "earlier"  # as a version before this one left it
    earlier.mkdir(mode=0o755)
    earlier.chmod(0o755)
    (earlier / "comptoir.duckdb").write_bytes(b"")
    comptoir(earlier, "superset", "publish")
    assert mode(earlier) == 0o700


def test_files_written_by_the_comptoir_command_are_owner_only(tmp_path: Path) -> None:
    """The umask is the process's own: a verb that writes outside the home (generate) gets it too."""
    completed = comptoir(tmp_path / "home", "generate", "--out", str(tmp_path / "landing"), "--customers", "30",
                         "--days", "28")
    assert completed.returncode == 0, completed.stderr
    assert open_to_others(tmp_path / "landing") == []
    assert (tmp_path / "landing" / "orders.csv").exists()


def test_helpers_give_owner_only_modes_whatever_the_callers_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)  # a library caller that never set Comptoir's umask (this test process)
    try:
        folder = private_dir(tmp_path / "a" / "b")
        assert (mode(tmp_path / "a"), mode(folder)) == (0o700, 0o700)
        home = tmp_path / "home"
        home.mkdir(mode=0o755)
        assert mode(private_home(home)) == 0o700
        credential = admin_credential(home)  # generates the password file, and its folder, first
        assert mode(home / "superset") == 0o700
        assert mode(home / "superset" / "admin_password") == 0o600
    finally:
        os.umask(previous)
    # The admin account is made with the password on standard input: the command line never holds it.
    command = admin_user_command(credential.username)
    assert credential.password not in " ".join(command) and "--password" not in command
