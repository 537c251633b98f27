"""Shared fixtures: the committed sample and small hand-written landing folders."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.settings import REPO_ROOT

SAMPLE_DIR = REPO_ROOT / "seeds"

BUILD_OUTPUT = "build-output.log"  # beside the built sample's warehouse: what `comptoir build` printed
ORDERS_HEADER = "order_id,line_number,customer_id,product_id,quantity,unit_price,order_date,status,shipping_address"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    if not (SAMPLE_DIR / "orders.csv").exists():
        pytest.fail("the committed sample is missing from seeds/: run `comptoir generate --out seeds`")
    return SAMPLE_DIR


@pytest.fixture
def sample_copy(tmp_path: Path, sample_dir: Path) -> Path:
    """A private copy of the committed sample that a test may break."""
    target = tmp_path / "seeds"
    shutil.copytree(sample_dir, target)
    return target


def write_products(path: Path, rows: list[dict[str, object]]) -> None:
    decimal = pa.decimal128(18, 2)
    schema = pa.schema(
        [("product_id", pa.string()), ("name", pa.string()), ("category", pa.string()),
         ("brand", pa.string()), ("price", decimal), ("cost", decimal)]
    )
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


@pytest.fixture
def make_seeds(tmp_path: Path) -> Callable[..., Path]:
    """Write a tiny valid landing folder; `files` replaces a file's content (None removes the file)."""

    def make(files: dict[str, str | bytes | None] | None = None) -> Path:
        folder = tmp_path / "landing"
        folder.mkdir(exist_ok=True)
        write_products(folder / "products.parquet", [
            {"product_id": "P1", "name": "Mug", "category": "Home & Kitchen", "brand": "Acme",
             "price": Decimal("9.99"), "cost": Decimal("4.00")},
            {"product_id": "P2", "name": "Sticker", "category": "Toys & Games", "brand": None,
             "price": Decimal("0.00"), "cost": None},
        ])
        contents: dict[str, str | bytes | None] = {
            "orders.csv": ORDERS_HEADER + "\n"
            'O1,1,C1,P1,2,9.99,2024-03-01T10:00:00,completed,"1 Main St, Paris"\n'
            'O1,2,C1,P2,1,0.00,2024-03-01T10:00:00,completed,"1 Main St, Paris"\n'
            "O2,1,,P1,1,9.99,2024-03-02T11:30:00,returned,\n",
            "customers.json": json.dumps(
                {"customer_id": "C1", "name": "Ada Lovelace", "email": "ada@example.com", "city": "Paris",
                 "country": "France", "registration_date": "2023-12-01", "loyalty_tier": "gold"}
            ) + "\n",
            **(files or {}),
        }
        for name, content in contents.items():
            target = folder / name
            if content is None:
                target.unlink(missing_ok=True)
            elif isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8")
        return folder

    return make


@pytest.fixture(scope="session")
def built_sample(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path, worker_id: str) -> Path:
    """The committed sample built end to end by `comptoir build` (raw load + dbt + ML); the warehouse path. What the
    build printed is in BUILD_OUTPUT beside it.

    Built once per run: under pytest-xdist (`make test` runs two workers) the first worker to ask builds it in the
    run's shared temporary folder while the others wait on a lock, then every worker reads the same files.
    COMPTOIR_TEST_BUILT_SAMPLE=<warehouse file> reuses a warehouse built from the same sample, for quick
    local iterations; `make test` and CI never set it.
    """
    import fcntl
    import os

    reuse = os.environ.get("COMPTOIR_TEST_BUILT_SAMPLE")
    if reuse:
        return Path(reuse)
    if worker_id == "master":
        return _build_sample(tmp_path_factory.mktemp("built-sample"), sample_dir)
    shared = tmp_path_factory.getbasetemp().parent  # the run's folder, the workers' parent
    with (shared / "built-sample.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        home = shared / "built-sample"
        if not (home / BUILD_OUTPUT).exists():  # written last: a build cut short is built again
            shutil.rmtree(home, ignore_errors=True)
            home.mkdir(mode=0o700)
            _build_sample(home, sample_dir)
    return home / "comptoir.duckdb"


def _build_sample(home: Path, sample_dir: Path) -> Path:
    import os
    import subprocess
    import sys

    env = {**os.environ, "COMPTOIR_HOME": str(home)}
    env.pop("COMPTOIR_SEEDS_DIR", None)
    completed = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "build", "--seeds", str(sample_dir)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1800,
    )
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    # What the build printed, for the tests of its summary (they share this build instead of making their own).
    (home / BUILD_OUTPUT).write_text(completed.stdout, encoding="utf-8")
    (home / BUILD_OUTPUT).chmod(0o600)  # owner only, like everything in a home (test_private_files.py checks)
    return home / "comptoir.duckdb"
