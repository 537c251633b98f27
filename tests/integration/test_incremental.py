"""Incremental builds give the same warehouse as a full build (DECISIONS.md "Incremental builds").

The committed sample is split into its history and its last day. Build 1 loads the history and runs `dbt build`, as a
Dagster run does; build 2 adds the last day's files (new orders, one corrected order line re-sent with a new
status, one re-sent as a guest line, one exact copy of an old line, a new customer whose order arrives that
day, a customer whose old orders referred to it before it was exported, a line moved to another day, unusable
lines, a product whose cost changed, new web sessions and e-mail events, one session re-sent) and runs `dbt
build` again, incrementally (the default of every Dagster run); build 3 loads every file into a fresh
warehouse and builds in full (a Dagster run tagged for a full refresh). Every table of staging, intermediate
and marts must be identical in builds 2 and 3, row for row; build 2 must really have been incremental (rows it
did not touch keep build 1's refreshed_at); its tests, the reconciliation included, pass with the test scope
limited to the refreshed rows; and the marts agree with the independent cross-check reference recomputed from
all the landing files.

Real DuckDB, real dbt, real Dagster `materialize` of the raw assets and the dbt step (no ML). The raw
assets load each landing file the contract names (`<stem>.<ext>`, `<stem>_<tag>.<ext>`) once, in
file-name order, appending its rows.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from orchestration.dbt.args import FULL_REFRESH_TAG
from tests.crosscheck import reference as ref_mod
from tests.integration import test_cross_check as cross_check
from tests.integration.dbt_builds import Build, dagster_build, run_dbt

pytestmark = pytest.mark.slow

COMPARED_SCHEMAS = ("staging", "intermediate", "marts")
# Columns that say when a row was computed, not what it holds: they differ between builds by design.
RUN_MARKERS = {"refreshed_at", "loaded_at"}
NEW_CUSTOMER_ID = "C900001"
NEW_ORDER_ID = "O900001"


# --------------------------------------------------------------------------------------------
# The raw layer: every landing file of a source, in name order, loaded once
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# The landing folders: the sample's history, then its last day
# --------------------------------------------------------------------------------------------


def _csv_line(fields: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(fields)
    return buffer.getvalue()


def _iso_day(value: str) -> str:
    """The YYYY-MM-DD day a timestamp starts with, or '' when it is not a real date."""
    try:
        return date.fromisoformat(value[:10]).isoformat() if len(value) >= 10 and value[4] == "-" else ""
    except ValueError:
        return ""


def _split_by_day(path: Path, date_column: str) -> tuple[list[str], list[str], list[str], str]:
    """(header, history lines, last-day lines, last day) of a CSV landing file, lines kept verbatim.

    The last day is the latest ISO date in `date_column` not after today (the sample plants a few future
    dates, which are quarantined); lines whose date cannot be read stay in history.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    header, body = lines[0], lines[1:]
    position = header.split(",").index(date_column)
    days = []
    for line in body:
        fields = next(csv.reader([line]), [])
        value = fields[position] if len(fields) > position else ""
        days.append(_iso_day(value))
    today = datetime.now().date().isoformat()
    last_day = max(day for day in days if day <= today)
    history = [line for line, day in zip(body, days, strict=True) if day != last_day]
    last = [line for line, day in zip(body, days, strict=True) if day == last_day]
    return [header], history, last, last_day


def _json_object(line: str) -> dict | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None  # a garbled line of the sample
    return value if isinstance(value, dict) else None


@dataclass(frozen=True)
class Scenario:
    history: Path  # the folder of build 1, to which build 2 adds the day's files
    day_files: dict[str, str]  # file name -> content, written for build 2
    products_day: tuple[str, list[dict[str, object]]] | None  # (file name, rows) of a products file for day N
    corrected_line: tuple[str, int, str]  # (order_id, line_number, new status)
    known_later_customer: str  # a customer whose old orders arrived before its record
    changed_product: str  # a product whose cost changes on day N
    order_day: str  # day N
    late_file: str  # a late file that sorts before the history's last orders file


