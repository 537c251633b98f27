"""A warehouse with the dbt feature models built from hand-made rows: real raw load, real dbt, real DuckDB.

The propensity tests describe a shop as rows (customers, order lines, e-mail events, web sessions), the way the
marts see them; :func:`build_feature_warehouse` writes them as a landing folder (the files `comptoir build` reads),
loads it and runs `dbt build` of the feature models and everything upstream of them, with the dbt vars the test
asks for (as_of_date, propensity_horizon_days, ...). The ML code then reads the feature tables as in production.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd

from orchestration import raw_load
from orchestration.dbt.args import vars_arg
from orchestration.dbt.project import DBT_PROJECT_DIR, dbt_executable
from tests.conftest import ORDERS_HEADER, write_products

# The propensity and CLV feature models and what they read (their tests too, the marts' included, when all of a
# test's parents are selected: --indirect-selection cautious). Not every feature model: the forecast and stock-out
# ones read marts (dim_date's spine) that a shop with events past its as-of date would fail.
FEATURES_SELECTION = " ".join(f"+{model}" for model in (
    "feat_propensity__labels", "feat_propensity__customer_cutoffs", "feat_propensity__category_shares",
    "feat_propensity__cutoff_categories", "feat_clv__customer_summary",
))
COUNTRIES = {"FR": "France", "DE": "Germany", "NL": "Netherlands", "GB": "United Kingdom", "US": "United States"}
UNKNOWN_PRODUCT = "P-UNKNOWN"  # a product missing from products.parquet: its lines have no category


@dataclass
class Shop:
    """The rows of a shop, in the marts' terms.

    customers: (customer_id, loyalty_tier, country_code, registered_on); lines: (order_id, customer_id or None for
    a guest, category or None, order_date, is_sale, revenue); emails: (customer_id, campaign_id, event_type,
    event_date); sessions: (customer_id, session_date).
    """

    customers: list[tuple] = field(default_factory=list)
    lines: list[tuple] = field(default_factory=list)
    emails: list[tuple] | None = field(default_factory=list)
    sessions: list[tuple] | None = field(default_factory=list)

    @classmethod
    def from_frames(cls, customers: pd.DataFrame, lines: pd.DataFrame, emails: pd.DataFrame,
                    sessions: pd.DataFrame) -> Shop:
        def rows(frame: pd.DataFrame, columns: Sequence[str]) -> list[tuple]:
            return list(frame[list(columns)].itertuples(index=False, name=None))

        return cls(
            rows(customers, ["customer_id", "loyalty_tier", "country_code", "registered_on"]),
            rows(lines, ["order_id", "customer_id", "category", "order_date", "is_sale", "revenue"]),
            rows(emails, ["customer_id", "campaign_id", "event_type", "event_date"]),
            rows(sessions, ["customer_id", "session_date"]),
        )


def _day(value: object) -> str:
    return pd.Timestamp(value).date().isoformat()  # type: ignore[arg-type]


def _product_id(category: str | None) -> str:
    return UNKNOWN_PRODUCT if category is None else "P-" + "".join(c if c.isalnum() else "-" for c in category)


def write_landing(shop: Shop, folder: Path) -> Path:
    """The shop as a landing folder (products.parquet, orders.csv, customers.json and the optional event files)."""
    folder.mkdir(parents=True, exist_ok=True)
    categories = sorted({line[2] for line in shop.lines if line[2] is not None})
    write_products(folder / "products.parquet", [
        {"product_id": _product_id(c), "name": c, "category": c, "brand": None, "price": Decimal("1.00"),
         "cost": None}
        for c in categories
    ])
    with (folder / "customers.json").open("w", encoding="utf-8") as out:
        for customer_id, tier, country, registered_on in shop.customers:
            out.write(json.dumps({
                "customer_id": customer_id, "name": f"Customer {customer_id}", "email": f"{customer_id}@example.com",
                "city": "Paris", "country": COUNTRIES.get(country) if country else None,
                "registration_date": _day(registered_on) if registered_on is not None else None,
                "loyalty_tier": tier,
            }) + "\n")
    line_numbers: dict[str, int] = {}
    orders = [ORDERS_HEADER]
    for order_id, customer_id, category, order_date, is_sale, revenue in shop.lines:
        line_numbers[order_id] = line_numbers.get(order_id, 0) + 1
        status = "completed" if is_sale else "cancelled"
        orders.append(f"{order_id},{line_numbers[order_id]},{customer_id or ''},{_product_id(category)},1,"
                      f"{Decimal(str(revenue)):.2f},{_day(order_date)}T12:00:00,{status},")
    (folder / "orders.csv").write_text("\n".join(orders) + "\n", encoding="utf-8")
    if shop.emails is not None:
        events = ["event_id,customer_id,campaign_id,event_type,event_at"]
        events += [f"E{i},{c},{k},{kind},{_day(d)}T09:00:00" for i, (c, k, kind, d) in enumerate(shop.emails)]
        (folder / "email_events.csv").write_text("\n".join(events) + "\n", encoding="utf-8")
    if shop.sessions is not None:
        sessions = ["session_id,customer_id,started_at,channel,device,pages_viewed,order_id"]
        sessions += [f"S{i},{c},{_day(d)}T10:00:00,direct,mobile,3," for i, (c, d) in enumerate(shop.sessions)]
        (folder / "web_sessions.csv").write_text("\n".join(sessions) + "\n", encoding="utf-8")
    return folder


def build_feature_warehouse(shop: Shop, root: Path, dbt_vars: Mapping[str, object] | None = None) -> Path:
    """Load ``shop`` into a new warehouse under ``root`` and `dbt build` the feature models; the warehouse path.

    dbt parses the whole project again whenever its profile (the warehouse path) or its vars change: five of a
    build's eleven seconds. So every build of the session runs at one warehouse path, the file moved to ``root``
    afterwards, and each set of vars keeps its own target folder, whose saved parse the next build with the same
    vars reuses."""
    folder = write_landing(shop, root / "landing")
    arguments = vars_arg({key: str(value) if isinstance(value, date) else value
                          for key, value in (dbt_vars or {}).items()})
    building = _build_dir() / "warehouse.duckdb"
    target = _build_dir() / ("target-" + hashlib.sha256(repr(arguments).encode()).hexdigest()[:12])
    with duckdb.connect(str(building)) as con:
        raw_load.load_all(con, folder, datetime.now(UTC).replace(tzinfo=None))
    env = {**os.environ, "COMPTOIR_DUCKDB_PATH": str(building), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    try:
        completed = subprocess.run(
            [str(dbt_executable()), "build", "--select", FEATURES_SELECTION, "--indirect-selection", "cautious",
             "--exclude-resource-type", "unit_test", *arguments,
             "--profiles-dir", ".", "--target-path", str(target), "--log-path", str(target)],
            cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, timeout=900, check=False,
        )
        assert completed.returncode == 0, completed.stdout[-6000:] + completed.stderr[-2000:]
        assert not building.with_name(building.name + ".wal").exists()  # dbt closed the file: nothing pending
        database = root / "warehouse.duckdb"
        shutil.move(building, database)
    finally:
        building.unlink(missing_ok=True)
    return database


@functools.cache
def _build_dir() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="comptoir-feature-builds-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def connect_features(shop: Shop, root: Path, dbt_vars: Mapping[str, object] | None = None
                     ) -> duckdb.DuckDBPyConnection:
    """build_feature_warehouse, then a connection to it (read-write: the ML code writes schema ml)."""
    return duckdb.connect(str(build_feature_warehouse(shop, root, dbt_vars)))
