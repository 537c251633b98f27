"""Global steps in DuckDB: ids in time order, defect injection, exact line formatting, final files."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from orchestration.contract import (
    CUSTOMERS,
    EMAIL_EVENT_TYPES,
    EMAIL_EVENTS,
    INVENTORY,
    ORDER_STATUSES,
    ORDERS,
    PRODUCTS,
    WEB_CHANNELS,
    WEB_DEVICES,
    WEB_SESSIONS,
    Source,
)

from .calendar import Calendar
from .catalog import CATEGORY_NAMES, Catalog
from .config import GeneratorConfig, Purpose
from .defects import (
    CUSTOMER_DEFECTS,
    OPTIONAL_CSV_SHARE,
    ORDER_DEFECTS,
    SIMPLE_CSV_KINDS,
    plan,
    product_defect_plan,
    split_counts,
)
from .geo import COUNTRIES
from .inventory import WAREHOUSES, simulate_inventory
from .writer import cents_to_decimal, copy_lines, count_lines, sql_str, write_parquet

log = logging.getLogger(__name__)


def _sql_list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(sql_str(v) for v in values) + "]"


def _width(n: int, minimum: int) -> int:
    return max(minimum, len(str(n)))


def _header(source: Source) -> str:
    return ",".join(source.column_names)


def stage(con: duckdb.DuckDBPyConnection, tmp: Path, cat: Catalog) -> None:
    for name in ("customers", "lines", "sessions", "emails"):
        files = sql_str(str(tmp / name / "*.parquet"))
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({files})")
    ids = pa.table({"idx": np.arange(cat.n, dtype=np.int32), "product_id": cat.product_id})
    _register(con, "products", ids)
    con.execute("""CREATE TABLE order_ids AS
        SELECT order_key, row_number() OVER (ORDER BY ts, order_key) AS order_no
        FROM (SELECT order_key, any_value(ts) AS ts FROM lines GROUP BY order_key)""")


def _register(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> None:
    con.register(f"{name}_arrow", table)
    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {name}_arrow")
    con.unregister(f"{name}_arrow")


# --------------------------------------------------------------------------- products
def export_products(cfg: GeneratorConfig, cat: Catalog, out: Path) -> dict[str, int]:
    pd_ = product_defect_plan(cfg, cat)
    price = cat.price_cents.copy()
    cost = cat.cost_cents.copy()
    price[pd_.negative_price] *= -1
    cost[pd_.negative_cost] *= -1
    cost_scale = 2
    if cfg.subcent_rate:
        # A share of the known costs below the cent (a landed cost such as 7.1234): in 1/10,000ths.
        rng = cfg.rng(Purpose.SUBCENT, 1)
        subcent = (rng.random(cat.n) < cfg.subcent_rate) & cat.cost_known
        cost = cost * 100 - np.where(subcent, rng.integers(1, 100, cat.n), 0)
        cost_scale = 4
    ids = cat.product_id.astype(object)
    # Blank ids: stray draft records copied from real products, appended at the end of the export.
    blank_src = pd_.blank_id_source
    rows = np.concatenate([np.arange(cat.n), np.sort(blank_src)])
    ids = np.concatenate([ids, np.full(blank_src.size, "", dtype=object)])
    table = pa.table({
        "product_id": pa.array(ids.astype(str), pa.string()),
        "name": pa.array(cat.name[rows], pa.string()),
        "category": pa.array(np.array(CATEGORY_NAMES)[cat.category[rows]], pa.string()),
        "brand": pa.array(cat.brand[rows], pa.string()),
        "price": cents_to_decimal(price[rows]),
        "cost": cents_to_decimal(cost[rows], cat.cost_known[rows], scale=cost_scale),
    })
    assert table.column_names == PRODUCTS.column_names
    write_parquet(table, out / PRODUCTS.file_name)
    return pd_.counts


# --------------------------------------------------------------------------- orders
def _plan_subcent_prices(con: duckdb.DuckDBPyConnection, cfg: GeneratorConfig, n: int) -> None:
    """Add ol.unit_micros: the price in millionths, whole cents except on `subcent_rate` of the lines.

    Those lines are sold at a further k % discount (k = 1..30: 3 or 4 decimals, 111.84 -> 100.656) or,
    one in ten, at two thirds of the price (6 decimals, 19.99 -> 13.326667), as shops' discount
    engines produce them. Nothing is drawn when the rate is 0, so such a folder stays byte-identical.
    """
    con.execute("ALTER TABLE ol ADD COLUMN unit_micros BIGINT")
    if not cfg.subcent_rate:
        con.execute("UPDATE ol SET unit_micros = unit_cents * 10000")
        return
    rng = cfg.rng(Purpose.SUBCENT)
    chosen = rng.random(n) < cfg.subcent_rate
    percent = rng.integers(1, 31, n)
    thirds = rng.random(n) < 0.1
    _register(con, "subcent", pa.table({"row": np.arange(n, dtype=np.int64), "chosen": chosen,
                                        "percent": percent, "thirds": thirds}))
    con.execute("""UPDATE ol SET unit_micros = CASE
            WHEN NOT s.chosen THEN ol.unit_cents * 10000
            WHEN s.thirds THEN round(ol.unit_cents * 10000 * 2 / 3)::BIGINT
            ELSE ol.unit_cents * (100 - s.percent) * 100 END
        FROM subcent s WHERE s.row = ol.row""")


def export_orders(con: duckdb.DuckDBPyConnection, cfg: GeneratorConfig,
                  out: Path) -> tuple[dict[str, int], dict[str, int], list[str]]:
    """Write orders.csv; return (defect counts, stats, sorted ids of the planted fraud-like orders)."""
    n_orders = con.execute("SELECT count(*) FROM order_ids").fetchall()[0][0]
    ow = _width(n_orders, 6)
    con.execute(f"""CREATE TABLE ol AS
        SELECT row_number() OVER (ORDER BY l.ts, o.order_no, l.line_number) - 1 AS row,
               printf('O%0{ow}d', o.order_no) AS order_id, l.line_number, l.customer_num, p.product_id,
               l.quantity, l.unit_cents, l.ts, {_sql_list(ORDER_STATUSES)}[l.status + 1] AS status, l.address, l.fraud
        FROM lines l JOIN order_ids o USING (order_key) JOIN products p ON p.idx = l.product""")
    n = con.execute("SELECT count(*) FROM ol").fetchall()[0][0]
    _plan_subcent_prices(con, cfg, n)
    flags = con.execute("SELECT customer_num > 0 AS k, fraud FROM ol ORDER BY row").fetchnumpy()
    counts = split_counts(n, cfg.defect_rate, ORDER_DEFECTS)
    dplan = plan(cfg.rng(Purpose.DEFECTS_ORDERS), n, counts, "orders_",
                 eligible={"orders_unknown_customer": flags["k"]}, protected=flags["fraud"])
    _register(con, "od", dplan.table())
    end_s = cfg.days * 86_400
    cw = _width(cfg.customers, 6)
    con.execute(f"""CREATE TABLE of AS SELECT ol.row, d.kind, coalesce(d.variant, 0) AS v, ol.address,
        CASE WHEN d.kind = 'blank_order_id' THEN ''
             WHEN d.kind = 'stray_whitespace' AND d.variant % 4 = 0 THEN ' ' || order_id
             ELSE order_id END AS order_id,
        line_number::VARCHAR AS line_number,
        CASE WHEN d.kind = 'unknown_customer' THEN printf('C%0{cw}d', {cfg.customers} + 1 + d.r % 100000)
             WHEN customer_num = 0 THEN NULL
             WHEN d.kind = 'stray_whitespace' AND d.variant % 4 = 2
                 THEN printf('C%0{cw}d', customer_num) || ' '
             ELSE printf('C%0{cw}d', customer_num) END AS customer_id,
        CASE WHEN d.kind = 'blank_product_id' THEN ''
             WHEN d.kind = 'unknown_product' THEN printf('P%04d', 1000 + d.r % 9000)
             WHEN d.kind = 'stray_whitespace' AND d.variant % 4 = 3 THEN product_id || '  '
             ELSE product_id END AS product_id,
        CASE WHEN d.kind = 'nonpositive_quantity' THEN (-(d.r % 3))::VARCHAR
             ELSE quantity::VARCHAR END AS quantity,
        money_micros(CASE WHEN d.kind = 'negative_price' THEN -unit_micros ELSE unit_micros END) AS unit_price,
        CASE WHEN d.kind = 'unparsable_date' THEN CASE d.variant % 4
                 WHEN 0 THEN 'not-a-date' WHEN 1 THEN strftime(ts_of(ts), '%d/%m/%Y %H:%M')
                 WHEN 2 THEN 'N/A' ELSE strftime(ts_of(ts), '%d %b %Y %Hh%M') END
             WHEN d.kind = 'impossible_date' THEN CASE d.variant % 4
                 WHEN 0 THEN strftime(ts_of(ts), '%Y-02-30T%H:%M:%S')
                 WHEN 1 THEN strftime(ts_of(ts), '%Y-13-%dT%H:%M:%S')
                 WHEN 2 THEN strftime(ts_of(ts), '%Y-%m-%dT25:%M:%S')
                 ELSE strftime(ts_of(ts), '%Y-04-31T%H:%M:%S') END
             WHEN d.kind = 'future_date' THEN iso({end_s} + (1827 + d.r % 1800) * 86400 + d.r % 86400)
             ELSE iso(ts) END AS order_date,
        CASE WHEN d.kind = 'stray_whitespace'
                  AND (d.variant % 4 = 1 OR (d.variant % 4 = 2 AND customer_num = 0))
             THEN ' ' || status ELSE status END AS status
        FROM ol LEFT JOIN od d USING (row)""")
    # The first eight fields; the address (last field) is where the malformed variants differ.
    head8 = " || ',' || ".join(["csvq(order_id)", "line_number", "csvq(customer_id)", "csvq(product_id)",
                                 "quantity", "unit_price", "csvq(order_date)", "csvq(status)"])
    sp = "strpos(address, ' ')"
    body = f"""
        SELECT row AS k, 0 AS k2, CASE
            WHEN kind = 'malformed_wrong_field_count' THEN CASE
                WHEN v % 3 = 2 AND contains(address, ',') AND NOT contains(address, '"')
                    THEN {head8} || ',' || address             -- address exported without quotes
                WHEN v % 3 = 1 THEN {head8} || ',' || csvq(address) || ',gift-wrap'  -- one field too many
                ELSE {head8} END                               -- address column missing
            WHEN kind = 'malformed_broken_quoting' THEN CASE
                WHEN v % 2 = 0 THEN {head8} || ',"' || address  -- unterminated quote
                ELSE {head8} || ',"' || left(address, {sp} - 1) || '"' || substr(address, {sp}) || '"' END
            ELSE {head8} || ',' || csvq(address) END AS line
        FROM of
        UNION ALL
        SELECT row, 1, {head8} || ',' || csvq(address) FROM of WHERE kind = 'exact_duplicate_lines'"""
    path = out / ORDERS.file_name
    copy_lines(con, _header(ORDERS), body, path)
    stats = con.execute("""SELECT count(DISTINCT order_id), count(*),
            count(*) FILTER (WHERE customer_num = 0),
            count(DISTINCT order_id) FILTER (WHERE customer_num = 0),
            count(*) FILTER (WHERE status = 'cancelled'), count(*) FILTER (WHERE status = 'returned'),
            count(DISTINCT order_id) FILTER (WHERE line_number > 1),
            count(DISTINCT order_id) FILTER (WHERE fraud)
        FROM ol""").fetchall()[0]
    names = ("orders", "order_lines", "guest_order_lines", "guest_orders", "cancelled_lines",
             "returned_lines", "multi_line_orders", "fraud_orders")
    fraud_ids = [r[0] for r in con.execute("SELECT DISTINCT order_id FROM ol WHERE fraud ORDER BY 1").fetchall()]
    log.info("orders.csv: %d clean lines, %d defects, %d fraud-like orders", n, sum(counts.values()),
             len(fraud_ids))
    return counts, dict(zip(names, stats, strict=True)), fraud_ids


# --------------------------------------------------------------------------- customers
def export_customers(con: duckdb.DuckDBPyConnection, cfg: GeneratorConfig, out: Path) -> dict[str, int]:
    cw = _width(cfg.customers, 6)
    con.execute(f"""CREATE TABLE cu AS
        SELECT customer_num - 1 AS row, customer_num, printf('C%0{cw}d', customer_num) AS customer_id, name,
               email_local || CASE WHEN rn > 1 THEN rn::VARCHAR ELSE '' END || '@' || email_domain AS email,
               city, country, loyalty_tier,
               strftime(DATE {sql_str(cfg.start.isoformat())} + registration_day::INTEGER, '%Y-%m-%d')
                   AS registration_date
        FROM (SELECT *, row_number() OVER (PARTITION BY email_local, email_domain ORDER BY customer_num) AS rn
              FROM customers)""")
    spellings = [(c.name, k, s) for c in COUNTRIES for k, s in enumerate(c.misspellings)]
    _register(con, "misspell", pa.table({"country": [x[0] for x in spellings], "k": [x[1] for x in spellings],
                                         "spelling": [x[2] for x in spellings]}))
    cities = [(c.name, i, x.name, len(c.cities)) for c in COUNTRIES for i, x in enumerate(c.cities)]
    _register(con, "cities", pa.table({"country": [x[0] for x in cities], "i": [x[1] for x in cities],
                                       "city": [x[2] for x in cities], "n": [x[3] for x in cities]}))
    counts = split_counts(cfg.customers, cfg.defect_rate, CUSTOMER_DEFECTS)
    cplan = plan(cfg.rng(Purpose.DEFECTS_CUSTOMERS), cfg.customers, counts, "customers_")
    _register(con, "cd", cplan.table())
    n_misspell = len(COUNTRIES[0].misspellings)
    gap = max(1, cfg.customers // 10)

    def obj(cid: str, name: str, email: str, city: str, country: str, tier: str) -> str:
        # json_object keeps the key order: the contract's column order.
        return (f"json_object('customer_id', {cid}, 'name', {name}, 'email', {email}, 'city', {city}, "
                f"'country', {country}, 'registration_date', registration_date, "
                f"'loyalty_tier', {tier})::VARCHAR")

    con.execute(f"""CREATE TABLE cf AS SELECT cu.*, d.kind, d.variant AS v, d.r,
        CASE WHEN d.kind = 'stray_whitespace' AND d.variant % 4 = 0 THEN ' ' || name
             WHEN d.kind = 'stray_whitespace' AND d.variant % 4 = 3 THEN '  ' || name || ' '
             ELSE name END AS name2,
        CASE WHEN d.kind = 'stray_whitespace' AND d.variant % 4 = 1 THEN email || ' '
             WHEN d.kind = 'malformed_email' THEN CASE d.variant % 3 WHEN 0 THEN replace(email, '@', '')
                  WHEN 1 THEN replace(email, '@', '@@') ELSE replace(email, '@', ' @') END
             ELSE email END AS email2,
        CASE WHEN d.kind = 'stray_whitespace' AND d.variant % 4 = 2 THEN cu.city || ' '
             ELSE cu.city END AS city2,
        CASE WHEN d.kind = 'inconsistent_country_spelling' THEN m.spelling ELSE cu.country END AS country2,
        alt.city AS other_city
        FROM cu LEFT JOIN cd d USING (row)
        LEFT JOIN misspell m ON m.country = cu.country AND m.k = d.r % {n_misspell}
        LEFT JOIN cities cur ON cur.country = cu.country AND cur.city = cu.city
        LEFT JOIN cities alt ON alt.country = cu.country
              AND alt.i = (cur.i + 1 + d.r % (cur.n - 1)) % cur.n""")
    new_tier = ("CASE loyalty_tier WHEN 'bronze' THEN 'silver' WHEN 'silver' THEN 'gold' "
                "WHEN 'gold' THEN 'platinum' WHEN 'platinum' THEN 'gold' ELSE 'bronze' END")
    moved = "CASE WHEN v % 2 = 0 THEN other_city ELSE city END"
    retiered = f"CASE WHEN v % 2 = 1 THEN {new_tier} ELSE loyalty_tier END"
    clean = obj("customer_id", "name", "email", "city", "country", "loyalty_tier")
    cut = f"greatest(8, (length({clean}) * (0.15 + 0.7 * (r % 1000) / 1000.0))::INTEGER)"
    body = f"""
        SELECT customer_num::DOUBLE AS k, customer_num AS k2,
               {obj('customer_id', 'name2', 'email2', 'city2', 'country2', 'loyalty_tier')} AS line FROM cf
        UNION ALL  -- exported again later with an update: a move or a tier change
        SELECT customer_num + 1 + r % {gap} + 0.25, customer_num,
               {obj('customer_id', 'name', 'email', moved, 'country', retiered)}
        FROM cf WHERE kind = 'exported_twice'
        UNION ALL  -- a record without its key
        SELECT customer_num + 0.3, customer_num,
               {obj("CASE WHEN v % 2 = 0 THEN '' END", 'name', 'email', 'city', 'country', 'loyalty_tier')}
        FROM cf WHERE kind = 'blank_customer_id'
        UNION ALL  -- the export died mid-record and restarted it on the next line
        SELECT customer_num - 0.5, customer_num, left({clean}, {cut})
        FROM cf WHERE kind = 'malformed_json'"""
    copy_lines(con, None, body, out / CUSTOMERS.file_name)
    log.info("customers.json: %d customers, %d defects", cfg.customers, sum(counts.values()))
    return counts


# --------------------------------------------------------------------------- simple CSVs
def _export_simple(con: duckdb.DuckDBPyConnection, cfg: GeneratorConfig, out: Path, source: Source,
                   table: str, fields: list[str], date_field: str, purpose: Purpose,
                   prefix: str) -> dict[str, int]:
    """Write a CSV whose defects are only wrong field counts and unparsable timestamps."""
    n = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    kinds = tuple(prefix + k for k in SIMPLE_CSV_KINDS)
    counts = split_counts(n, cfg.defect_rate, kinds, share=OPTIONAL_CSV_SHARE)
    _register(con, f"{table}_d", plan(cfg.rng(purpose), n, counts, prefix).table())
    def bad_date(f: str) -> str:
        european = f"strftime(strptime(t.{f}, '%Y-%m-%dT%H:%M:%S'), '%d/%m/%Y %H:%M')"
        return (f"CASE WHEN d.kind = 'unparsable_date' THEN CASE d.variant % 3 WHEN 0 THEN 'not-a-date' "
                f"WHEN 1 THEN '??/??/????' ELSE {european} END ELSE t.{f} END")

    cols = [bad_date(f) if f == date_field else f"t.{f}" for f in fields]
    full = " || ',' || ".join(f"csvq({c})" for c in cols)
    short = " || ',' || ".join(f"csvq({c})" for c in cols[:-1])
    body = f"""SELECT t.row AS k, 0 AS k2, CASE
            WHEN d.kind = 'malformed_wrong_field_count' AND d.variant % 2 = 0 THEN {short}
            WHEN d.kind = 'malformed_wrong_field_count' THEN {full} || ',' || csvq({cols[-2]})
            ELSE {full} END AS line
        FROM {table} t LEFT JOIN {table}_d d USING (row)"""
    copy_lines(con, _header(source), body, out / source.file_name)
    log.info("%s: %d rows, %d defects", source.file_name, n, sum(counts.values()))
    return counts


def export_web_sessions(con: duckdb.DuckDBPyConnection, cfg: GeneratorConfig, out: Path) -> dict[str, int]:
    n = con.execute("SELECT count(*) FROM sessions").fetchall()[0][0]
    ow = _width(con.execute("SELECT count(*) FROM order_ids").fetchall()[0][0], 6)
    con.execute(f"""CREATE TABLE ws AS
        SELECT row, printf('S%0{_width(n, 6)}d', row + 1) AS session_id,
               CASE WHEN customer_num > 0 THEN printf('C%0{_width(cfg.customers, 6)}d', customer_num) END
                   AS customer_id,
               iso(ts) AS started_at, {_sql_list(WEB_CHANNELS)}[channel + 1] AS channel,
               {_sql_list(WEB_DEVICES)}[device + 1] AS device, pages::VARCHAR AS pages_viewed,
               CASE WHEN order_no IS NOT NULL THEN printf('O%0{ow}d', order_no) END AS order_id
        FROM (SELECT row_number() OVER (ORDER BY s.ts, s.session_key) - 1 AS row, s.*, o.order_no
              FROM sessions s LEFT JOIN order_ids o ON o.order_key = s.order_key)""")
    return _export_simple(con, cfg, out, WEB_SESSIONS, "ws", WEB_SESSIONS.column_names, "started_at",
                          Purpose.DEFECTS_WEB, "web_sessions_")


def export_email_events(con: duckdb.DuckDBPyConnection, cfg: GeneratorConfig, out: Path) -> dict[str, int]:
    n = con.execute("SELECT count(*) FROM emails").fetchall()[0][0]
    con.execute(f"""CREATE TABLE ee AS
        SELECT row, printf('E%0{_width(n, 6)}d', row + 1) AS event_id,
               printf('C%0{_width(cfg.customers, 6)}d', customer_num) AS customer_id,
               printf('CMP%04d', campaign + 1) AS campaign_id,
               {_sql_list(EMAIL_EVENT_TYPES)}[kind + 1] AS event_type,
               iso(ts) AS event_at
        FROM (SELECT row_number() OVER (ORDER BY ts, customer_num, campaign, kind) - 1 AS row, *
              FROM emails)""")
    return _export_simple(con, cfg, out, EMAIL_EVENTS, "ee", EMAIL_EVENTS.column_names, "event_at",
                          Purpose.DEFECTS_EMAIL, "email_events_")


def export_inventory(con: duckdb.DuckDBPyConnection, cfg: GeneratorConfig, cal: Calendar, cat: Catalog,
                     out: Path) -> tuple[dict[str, int], dict[str, int]]:
    sales = con.execute("""SELECT product, (ts // 86400)::BIGINT AS day, sum(quantity)::BIGINT AS units
        FROM lines WHERE status = 0 GROUP BY ALL""").fetchnumpy()
    daily = np.zeros((cat.n, cfg.days))
    np.add.at(daily, (sales["product"].astype(np.int64), sales["day"].astype(np.int64)),
              sales["units"].astype(float))
    inv = simulate_inventory(cfg, cfg.start.weekday(), daily)
    _register(con, "inv_raw", pa.table({"product": inv.product.astype(np.int32), "warehouse": inv.warehouse,
                                        "stock": inv.stock, "ts": inv.ts}))
    con.execute(f"""CREATE TABLE inv AS
        SELECT row_number() OVER (ORDER BY i.ts, i.product, i.warehouse) - 1 AS row, p.product_id,
               {_sql_list(WAREHOUSES)}[i.warehouse + 1] AS warehouse_id, i.stock::VARCHAR AS stock_quantity,
               iso(i.ts) AS last_updated
        FROM inv_raw i JOIN products p ON p.idx = i.product""")
    counts = _export_simple(con, cfg, out, INVENTORY, "inv", INVENTORY.column_names, "last_updated",
                            Purpose.DEFECTS_INVENTORY, "inventory_")
    stats = {"inventory_snapshots": int(inv.stock.size),
             "inventory_stockout_rows": int((inv.stock == 0).sum())}
    return counts, stats


def file_rows(out: Path) -> dict[str, int]:
    """Data lines per file (header excluded for CSV); parquet rows from metadata."""
    import pyarrow.parquet as pq

    rows = {}
    for src in (ORDERS, INVENTORY, WEB_SESSIONS, EMAIL_EVENTS):
        rows[src.file_name] = count_lines(out / src.file_name) - 1
    rows[CUSTOMERS.file_name] = count_lines(out / CUSTOMERS.file_name)
    rows[PRODUCTS.file_name] = pq.ParquetFile(out / PRODUCTS.file_name).metadata.num_rows
    return rows


def engagement_stats(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    s = con.execute("""SELECT count(*), count(*) FILTER (WHERE customer_num = 0),
        count(*) FILTER (WHERE order_key >= 0) FROM sessions""").fetchall()[0]
    e = con.execute("""SELECT count(*) FILTER (WHERE kind = 0), count(*) FILTER (WHERE kind = 1),
        count(*) FILTER (WHERE kind = 2), count(DISTINCT campaign) FROM emails""").fetchall()[0]
    return {"web_sessions": s[0], "anonymous_sessions": s[1], "converting_sessions": s[2],
            "emails_sent": e[0], "emails_opened": e[1], "emails_clicked": e[2], "email_campaigns": e[3]}