def make_scenario(sample: Path, root: Path) -> Scenario:
    history = root / "landing"
    history.mkdir()
    for name in ("inventory.csv", "products.parquet"):
        shutil.copy2(sample / name, history / name)

    header, orders_history, orders_day, order_day = _split_by_day(sample / "orders.csv", "order_date")
    columns = header[0].split(",")
    status_at, customer_at = columns.index("status"), columns.index("customer_id")
    # Lines the reference finds clean (completed, with a customer), by their text.
    lines = (sample / "orders.csv").read_text(encoding="utf-8").splitlines()
    reference_lines = ref_mod.read_order_lines(sample / "orders.csv", datetime.now())
    clean_text = {lines[n - 1] for n, status, customer in zip(
        reference_lines["file_line"], reference_lines["status"], reference_lines["source_customer_id"], strict=True)
        if status == "completed" and isinstance(customer, str)}
    clean = [next(csv.reader([line])) for line in orders_history if line in clean_text]
    clean_day = [next(csv.reader([line])) for line in orders_day if line in clean_text]
    raw_lines_per_order: dict[str, int] = {}
    for line in lines[1:]:
        order_id = line.split(",", 1)[0]
        raw_lines_per_order[order_id] = raw_lines_per_order.get(order_id, 0) + 1

    # A corrected line: an old completed line re-sent with a new status.
    corrected = list(clean[100])
    corrected[status_at] = "returned"
    # A line re-sent with a corrected date: the day it left must be computed again too.
    moved = list(clean[150])
    moved[columns.index("order_date")] = order_day + moved[columns.index("order_date")][10:]
    # An old single-line order re-sent as a guest line: its customer x order row must disappear.
    resent_as_guest = next(f for f in clean[200:] if raw_lines_per_order[f[0]] == 1)
    guest = list(resent_as_guest)
    guest[customer_at] = ""
    # An exact copy of an old line: removed as a duplicate, changes nothing.
    copy = orders_history[300]

    # A customer whose orders are in the history but whose record only arrives on day N.
    customers = (sample / "customers.json").read_text(encoding="utf-8").splitlines()
    valid_customers = ref_mod.read_customers(sample / "customers.json", datetime.now().date())
    records = [_json_object(line) for line in customers]
    ids = [r.get("customer_id") if isinstance(r, dict) else None for r in records]
    history_buyers = {f[customer_at] for f in clean} - {corrected[customer_at], resent_as_guest[customer_at]}
    late_index = next(i for i, customer_id in enumerate(ids)
                      if customer_id in history_buyers and customer_id in valid_customers
                      and ids.count(customer_id) == 1)
    late_customer = records[late_index]
    customers_history = [line for i, line in enumerate(customers) if i != late_index]
    # A new customer, registered on day N, with a new order that day.
    new_customer = {**late_customer, "customer_id": NEW_CUSTOMER_ID, "name": "Nouvelle Cliente",
                    "email": "nouvelle.cliente@example.com", "registration_date": order_day}
    # Lines the day's file gets wrong (no product): quarantined at line numbers the history's
    # quarantined lines have too, so the quarantine must tell rows apart by file.
    unusable = []
    for n in range(150):
        fields = list(clean_day[0])
        fields[0], fields[1], fields[3] = f"O8{n:05d}", "1", ""
        unusable.append(_csv_line(fields))
    new_order = []
    for number, product in ((1, clean_day[0][3]), (2, clean[0][3])):
        fields = list(clean_day[0])
        fields[0], fields[1], fields[2], fields[3] = NEW_ORDER_ID, str(number), NEW_CUSTOMER_ID, product
        new_order.append(_csv_line(fields))

    # The history's last day came as a file of its own, with one line the quarantine keeps (a negative
    # price). A late file for the day before, delivered with day N, holds an exact copy of that line:
    # it sorts first, so its copy is the one kept and the later file's row leaves the quarantine.
    previous_day = max(day for day in (_iso_day(next(csv.reader([line]))[columns.index("order_date")])
                                       for line in orders_history) if day < order_day)
    planted = list(clean_day[0])
    planted[0], planted[columns.index("unit_price")] = "O700001", "-5.00"
    planted[columns.index("order_date")] = previous_day + planted[columns.index("order_date")][10:]
    on_previous_day = [line for line in orders_history if line.split(",")[columns.index("order_date")][:10]
                       == previous_day]
    older = [line for line in orders_history if line not in set(on_previous_day)]
    (history / "orders.csv").write_text("\n".join(header + older) + "\n", encoding="utf-8")
    (history / f"orders_{previous_day}.csv").write_text(
        "\n".join(header + on_previous_day + [_csv_line(planted)]) + "\n", encoding="utf-8")
    late_file = f"orders_{date.fromisoformat(previous_day).replace(day=1).isoformat()}.csv"
    (history / "customers.json").write_text("\n".join(customers_history) + "\n", encoding="utf-8")
    day_files = {
        late_file: "\n".join([*header, _csv_line(planted)]) + "\n",
        f"orders_{order_day}.csv": "\n".join(
            header + unusable + orders_day + new_order + [_csv_line(corrected), _csv_line(moved), _csv_line(guest),
                                                         copy]) + "\n",
        f"customers_{order_day}.json": "\n".join(
            json.dumps(r, ensure_ascii=False) for r in (late_customer, new_customer)) + "\n",
    }
    for name, column in (("web_sessions.csv", "started_at"), ("email_events.csv", "event_at")):
        head, old, new, day = _split_by_day(sample / name, column)
        stem = name.removesuffix(".csv")
        if stem == "web_sessions":
            resent = next(csv.reader([old[-1]]))
            resent[head[0].split(",").index("pages_viewed")] = "99"  # a session re-sent, corrected
            new = [*new, _csv_line(resent)]
        (history / name).write_text("\n".join(head + old) + "\n", encoding="utf-8")
        day_files[f"{stem}_{day}.csv"] = "\n".join(head + new) + "\n"

    # A products file for day N: one product's cost changed (its lines' cost and margin follow).
    products = pq.read_table(sample / "products.parquet")
    rows = products.to_pylist()
    changed = next(r for r in rows if r["cost"] is not None and r["product_id"] == clean[0][3])
    changed = {**changed, "cost": Decimal(changed["cost"]) + Decimal("1.00")}
    products_day = (f"products_{order_day}.parquet", [changed])
    return Scenario(
        history=history, day_files=day_files, products_day=products_day,
        corrected_line=(corrected[0], int(corrected[1]), "returned"),
        known_later_customer=str(late_customer["customer_id"]), changed_product=str(changed["product_id"]),
        order_day=order_day, late_file=late_file,
    )


