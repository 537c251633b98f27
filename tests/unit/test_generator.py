"""Synthetic generator: determinism, contract conformance, exact defect accounting and realism.

Every expectation is recomputed from the files themselves (Python csv/json + DuckDB SQL),
never copied from the generator's own bookkeeping.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestration.contract import (
    CUSTOMERS,
    EMAIL_EVENT_TYPES,
    EMAIL_EVENTS,
    INVENTORY,
    LOYALTY_TIERS,
    ORDER_STATUSES,
    ORDERS,
    PRODUCTS,
    WEB_CHANNELS,
    WEB_DEVICES,
    WEB_SESSIONS,
    Source,
)
from orchestration.generator import generate

SMALL = {"customers": 150, "days": 120, "seed": 7}
OUTPUT_FILES = {s.file_name for s in (ORDERS, CUSTOMERS, PRODUCTS, INVENTORY, WEB_SESSIONS, EMAIL_EVENTS)} | {
    "manifest.json"
}
COUNTRIES = {"France", "Germany", "United Kingdom", "United States", "Spain", "Italy", "Netherlands",
             "Belgium", "Canada"}
ISO_TS = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$"
EMAIL_RE = r"^[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$"
TS_FMT = "%Y-%m-%dT%H:%M:%S"


# --------------------------------------------------------------------------- fixtures and helpers
@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("small")
    generate(out, **SMALL)
    return out


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("default")
    generate(out)
    return out


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def physical_lines(path: Path) -> list[str]:
    data = path.read_bytes().decode("utf-8")
    assert data.endswith("\n") and "\r" not in data
    return data[:-1].split("\n")


def parse_csv(path: Path, source: Source) -> tuple[list[str], pd.DataFrame]:
    """Split each physical line on its own: broken quoting and field counts are per line."""
    lines = physical_lines(path)
    assert lines[0] == ",".join(source.column_names)
    records = []
    width = len(source.column_names)
    for i, line in enumerate(lines[1:]):
        try:
            fields = next(csv.reader([line], strict=True))
            broken = False
        except csv.Error:
            fields, broken = [], True
        ok = not broken and len(fields) == width
        records.append([i, line, broken, len(fields)] + (fields if ok else [None] * width))
    df = pd.DataFrame(records, columns=["i", "line", "broken", "nf", *source.column_names])
    return lines[1:], df


def read_customers(path: Path) -> tuple[int, pd.DataFrame]:
    """(number of invalid JSON lines, valid records in file order)."""
    bad, rows = 0, []
    for line in physical_lines(path):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        assert list(obj) == CUSTOMERS.column_names
        rows.append(obj)
    return bad, pd.DataFrame(rows, columns=CUSTOMERS.column_names)


def sql(con: duckdb.DuckDBPyConnection, query: str) -> list[tuple]:
    return con.execute(query).fetchall()


def black_friday(year: int) -> date:
    """Day after US Thanksgiving (fourth Thursday of November)."""
    thursdays = [d for d in (date(year, 11, 1) + timedelta(days=k) for k in range(30)) if d.weekday() == 3]
    return thursdays[3] + timedelta(days=1)


def orders_db(out: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """DuckDB with raw orders (per-line flags), customers and products."""
    con = duckdb.connect()
    raw_lines, df = parse_csv(out / ORDERS.file_name, ORDERS)
    con.register("raw", df)
    _, cust = read_customers(out / CUSTOMERS.file_name)
    con.register("cust_raw", cust)
    con.execute(f"CREATE VIEW products AS SELECT * FROM read_parquet('{out / PRODUCTS.file_name}')")
    end = date.fromisoformat(manifest(out)["generator"]["end"])
    con.execute(f"""CREATE TABLE flagged AS SELECT *,
        (order_id <> trim(order_id) OR customer_id <> trim(customer_id) OR product_id <> trim(product_id)
         OR status <> trim(status) OR quantity <> trim(quantity) OR unit_price <> trim(unit_price)
         OR order_date <> trim(order_date)) AS f_ws,
        order_id = '' AS f_blank_order,
        product_id = '' AS f_blank_product,
        NOT regexp_full_match(order_date, '{ISO_TS}') AS f_unparsable,
        regexp_full_match(order_date, '{ISO_TS}') AND try_strptime(order_date, '{TS_FMT}') IS NULL
            AS f_impossible,
        try_strptime(order_date, '{TS_FMT}') > TIMESTAMP '{end + timedelta(days=366)}' AS f_future,
        try_cast(quantity AS INTEGER) <= 0 AS f_quantity,
        try_cast(unit_price AS DECIMAL(18, 2)) < 0 AS f_price,
        product_id <> '' AND trim(product_id) NOT IN (SELECT product_id FROM products WHERE product_id <> '')
            AS f_unknown_product,
        customer_id <> '' AND trim(customer_id) NOT IN
            (SELECT customer_id FROM cust_raw WHERE customer_id IS NOT NULL AND customer_id <> '')
            AS f_unknown_customer
        FROM raw WHERE NOT broken AND nf = 9""")
    flags = ["f_ws", "f_blank_order", "f_blank_product", "f_unparsable", "f_impossible", "f_future",
             "f_quantity", "f_price", "f_unknown_product", "f_unknown_customer"]
    n_flags = " + ".join(f"coalesce({f}, false)::INTEGER" for f in flags)
    con.execute(f"CREATE VIEW clean AS SELECT * FROM flagged WHERE {n_flags} = 0")
    con.execute(f"CREATE VIEW flag_sum AS SELECT i, {n_flags} AS n FROM flagged")
    con.execute(f"""CREATE VIEW clean_orders AS SELECT order_id, line_number::INTEGER AS line_number,
        customer_id, product_id, quantity::INTEGER AS quantity, unit_price::DECIMAL(18, 2) AS unit_price,
        strptime(order_date, '{TS_FMT}') AS ts, status FROM clean""")
    con.register("raw_lines", pd.DataFrame({"line": raw_lines}))
    yield con
    con.close()


@pytest.fixture(scope="module")
def small_db(small: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    yield from orders_db(small)


@pytest.fixture(scope="module")
def default_db(default: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    yield from orders_db(default)


# --------------------------------------------------------------------------- determinism
def test_same_arguments_give_identical_bytes(small: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate(again, **SMALL)
    assert {p.name for p in small.iterdir()} == OUTPUT_FILES  # temp folder cleaned up
    assert {p.name for p in again.iterdir()} == OUTPUT_FILES
    for name in sorted(OUTPUT_FILES):
        assert (small / name).read_bytes() == (again / name).read_bytes(), name


def test_other_seed_gives_other_orders(small: Path, tmp_path: Path) -> None:
    generate(tmp_path, **(SMALL | {"seed": 8}))
    assert (tmp_path / ORDERS.file_name).read_bytes() != (small / ORDERS.file_name).read_bytes()


def test_no_defects_when_rate_is_zero(tmp_path: Path) -> None:
    m = generate(tmp_path, **(SMALL | {"defect_rate": 0.0}))
    assert set(m["defects"].values()) == {0}
    bad, cust = read_customers(tmp_path / CUSTOMERS.file_name)
    assert bad == 0 and cust["customer_id"].is_unique and set(cust["country"]) <= COUNTRIES


# --------------------------------------------------------------------------- contract
@pytest.mark.parametrize("source", [ORDERS, INVENTORY, WEB_SESSIONS, EMAIL_EVENTS], ids=lambda s: s.name)
def test_csv_header_and_field_counts(small: Path, source: Source) -> None:
    _, df = parse_csv(small / source.file_name, source)
    assert (df["nf"] == len(source.column_names)).mean() > 0.9


def test_products_schema(small: Path) -> None:
    table = pq.read_table(small / PRODUCTS.file_name)
    assert table.column_names == PRODUCTS.column_names
    assert table.schema.field("price").type == pa.decimal128(18, 2)
    assert table.schema.field("cost").type == pa.decimal128(18, 2)
    assert table.schema.field("product_id").type == pa.string()


def test_clean_order_values(small_db: duckdb.DuckDBPyConnection, small: Path) -> None:
    m = manifest(small)
    start = date.fromisoformat(m["generator"]["start"])
    end = date.fromisoformat(m["generator"]["end"])
    statuses = sql(small_db, "SELECT DISTINCT status FROM clean_orders ORDER BY 1")
    assert {s for (s,) in statuses} <= set(ORDER_STATUSES)
    lo, hi = sql(small_db, "SELECT min(ts), max(ts) FROM clean_orders")[0]
    assert lo.date() >= start and hi.date() <= end
    assert sql(small_db, "SELECT count(*) FROM clean_orders WHERE quantity <= 0 OR unit_price < 0")[0][0] == 0
    # Money always has exactly two decimals.
    money = r"SELECT count(*) FROM clean WHERE NOT regexp_full_match(unit_price, '\d+\.\d{2}')"
    assert sql(small_db, money)[0][0] == 0
    # (order_id, line_number) is unique once exact duplicate lines are removed; lines are numbered 1..n.
    dup_keys = sql(small_db, """SELECT count(*) FROM (SELECT order_id, line_number FROM
        (SELECT DISTINCT * FROM clean_orders) GROUP BY ALL HAVING count(*) > 1)""")
    assert dup_keys[0][0] == 0
    gaps = sql(small_db, """SELECT count(*) FROM (SELECT order_id, max(line_number) AS mx,
        count(DISTINCT line_number) AS n FROM clean_orders GROUP BY 1) WHERE mx <> n""")
    assert gaps[0][0] <= sum(m["defects"].values())  # only lines hidden by a defect leave gaps
    # All lines of an order share customer, timestamp and address.
    inconsistent = sql(small_db, """SELECT count(*) FROM (SELECT order_id FROM clean_orders
        GROUP BY 1 HAVING count(DISTINCT ts) > 1 OR count(DISTINCT coalesce(customer_id, '')) > 1)""")
    assert inconsistent[0][0] == 0


def test_customers_order_after_registration(small_db: duckdb.DuckDBPyConnection) -> None:
    early = sql(small_db, """SELECT count(*) FROM clean_orders o
        JOIN (SELECT customer_id, min(registration_date::DATE) AS reg FROM cust_raw GROUP BY 1) c
        USING (customer_id)
        WHERE o.ts::DATE < c.reg""")
    assert early[0][0] == 0


def test_customer_values(small: Path) -> None:
    _, cust = read_customers(small / CUSTOMERS.file_name)
    clean = cust[cust["customer_id"].fillna("").str.match(r"^C\d{6}$")]
    assert clean["registration_date"].str.match(r"^\d{4}-\d{2}-\d{2}$").all()
    assert set(clean["loyalty_tier"].dropna()) <= set(LOYALTY_TIERS)
    assert clean["country"].isin(COUNTRIES).mean() > 0.9


def test_engagement_files_are_consistent(small: Path, small_db: duckdb.DuckDBPyConnection) -> None:
    _, web = parse_csv(small / WEB_SESSIONS.file_name, WEB_SESSIONS)
    _, email = parse_csv(small / EMAIL_EVENTS.file_name, EMAIL_EVENTS)
    con = small_db
    con.register("web", web[web["nf"] == 7])
    con.register("email", email[email["nf"] == 5])
    assert {c for (c,) in sql(con, "SELECT DISTINCT channel FROM web")} <= set(WEB_CHANNELS)
    assert {d for (d,) in sql(con, "SELECT DISTINCT device FROM web")} <= set(WEB_DEVICES)
    assert {t for (t,) in sql(con, "SELECT DISTINCT event_type FROM email")} <= set(EMAIL_EVENT_TYPES)
    assert sql(con, "SELECT count(*) - count(DISTINCT session_id) FROM web")[0][0] == 0
    assert sql(con, "SELECT count(*) - count(DISTINCT event_id) FROM email")[0][0] == 0
    # Converting sessions point at real orders, same buyer, starting shortly before the order.
    bad_conv = sql(con, f"""SELECT count(*) FROM web w JOIN (SELECT DISTINCT order_id, customer_id, ts
            FROM clean_orders) o USING (order_id)
        WHERE w.customer_id <> o.customer_id
           OR NOT (try_strptime(w.started_at, '{TS_FMT}') BETWEEN o.ts - INTERVAL 1 HOUR AND o.ts)""")
    assert bad_conv[0][0] == 0
    # Never an open without a send, never a click without an open, and never before them.
    for later, earlier in (("opened", "sent"), ("clicked", "opened")):
        orphans = sql(con, f"""SELECT count(*) FROM email a WHERE a.event_type = '{later}' AND NOT EXISTS (
            SELECT 1 FROM email b WHERE b.event_type = '{earlier}' AND b.customer_id = a.customer_id
              AND b.campaign_id = a.campaign_id AND b.event_at <= a.event_at)
            AND regexp_full_match(a.event_at, '{ISO_TS}')""")
        # A few partners may be hidden by an injected defect on the earlier event.
        assert orphans[0][0] <= manifest(small)["defects"]["email_events_unparsable_date"] + \
            manifest(small)["defects"]["email_events_malformed_wrong_field_count"]


# --------------------------------------------------------------------------- manifest equals files
def _check_orders_defects(out: Path, con: duckdb.DuckDBPyConnection) -> None:
    m = manifest(out)
    d = m["defects"]
    # Every parsed row carries at most one defect kind.
    assert sql(con, "SELECT coalesce(max(n), 0) FROM flag_sum")[0][0] <= 1
    recount = sql(con, """SELECT
        (SELECT count(*) FROM raw WHERE broken),
        (SELECT count(*) FROM raw WHERE NOT broken AND nf <> 9),
        count(*) FILTER (WHERE f_ws), count(*) FILTER (WHERE f_blank_order),
        count(*) FILTER (WHERE f_blank_product),
        count(*) FILTER (WHERE f_unparsable), count(*) FILTER (WHERE f_impossible),
        count(*) FILTER (WHERE f_future), count(*) FILTER (WHERE f_quantity), count(*) FILTER (WHERE f_price),
        count(*) FILTER (WHERE f_unknown_product), count(*) FILTER (WHERE f_unknown_customer),
        (SELECT count(*) - count(DISTINCT line) FROM raw_lines)
        FROM flagged""")[0]
    keys = ["orders_malformed_broken_quoting", "orders_malformed_wrong_field_count",
            "orders_stray_whitespace", "orders_blank_order_id", "orders_blank_product_id",
            "orders_unparsable_date", "orders_impossible_date", "orders_future_date",
            "orders_nonpositive_quantity", "orders_negative_price", "orders_unknown_product",
            "orders_unknown_customer", "orders_exact_duplicate_lines"]
    assert dict(zip(keys, recount, strict=True)) == {k: d[k] for k in keys}
    assert set(keys) == {k for k in d if k.startswith("orders_")}
    # Unparsable and impossible timestamps are rejected by a plain cast too.
    assert sql(con, "SELECT count(*) FROM flagged WHERE (f_unparsable OR f_impossible) "
                    "AND try_cast(order_date AS TIMESTAMP) IS NOT NULL")[0][0] == 0


def _check_customer_defects(out: Path) -> None:
    d = manifest(out)["defects"]
    bad, cust = read_customers(out / CUSTOMERS.file_name)
    con = duckdb.connect()
    con.register("c", cust)
    got = sql(con, f"""SELECT
        count(*) FILTER (WHERE customer_id IS NULL OR trim(customer_id) = ''),
        count(customer_id) FILTER (WHERE trim(customer_id) <> '')
            - count(DISTINCT customer_id) FILTER (WHERE trim(customer_id) <> ''),
        count(*) FILTER (WHERE country NOT IN ({", ".join(f"'{c}'" for c in sorted(COUNTRIES))})),
        count(*) FILTER (WHERE name <> trim(name) OR email <> trim(email) OR city <> trim(city)),
        count(*) FILTER (WHERE NOT regexp_full_match(trim(email), '{EMAIL_RE}'))
        FROM c""")[0]
    assert {"customers_malformed_json": bad, "customers_blank_customer_id": got[0],
            "customers_exported_twice": got[1], "customers_inconsistent_country_spelling": got[2],
            "customers_stray_whitespace": got[3], "customers_malformed_email": got[4]} == {
        k: v for k, v in d.items() if k.startswith("customers_")}
    # One defect per record: stray whitespace, bad e-mail, odd country and blank id never combine.
    overlap = sql(con, f"""SELECT count(*) FROM c WHERE
        (customer_id IS NULL OR trim(customer_id) = '')::INTEGER
        + (country NOT IN ({", ".join(f"'{c}'" for c in sorted(COUNTRIES))}))::INTEGER
        + (name <> trim(name) OR email <> trim(email) OR city <> trim(city))::INTEGER
        + (NOT regexp_full_match(trim(email), '{EMAIL_RE}'))::INTEGER > 1""")
    assert overlap[0][0] == 0
    # Clean e-mails are unique.
    assert sql(con, f"""SELECT count(*) - count(DISTINCT email) FROM (
        SELECT DISTINCT customer_id, email FROM c
        WHERE customer_id <> '' AND regexp_full_match(email, '{EMAIL_RE}'))""")[0][0] == 0


def _check_simple_defects(out: Path, source: Source, date_column: str, prefix: str) -> None:
    d = manifest(out)["defects"]
    _, df = parse_csv(out / source.file_name, source)
    well_formed = df[~df["broken"] & (df["nf"] == len(source.column_names))]
    assert not df["broken"].any()
    assert {f"{prefix}malformed_wrong_field_count": int((df["nf"] != len(source.column_names)).sum()),
            f"{prefix}unparsable_date": int((~well_formed[date_column].str.match(ISO_TS)).sum())} == {
        k: v for k, v in d.items() if k.startswith(prefix)}


def _check_products_defects(out: Path) -> None:
    d = manifest(out)["defects"]
    got = duckdb.sql(f"""SELECT count(*) FILTER (WHERE price < 0), count(*) FILTER (WHERE cost < 0),
        count(*) FILTER (WHERE product_id IS NULL OR product_id = '')
        FROM read_parquet('{out / PRODUCTS.file_name}')""").fetchall()[0]
    assert {"products_negative_price": got[0], "products_negative_cost": got[1],
            "products_blank_product_id": got[2]} == {k: v for k, v in d.items() if k.startswith("products_")}


def _check_rows(out: Path) -> None:
    rows = manifest(out)["rows"]
    for source in (ORDERS, INVENTORY, WEB_SESSIONS, EMAIL_EVENTS):
        assert rows[source.file_name] == len(physical_lines(out / source.file_name)) - 1
    assert rows[CUSTOMERS.file_name] == len(physical_lines(out / CUSTOMERS.file_name))
    assert rows[PRODUCTS.file_name] == pq.ParquetFile(out / PRODUCTS.file_name).metadata.num_rows


@pytest.mark.parametrize("sample", ["small", "default"])
def test_manifest_matches_files(sample: str, request: pytest.FixtureRequest) -> None:
    out: Path = request.getfixturevalue(sample)
    con: duckdb.DuckDBPyConnection = request.getfixturevalue(f"{sample}_db")
    _check_rows(out)
    _check_orders_defects(out, con)
    _check_customer_defects(out)
    _check_products_defects(out)
    _check_simple_defects(out, INVENTORY, "last_updated", "inventory_")
    _check_simple_defects(out, WEB_SESSIONS, "started_at", "web_sessions_")
    _check_simple_defects(out, EMAIL_EVENTS, "event_at", "email_events_")
    m = manifest(out)
    assert (out / "manifest.json").read_text(encoding="utf-8") == json.dumps(m, sort_keys=True, indent=2,
                                                                             ensure_ascii=False) + "\n"
    if sample == "default":
        # Every kind occurs a few times (the 200-product catalogue only gets a couple of each).
        minimum = {k: 1 if k.startswith("products_") else 3 for k in m["defects"]}
        assert all(v >= minimum[k] for k, v in m["defects"].items()), m["defects"]


# --------------------------------------------------------------------------- realism on the default sample
def test_default_scale_and_size(default: Path, default_db: duckdb.DuckDBPyConnection) -> None:
    lines = manifest(default)["rows"][ORDERS.file_name]
    assert 23_000 <= lines <= 27_000
    assert sum(p.stat().st_size for p in default.iterdir()) < 5_000_000
    con = default_db
    assert sql(con, "SELECT count(DISTINCT category), count(DISTINCT product_id) FROM products "
                    "WHERE product_id <> ''")[0] == (8, 200)
    _, cust = read_customers(default / CUSTOMERS.file_name)
    assert set(cust["country"]) >= COUNTRIES


def test_default_calendar_effects(default_db: duckdb.DuckDBPyConnection) -> None:
    con = default_db
    con.execute("""CREATE OR REPLACE TABLE daily AS SELECT ts::DATE AS d, sum(quantity * unit_price) AS rev
        FROM clean_orders WHERE status = 'completed' GROUP BY 1""")
    for year in (2024, 2025):
        bf, nov_median = sql(con, f"""SELECT max(rev) FILTER (WHERE d = DATE '{black_friday(year)}'),
            median(rev) FROM daily WHERE year(d) = {year} AND month(d) = 11""")[0]
        assert bf > 2 * nov_median, year
        dec, jul = sql(con, f"""SELECT sum(rev) FILTER (WHERE month(d) = 12),
            sum(rev) FILTER (WHERE month(d) = 7)
            FROM daily WHERE year(d) = {year}""")[0]
        assert dec > jul, year
        # Christmas Day is far below the days just before.
        xmas, before = sql(con, f"""SELECT max(rev) FILTER (WHERE d = DATE '{year}-12-25'),
            avg(rev) FILTER (WHERE d BETWEEN DATE '{year}-12-10' AND DATE '{year}-12-20') FROM daily""")[0]
        assert xmas < 0.6 * before
    # Growth: 2025 busier than 2024 on the same months.
    y24, y25 = sql(con, """SELECT count(DISTINCT order_id) FILTER (WHERE year(ts) = 2024),
        count(DISTINCT order_id) FILTER (WHERE year(ts) = 2025) FROM clean_orders
        WHERE month(ts) BETWEEN 3 AND 10""")[0]
    assert 1.1 < y25 / y24 < 1.6
    # Evening peak, quiet nights.
    evening, night = sql(con, """SELECT count(*) FILTER (WHERE hour(ts) BETWEEN 19 AND 21),
        count(*) FILTER (WHERE hour(ts) BETWEEN 2 AND 4) FROM clean_orders""")[0]
    assert evening > 8 * night


def test_default_baskets_statuses_and_margins(default_db: duckdb.DuckDBPyConnection) -> None:
    con = default_db
    multi, guest = sql(con, """SELECT avg((n > 1)::INTEGER), avg((customer_id = '')::INTEGER) FROM
        (SELECT order_id, any_value(customer_id) AS customer_id, count(*) AS n
         FROM clean_orders GROUP BY 1)""")[0]
    assert multi > 0.25
    assert 0.05 <= guest <= 0.12
    status = dict(sql(con, "SELECT status, count(*) / sum(count(*)) OVER () FROM clean_orders GROUP BY 1"))
    assert 0.02 < status["cancelled"] < 0.07 and 0.04 < status["returned"] < 0.10
    by_cat = dict(sql(con, """SELECT p.category, avg((o.status = 'returned')::INTEGER) FROM clean_orders o
        JOIN products p USING (product_id) GROUP BY 1"""))
    assert max(by_cat, key=by_cat.get) == "Fashion"
    margins = dict(sql(con, """SELECT category, avg(1 - cost / price) FROM products
        WHERE product_id <> '' AND price > 0 AND cost > 0 GROUP BY 1"""))
    assert len(margins) == 8 and max(margins.values()) - min(margins.values()) > 0.25
    # Companion products: the strongest pairs co-occur far more often than chance.
    lift = sql(con, """WITH o AS (SELECT DISTINCT order_id, product_id FROM clean_orders),
        n AS (SELECT count(DISTINCT order_id) AS n FROM o),
        p AS (SELECT product_id, count(*) AS c FROM o GROUP BY 1),
        pair AS (SELECT a.product_id AS x, b.product_id AS y, count(*) AS c FROM o a JOIN o b
                 ON a.order_id = b.order_id AND a.product_id < b.product_id
                 GROUP BY 1, 2 HAVING count(*) >= 10)
        SELECT max(pair.c * n.n / (px.c * py.c)) FROM pair, n, p px, p py WHERE px.product_id = pair.x
          AND py.product_id = pair.y""")[0][0]
    assert lift > 5


def test_default_engagement_predicts_purchases(default: Path, default_db: duckdb.DuckDBPyConnection) -> None:
    """Within the same recency group, recent browsers buy more in the next 30 days (signal beyond RFM)."""
    _, web = parse_csv(default / WEB_SESSIONS.file_name, WEB_SESSIONS)
    _, email = parse_csv(default / EMAIL_EVENTS.file_name, EMAIL_EVENTS)
    con = default_db
    con.register("web_all", web[web["nf"] == 7])
    con.register("email_all", email[email["nf"] == 5])
    opened, sent = sql(con, """SELECT count(*) FILTER (WHERE event_type = 'opened'),
        count(*) FILTER (WHERE event_type = 'sent') FROM email_all""")[0]
    assert 0.12 < opened / sent < 0.35
    rows = sql(con, f"""WITH snaps AS (SELECT unnest(generate_series(TIMESTAMP '2024-06-01',
            TIMESTAMP '2025-11-01', INTERVAL 1 MONTH)) AS t),
        cust AS (SELECT DISTINCT customer_id, registration_date::DATE AS reg FROM cust_raw
                 WHERE customer_id <> ''),
        ords AS (SELECT DISTINCT customer_id, ts FROM clean_orders WHERE customer_id <> ''),
        visits AS (SELECT customer_id, try_strptime(started_at, '{TS_FMT}') AS ts FROM web_all
                   WHERE customer_id <> '' AND order_id = ''),
        f AS (SELECT s.t, c.customer_id,
            EXISTS (SELECT 1 FROM ords o WHERE o.customer_id = c.customer_id AND o.ts < s.t
                    AND o.ts >= s.t - INTERVAL 90 DAY) AS recent_buyer,
            EXISTS (SELECT 1 FROM visits v WHERE v.customer_id = c.customer_id AND v.ts < s.t
                    AND v.ts >= s.t - INTERVAL 14 DAY) AS visited,
            EXISTS (SELECT 1 FROM ords o WHERE o.customer_id = c.customer_id AND o.ts >= s.t
                    AND o.ts < s.t + INTERVAL 30 DAY) AS buys
            FROM snaps s JOIN cust c ON c.reg < s.t::DATE)
        SELECT recent_buyer, visited, avg(buys::INTEGER), count(*) FROM f GROUP BY 1, 2 ORDER BY 1, 2""")
    rate = {(r[0], r[1]): r[2] for r in rows}
    for recent in (False, True):
        assert rate[(recent, True)] > 1.5 * rate[(recent, False)], rows


def test_default_inventory_behaviour(default: Path) -> None:
    _, inv = parse_csv(default / INVENTORY.file_name, INVENTORY)
    con = duckdb.connect()
    con.register("inv", inv[(inv["nf"] == 4) & inv["last_updated"].str.match(ISO_TS)])
    stock = sql(con, f"""SELECT min(stock_quantity::INTEGER), avg((stock_quantity::INTEGER = 0)::INTEGER),
        count(DISTINCT dayofweek(strptime(last_updated, '{TS_FMT}'))), count(DISTINCT warehouse_id),
        count(*) - count(DISTINCT (product_id, warehouse_id, last_updated)) FROM inv""")[0]
    assert stock[0] == 0 and 0.001 < stock[1] < 0.15 and stock[2] == 1 and stock[3] == 3 and stock[4] == 0
    # Stock goes down and back up again (replenishment) for most products.
    restocked = sql(con, """SELECT avg((ups > 0)::INTEGER) FROM (SELECT product_id, warehouse_id,
        count(*) FILTER (WHERE s > prev) AS ups FROM (SELECT product_id, warehouse_id,
            stock_quantity::INTEGER AS s, lag(stock_quantity::INTEGER) OVER (
                PARTITION BY product_id, warehouse_id ORDER BY last_updated) AS prev
        FROM inv) GROUP BY 1, 2)""")[0][0]
    assert restocked > 0.8


# --------------------------------------------------------------------------- planted fraud-like orders
def test_fraud_orders_are_counted_and_are_valid_rows(default: Path, default_db: duckdb.DuckDBPyConnection) -> None:
    m = manifest(default)
    ids = m["fraud_order_ids"]
    assert ids == sorted(set(ids))
    assert m["stats"]["fraud_orders"] == len(ids)
    assert 0.001 <= len(ids) / m["stats"]["orders"] <= 0.01  # a few dozen among ~12k orders
    con = default_db
    con.register("fraud_ids", pd.DataFrame({"order_id": ids}))
    # Every physical line of a fraud order is one clean line: no defect, no copy, no malformed variant.
    per_order = sql(con, """SELECT f.order_id,
            (SELECT count(*) FROM raw_lines r WHERE contains(r.line, f.order_id)) AS physical,
            (SELECT count(*) FROM clean c WHERE c.order_id = f.order_id) AS clean,
            (SELECT count(DISTINCT line_number) FROM clean c WHERE c.order_id = f.order_id) AS numbered
        FROM fraud_ids f""")
    assert all(p == c == n > 0 for _, p, c, n in per_order), [r for r in per_order if not r[1] == r[2] == r[3] > 0]
    # Completed, by a known customer, of products staging keeps (positive price, cost not negative).
    invalid = sql(con, """SELECT count(*) FROM clean_orders o JOIN fraud_ids USING (order_id)
        WHERE o.status <> 'completed' OR o.customer_id = ''
           OR o.customer_id NOT IN (SELECT customer_id FROM cust_raw WHERE customer_id <> '')
           OR o.product_id NOT IN (SELECT product_id FROM products
                                   WHERE product_id <> '' AND price > 0 AND coalesce(cost, 0) >= 0)""")
    assert invalid[0][0] == 0


def test_fraud_orders_carry_at_least_two_fraud_traits(default: Path, default_db: duckdb.DuckDBPyConnection) -> None:
    con = default_db
    con.register("fraud_ids", pd.DataFrame({"order_id": manifest(default)["fraud_order_ids"]}))
    con.execute("""CREATE OR REPLACE TABLE priced AS SELECT o.*, p.price AS list_price,
            o.order_id IN (SELECT order_id FROM fraud_ids) AS fraud
        FROM clean_orders o JOIN products p USING (product_id) WHERE p.product_id <> '' AND p.price > 0""")
    # Ordinary orders never pay above the list price, and their biggest line sets the bar for "many units".
    above_list, max_units = sql(con, """SELECT count(*) FILTER (WHERE unit_price > list_price), max(quantity)
        FROM priced WHERE NOT fraud""")[0]
    assert above_list == 0
    traits = sql(con, f"""WITH first_orders AS (
            SELECT customer_id, arg_min(order_id, ts) AS first_order FROM clean_orders
            WHERE customer_id <> '' GROUP BY 1),
        reg AS (SELECT customer_id, min(registration_date::DATE) AS reg FROM cust_raw
                WHERE customer_id <> '' GROUP BY 1)
        SELECT p.order_id,
            bool_or(f.first_order = p.order_id AND p.ts::DATE - r.reg BETWEEN 0 AND 2) AS new_account,
            max(p.quantity) > {max_units} AS bulk,
            max(p.unit_price / p.list_price) >= 2 AS markup,
            bool_or(hour(p.ts) BETWEEN 1 AND 4) AS night
        FROM priced p LEFT JOIN first_orders f USING (customer_id) LEFT JOIN reg r USING (customer_id)
        WHERE p.fraud GROUP BY 1""")
    assert len(traits) == len(manifest(default)["fraud_order_ids"])
    assert all(sum(t[1:]) >= 2 for t in traits), [t for t in traits if sum(t[1:]) < 2]
    # Traits are mixed: each occurs on several orders, and not every order has them all.
    per_trait = [sum(t[k] for t in traits) for k in range(1, 5)]
    assert min(per_trait) >= 3, per_trait
    assert any(sum(t[1:]) < 4 for t in traits)


def test_subcent_rate_sells_a_share_of_lines_below_the_cent(small: Path, tmp_path: Path) -> None:
    """--subcent-rate: discounted prices with 3, 4 or 6 decimals on about that share of lines, at most
    6 decimals (the contract), a share of the product costs below the cent, and the rate in the manifest."""
    out = tmp_path / "subcent"
    generate(out, **{**SMALL, "subcent_rate": 0.4})
    _, orders = parse_csv(out / "orders.csv", ORDERS)
    prices = orders["unit_price"].dropna()
    prices = prices[prices.str.fullmatch(r"-?\d+\.\d+")]
    decimals = prices.str.split(".").str[1].str.len()
    assert decimals.max() == 6 and decimals.min() == 2
    assert 0.3 < (decimals > 2).mean() < 0.42  # a few sub-cent draws land on whole cents (k % of 100 cents)
    costs = pq.read_table(out / "products.parquet").column("cost").to_pylist()
    assert any(c is not None and c != c.quantize(Decimal("0.01")) for c in costs)
    assert manifest(out)["generator"]["subcent_rate"] == 0.4
    assert "subcent_rate" not in manifest(small)["generator"]  # without it, nothing changes