def add_day(scenario: Scenario, folder: Path, sample: Path) -> None:
    for name, content in scenario.day_files.items():
        (folder / name).write_text(content, encoding="utf-8")
    if scenario.products_day:
        name, rows = scenario.products_day
        schema = pq.read_schema(sample / "products.parquet")
        import pyarrow as pa

        pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / name)


# --------------------------------------------------------------------------------------------
# Builds
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Builds:
    incremental: Build  # build 2
    full: Build  # build 3
    history: Build  # build 1
    scenario: Scenario
    landing: Path
    history_marker: datetime  # build 1's refreshed_at


@dataclass(frozen=True)
class History:
    scenario: Scenario
    build: Build  # build 1
    marker: datetime  # its refreshed_at


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> History:
    """Build 1: the sample's history through the raw assets and the dbt step, in Dagster (the first run of a
    warehouse, so dbt's unit tests run too). `make test-fast` stops here."""
    root = tmp_path_factory.mktemp("incremental")
    scenario = make_scenario(sample_dir, root)
    build = dagster_build(scenario.history, root / "incremental" / "comptoir.duckdb")
    with duckdb.connect(str(build.database), read_only=True) as con:
        marker = con.execute("select max(refreshed_at) from marts.fct_order_lines").fetchone()[0]
    return History(scenario, build, marker)


@pytest.fixture(scope="module")
def builds(history: History, sample_dir: Path) -> Iterator[Builds]:
    """Build 2: the last day added, built as every Dagster run builds (incrementally); build 3: every file loaded
    into a fresh warehouse and built by a Dagster run tagged for a full refresh."""
    scenario = history.scenario
    add_day(scenario, scenario.history, sample_dir)
    incremental = dagster_build(scenario.history, history.build.database)
    fresh = history.build.database.parent.parent / "full" / "comptoir.duckdb"
    full = dagster_build(scenario.history, fresh, tags={FULL_REFRESH_TAG: "true"})
    print(f"\nDagster raw + dbt: history {history.build.seconds:.1f}s, incremental {incremental.seconds:.1f}s, "
          f"full {full.seconds:.1f}s")
    yield Builds(incremental=incremental, full=full, history=history.build, scenario=scenario,
                 landing=scenario.history, history_marker=history.marker)


# --------------------------------------------------------------------------------------------
# The incremental warehouse equals the full one
# --------------------------------------------------------------------------------------------


def _tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    return con.execute(f"""
        select table_schema, table_name from information_schema.tables
        where table_schema in {COMPARED_SCHEMAS} and table_type = 'BASE TABLE'
        order by 1, 2""").fetchall()


def test_every_table_equals_the_full_build_row_for_row(builds: Builds) -> None:
    with duckdb.connect(str(builds.full.database), read_only=True) as full:
        tables = _tables(full)
    assert len(tables) > 20
    with duckdb.connect(str(builds.incremental.database), read_only=True) as con:
        assert _tables(con) == tables
        con.execute(f"attach '{builds.full.database}' as full_build (read_only)")
        differences = []
        for schema, table in tables:
            columns = [c for (c,) in con.execute(
                "select column_name from information_schema.columns where table_catalog = 'full_build' "
                "and table_schema = ? and table_name = ? order by ordinal_position", [schema, table]).fetchall()]
            incremental_columns = [c for (c,) in con.execute(
                "select column_name from information_schema.columns where table_catalog <> 'full_build' "
                "and table_schema = ? and table_name = ? order by ordinal_position", [schema, table]).fetchall()]
            assert incremental_columns == columns, f"{schema}.{table}: columns differ"
            compared = ", ".join(f'"{c}"' for c in columns if c not in RUN_MARKERS)
            # Multisets: EXCEPT ALL both ways keeps duplicates apart.
            only_incremental, only_full = con.execute(f"""
                select
                    (select count(*) from (select {compared} from {schema}.{table}
                        except all select {compared} from full_build.{schema}.{table})),
                    (select count(*) from (select {compared} from full_build.{schema}.{table}
                        except all select {compared} from {schema}.{table}))""").fetchone()
            if only_incremental or only_full:
                differences.append(f"{schema}.{table}: {only_incremental} rows only in the incremental build, "
                                   f"{only_full} only in the full build")
        assert not differences, "\n".join(differences)


def test_the_second_build_was_incremental(builds: Builds) -> None:
    """Rows the day did not touch keep build 1's refreshed_at; the day's rows carry build 2's."""
    with duckdb.connect(str(builds.incremental.database), read_only=True) as con:
        for table in ("staging.base_shop__orders", "staging.base_shop__web_sessions",
                      "staging.base_shop__email_events", "staging.base_shop__customers",
                      "marts.fct_order_lines", "marts.fct_orders", "intermediate.int_customer_orders",
                      "marts.mart_daily_sales"):
            kept, refreshed, total = con.execute(f"""
                select count(*) filter (where refreshed_at = ?), count(*) filter (where refreshed_at > ?), count(*)
                from {table}""", [builds.history_marker, builds.history_marker]).fetchone()
            assert kept > 0 and refreshed > 0, f"{table}: {kept} rows kept, {refreshed} refreshed"
            assert kept + refreshed == total, table
            assert refreshed < total / 4, f"{table}: {refreshed} of {total} rows refreshed by one day"
        # The serving marts are rebuilt by order day: the days of the day's lines, of the lines it corrected or moved,
        # of the late customer's lines and of the product whose cost changed; every other day keeps its rows.
        for table in ("marts.mart_serving_sales_daily", "marts.mart_serving_product_sales_daily",
                      "marts.mart_serving_sale_orders"):
            kept, refreshed, total, mixed = con.execute(f"""
                select count(*) filter (where kept), count(*) filter (where refreshed), count(*),
                    count(*) filter (where kept and refreshed)
                from (select order_date, bool_or(refreshed_at = ?) as kept, bool_or(refreshed_at > ?) as refreshed
                      from {table} group by order_date)""", [builds.history_marker, builds.history_marker]).fetchone()
            assert kept > 0 and refreshed > 0 and mixed == 0, f"{table}: {kept} days kept, {refreshed} refreshed"
            assert refreshed < total / 4, f"{table}: {refreshed} of {total} days refreshed by one day"
        # The distinct counts recompute every day from the first touched one on (a day's previous days depend on
        # the days before it) and keep the days before it. (Here the late customer's lines reach back to the first
        # days, so nearly all are recomputed; the dbt unit test on the model covers a run from a later day.)
        first_touched = con.execute("select min(order_date) from marts.mart_serving_sale_orders where refreshed_at > ?",
                                    [builds.history_marker]).fetchone()[0]
        days = con.execute("""
            select order_date, bool_and(refreshed_at = ?), bool_and(refreshed_at > ?)
            from marts.mart_serving_distinct_counts group by order_date order by order_date""",
            [builds.history_marker, builds.history_marker]).fetchall()
        assert first_touched is not None and days
        assert all(kept if day < first_touched else refreshed for day, kept, refreshed in days)
        # The quarantine keeps its rows of untouched keys (inventory's, a table rebuilt every run, are all new).
        kept, refreshed = con.execute("""
            select count(*) filter (where refreshed_at = ? and source = 'orders'),
                   count(*) filter (where refreshed_at > ?)
            from staging.dq_quarantine""", [builds.history_marker, builds.history_marker]).fetchone()
        assert kept > 100 and refreshed >= 150, (kept, refreshed)


def test_the_quarantine_tells_rows_of_different_files_apart(builds: Builds) -> None:
    with duckdb.connect(str(builds.incremental.database), read_only=True) as con:
        shared = con.execute("""select count(*) from (select source_line from staging.dq_quarantine
                                where source = 'orders' group by source_line
                                having count(distinct source_file) > 1)""").fetchone()[0]
        rules = dict(con.execute("""select source_file, count(*) from staging.dq_quarantine
                                    where source = 'orders' and rule = 'blank_product_id' group by 1""").fetchall())
    assert shared > 0, "no line number is quarantined in two files: the scenario does not test the key"
    assert rules[f"orders_{builds.scenario.order_day}.csv"] >= 150


def test_a_late_file_that_sorts_first_takes_over_an_old_quarantined_line(builds: Builds) -> None:
    with duckdb.connect(str(builds.incremental.database), read_only=True) as con:
        rows = con.execute("""select source_file, dq_rule, removed_as from staging.base_shop__orders
                              where order_id = 'O700001' order by source_file""").fetchall()
        quarantined = con.execute("select source_file, rule from staging.dq_quarantine "
                                  "where natural_key = 'O700001/1'").fetchall()
    later = next(name for name in sorted(builds.scenario.day_files) if name > builds.scenario.late_file)
    assert builds.scenario.late_file < later
    assert rows[0] == (builds.scenario.late_file, "negative_price", None)
    assert rows[1][1:] == (None, "exact_duplicate") and len(rows) == 2
    assert quarantined == [(builds.scenario.late_file, "negative_price")]


def test_late_and_corrected_rows_update_in_place(builds: Builds) -> None:
    order_id, line_number, status = builds.scenario.corrected_line
    with duckdb.connect(str(builds.incremental.database), read_only=True) as con:
        assert con.execute("select status from marts.fct_order_lines where order_id = ? and line_number = ?",
                           [order_id, line_number]).fetchall() == [(status,)]
        superseded = con.execute("""select count(*) from staging.base_shop__orders
                                    where order_id = ? and line_number = ? and removed_as = 'superseded'""",
                                 [order_id, line_number]).fetchone()[0]
        assert superseded == 1
        unknown = con.execute("select count(*) filter (where is_unknown_customer), count(*) from marts.fct_order_lines "
                              "where source_customer_id = ?", [builds.scenario.known_later_customer]).fetchone()
        assert unknown[0] == 0 and unknown[1] > 0, unknown
        assert con.execute("select count(*) from marts.dim_customers where customer_id = ?",
                           [ref_mod.UNKNOWN_MEMBER]).fetchone()[0] == 1
        assert con.execute("select count(*) from marts.fct_orders where customer_id = ?",
                           [NEW_CUSTOMER_ID]).fetchone()[0] == 1


def test_the_incremental_run_tested_only_the_refreshed_rows(builds: Builds) -> None:
    """The tests that passed in build 1 read only the rows refreshed since (their SQL filters on refreshed_at)."""
    results = builds.incremental.run_results["results"]
    tests = [r for r in results if r["unique_id"].startswith("test.")]
    assert tests and all(r["status"] == "pass" for r in tests)
    reconcile = [r for r in tests if r["unique_id"].split(".")[2] == "reconcile_sources"]
    assert [r["status"] for r in reconcile] == ["pass"]
    manifest = json.loads((builds.incremental.target / "manifest.json").read_text())
    with_scope = {Path(node["path"]).name for node in manifest["nodes"].values()
                  if node["resource_type"] == "test" and str(node["config"].get("where")).startswith("__refreshed_")}
    assert len(with_scope) > 20 and "unique_fct_order_lines_order_line_id.sql" in with_scope
    compiled = list((builds.incremental.target / "compiled" / "comptoir" / "models").rglob("*.sql"))
    assert {p.name for p in compiled if _scoped(p.read_text())} == with_scope
    full_compiled = list((builds.full.target / "compiled" / "comptoir" / "models").rglob("*.sql"))
    assert len(full_compiled) > 100 and not [p.name for p in full_compiled if _scoped(p.read_text())]


def _scoped(sql: str) -> bool:
    """The compiled test reads only the refreshed rows, or the rows sharing a key with one."""
    return "scoped_rows where refreshed_at > cast(" in sql or "refreshed_rows.refreshed_at > cast(" in sql


def test_a_removed_file_rebuilds_what_reads_its_source(builds: Builds, tmp_path: Path) -> None:
    """raw.load_log says a file was removed: the incremental models of that source rebuild in full."""
    copy = tmp_path / "comptoir.duckdb"
    shutil.copyfile(builds.incremental.database, copy)
    removed = next(name for name in builds.scenario.day_files if name.startswith("web_sessions_"))
    with duckdb.connect(str(copy)) as con:
        before = dict(con.execute("select session_id, removed_as from staging.base_shop__web_sessions "
                                  "where source_file <> ?", [removed]).fetchall())
        con.execute("delete from raw.web_sessions where _source_file = ?", [removed])
        con.execute("insert into raw.load_log values (now()::timestamp, 'web_sessions', ?, 'removed', 0, 0)",
                    [removed])
        (raw_rows,) = con.execute("select count(*) from raw.web_sessions").fetchone()
    run_dbt(copy, tmp_path / "target", select="base_shop__web_sessions base_shop__email_events",
            parsed=builds.incremental.target)
    with duckdb.connect(str(copy), read_only=True) as con:
        rows, from_removed, runs = con.execute(
            "select count(*), count(*) filter (where source_file = ?), count(distinct refreshed_at) "
            "from staging.base_shop__web_sessions", [removed]).fetchone()
        after = dict(con.execute("select session_id, removed_as from staging.base_shop__web_sessions").fetchall())
        (events_kept,) = con.execute("select count(*) from staging.base_shop__email_events where refreshed_at = ?",
                                     [builds.history_marker]).fetchone()
    assert (rows, from_removed, runs) == (raw_rows, 0, 1), "web sessions rebuilt in full from what raw holds"
    assert [s for s, kind in before.items() if kind == "superseded" and after[s] is None], \
        "the session the removed file had superseded is the current one again"
    assert events_kept > 0, "e-mail events, whose history was not rewritten, stayed incremental"


# --------------------------------------------------------------------------------------------
# The cross-check holds after the incremental build
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def incremental_con(builds: Builds) -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect(str(builds.incremental.database), read_only=True) as con:
        yield con


@pytest.fixture(scope="module")
def reference(builds: Builds) -> ref_mod.Reference:
    return ref_mod.build_reference(builds.landing)


@pytest.mark.parametrize("check", [
    cross_check.test_clean_order_lines_match_fct_order_lines,
    cross_check.test_kpis_match_reference,
    cross_check.test_fact_tables_match_reference_totals,
    cross_check.test_daily_sales_match_reference,
    cross_check.test_customer_rfm_match_reference,
    cross_check.test_cohort_retention_monthly_match_reference,
], ids=lambda check: check.__name__.removeprefix("test_"))
def test_cross_check_after_the_incremental_build(check, incremental_con, reference) -> None:
    check(incremental_con, reference)


# --------------------------------------------------------------------------------------------
# Dagster: the default run is incremental, a tag makes it a full refresh
# --------------------------------------------------------------------------------------------


def _kinds(build: Build) -> set[str]:
    return {result["unique_id"].split(".")[0] for result in build.run_results["results"]}


def _took_incremental_branch(build: Build) -> bool:
    """The compiled fct_order_lines read only the new lines (its incremental branch), or the table whole."""
    compiled = next((build.target / "compiled").rglob("fct_order_lines.sql")).read_text()
    return "where order_line_id in (" in compiled


def test_the_first_dagster_run_builds_every_model_and_runs_every_test(history: History) -> None:
    """The sample's history through Dagster's raw assets and dbt step: every model, data test and dbt unit test."""
    assert {"model", "test", "unit_test"} <= _kinds(history.build)
    assert not _took_incremental_branch(history.build)
    statuses = {result["status"] for result in history.build.run_results["results"]}
    assert statuses <= {"pass", "success", "no-op"}, statuses


def test_dagster_runs_incrementally_and_fully_refreshes_on_the_tag(builds: Builds) -> None:
    # The default run is incremental; the unit tests passed on this project already, so they are not run again.
    assert _took_incremental_branch(builds.incremental) and "unit_test" not in _kinds(builds.incremental)
    assert not builds.incremental.run_args().get("full_refresh")
    # The tag reaches dbt as --full-refresh: every model built whole, the unit tests run again.
    assert builds.full.run_args().get("full_refresh") is True
    assert not _took_incremental_branch(builds.full) and "unit_test" in _kinds(builds.full)
