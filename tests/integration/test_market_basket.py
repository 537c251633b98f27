"""mart_market_basket equals a brute-force recomputation (every pair of every basket) from the raw files.

The mart prunes products below the support threshold before pairing (DECISIONS.md: Market basket);
the reference in tests/crosscheck/reference.py does no pruning, so any row the pruning lost or
changed shows up here. Built twice with real raw loading and a real `dbt build` of the mart and
what is upstream of it (with their tests and the mart's unit tests): on the committed sample, and
on a synthetic landing folder of big baskets with a long tail of rare products.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from orchestration.dbt.args import build_args
from orchestration.dbt.project import DBT_PROJECT_DIR, dbt_executable
from orchestration.raw_load import load_all
from tests.crosscheck import reference as ref_mod

pytestmark = pytest.mark.slow

LOADED_AT = datetime(2026, 1, 1, 12, 0, 0)
MIN_PAIR_COUNT = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))["vars"][
    "basket_min_pair_count"
]
KEYS = ["product_a_id", "product_b_id"]
VALUES = ["pair_orders", "orders_with_a", "orders_with_b", "total_orders",
          "support", "confidence_a_to_b", "confidence_b_to_a", "lift"]


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def write_heavy_basket_landing(
    folder: Path,
    *,
    orders: int,
    head_products: int,
    tail_products: int = 0,
    tail_share: float = 0.0,
    min_lines: int = 20,
    max_lines: int = 40,
) -> Path:
    """A landing folder (orders.csv, customers.json, products.parquet) of big baskets, written by DuckDB.

    Each order has min_lines..max_lines lines. A line's product is drawn uniformly from the
    `head_products` popular products or, with probability `tail_share`, from `tail_products` rare
    ones, and the line after a rare product is its companion popular product (so rare products
    form pairs); draws repeat within an order now and then (a product counts once per order). About 1 line
    in 200 names a product missing from the catalogue, 1 order in 25 is cancelled, 1 line in 40 is
    returned, a quarter of the orders are guests. Deterministic: every draw is a hash of (order, line).
    """
    folder.mkdir(parents=True, exist_ok=True)
    tail_per_million, tail = round(tail_share * 1_000_000), max(tail_products, 1)
    with duckdb.connect() as con:
        con.execute(f"""copy (
            select
                'P' || lpad(cast(i as varchar), 6, '0') as product_id,
                'Product ' || i as name,
                'Category ' || i % 12 as category,
                cast(null as varchar) as brand,
                cast(9.99 as decimal(18, 2)) as price,
                cast(4.00 as decimal(18, 2)) as cost
            from range({head_products + tail_products}) as t (i)
        ) to {_literal(folder / "products.parquet")} (format parquet)""")
        con.execute(f"""copy (
            select
                'C' || i as customer_id, 'Customer ' || i as name, null as email, 'Paris' as city,
                'France' as country, '2023-01-01' as registration_date, 'gold' as loyalty_tier
            from range(500) as t (i)
        ) to {_literal(folder / "customers.json")} (format json)""")
        con.execute(f"""copy (
            with baskets as (
                select o, cast({min_lines} + hash(o, 'size') % {max_lines - min_lines + 1} as bigint) as size
                from range({orders}) as t (o)
            ),
            lines as (
                select o, unnest(range(1, size + 1)) as l from baskets
            )
            select
                'O' || lpad(cast(o as varchar), 7, '0') as order_id,
                l as line_number,
                case when hash(o, 'guest') % 4 <> 0 then 'C' || hash(o, 'customer') % 500 end as customer_id,
                case
                    when hash(o, l, 'unknown') % 200 = 0 then 'X' || hash(o, l, 'x') % 40
                    else 'P' || lpad(cast(
                        case
                            when hash(o, l, 'tail') % 1000000 < {tail_per_million}
                                then {head_products} + hash(o, l, 'p') % {tail}
                            -- the line after a rare product is often its companion (the same popular product)
                            when l > 1 and hash(o, l - 1, 'tail') % 1000000 < {tail_per_million}
                                then hash(o, l - 1, 'p') % {tail} % {head_products}
                            else hash(o, l, 'p') % {head_products}
                        end as varchar), 6, '0')
                end as product_id,
                1 + hash(o, l, 'q') % 3 as quantity,
                '9.99' as unit_price,
                strftime(timestamp '2024-01-01 09:00:00' + to_minutes(cast(o * 997 % 1000000 as bigint)),
                         '%Y-%m-%dT%H:%M:%S') as order_date,
                case
                    when hash(o, 'status') % 25 = 0 then 'cancelled'
                    when hash(o, l, 'status') % 40 = 0 then 'returned'
                    else 'completed'
                end as status,
                null as shipping_address
            from lines
            order by o, l
        ) to {_literal(folder / "orders.csv")} (header, delimiter ',')""")
    return folder


def build_basket_mart(landing: Path, home: Path) -> Path:
    """Load `landing` into a fresh warehouse and `dbt build` the mart and everything upstream; the warehouse."""
    home.mkdir(parents=True, exist_ok=True)
    database = home / "comptoir.duckdb"
    with duckdb.connect(str(database)) as con:
        load_all(con, landing, LOADED_AT)
    env = {**os.environ, "COMPTOIR_DUCKDB_PATH": str(database), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    target = home / "target"
    completed = subprocess.run(
        # fct_orders: a test of the mart reads it. Cautious: only tests whose every model is built.
        [str(dbt_executable()), *build_args(select=["+mart_market_basket", "+fct_orders"]),
         "--indirect-selection", "cautious",
         "--profiles-dir", ".", "--target-path", str(target), "--log-path", str(target / "logs")],
        cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, timeout=1800,
    )
    assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-2000:]
    return database


@dataclass(frozen=True)
class Built:
    mart: pd.DataFrame
    reference: pd.DataFrame
    ref: ref_mod.Reference


def _built(landing: Path, home: Path) -> Built:
    database = build_basket_mart(landing, home)
    with duckdb.connect(str(database), read_only=True) as con:
        mart = con.sql(f"select {', '.join(KEYS + VALUES)} from marts.mart_market_basket").df()
    ref = ref_mod.build_reference(landing, now=LOADED_AT)
    return Built(mart=mart, reference=ref_mod.market_basket(ref, MIN_PAIR_COUNT), ref=ref)


@pytest.fixture(scope="module")
def sample_basket(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Built:
    return _built(sample_dir, tmp_path_factory.mktemp("basket-sample"))


@pytest.fixture(scope="module")
def heavy_basket(tmp_path_factory: pytest.TempPathFactory) -> Built:
    # 3,000 orders of 2-40 lines: 1,000 popular products (pairs land below, at and above the
    # threshold) and 10 % of lines from 2,500 rare products (~2.3 orders each, many below the
    # threshold, many inside big baskets, some beside a single popular product).
    root = tmp_path_factory.mktemp("basket-heavy")
    landing = write_heavy_basket_landing(
        root / "landing", orders=3000, head_products=1000, tail_products=2500, tail_share=0.10, min_lines=2
    )
    return _built(landing, root / "home")


def _assert_same_rows(built: Built) -> None:
    found = built.mart.sort_values(KEYS, ignore_index=True)
    expected = built.reference
    found_pairs = set(found[KEYS].itertuples(index=False))
    expected_pairs = set(expected[KEYS].itertuples(index=False))
    missing, extra = sorted(expected_pairs - found_pairs), sorted(found_pairs - expected_pairs)
    assert not missing and not extra, (
        f"{len(missing)} pairs missing from the mart, e.g. {missing[:5]}; "
        f"{len(extra)} not in the reference, e.g. {extra[:5]}"
    )
    assert len(found) == len(found_pairs), "duplicated pairs in the mart"
    for column in VALUES:
        # Exact: both sides divide the same integer counts in IEEE double precision.
        differs = found[column].to_numpy() != expected[column].to_numpy()
        shown = expected[KEYS].assign(expected=expected[column], found=found[column])[differs].head(10)
        assert not differs.any(), f"{column} differs on {int(differs.sum())} pairs, e.g.\n{shown}"


def test_sample_market_basket_matches_the_brute_force_reference(sample_basket: Built) -> None:
    assert len(sample_basket.reference) > 0
    _assert_same_rows(sample_basket)


def test_heavy_baskets_match_the_brute_force_reference(heavy_basket: Built) -> None:
    _assert_same_rows(heavy_basket)


def test_heavy_baskets_exercise_the_pruning(heavy_basket: Built) -> None:
    """The synthetic data has what pruning could get wrong, so the equality above means something."""
    ref, expected = heavy_basket.ref, heavy_basket.reference
    sales = ref.sale_lines
    catalogue = sales[sales["product_id"].isin(ref.product_ids)].drop_duplicates(["order_id", "product_id"])
    product_orders = catalogue["product_id"].value_counts()
    is_frequent = catalogue["product_id"].map(product_orders) >= MIN_PAIR_COUNT
    basket_size = catalogue.groupby("order_id")["product_id"].size()
    frequent_in_basket = is_frequent.groupby(catalogue["order_id"]).sum()
    rare_orders = catalogue.loc[~is_frequent, "order_id"].unique()
    # Many products below the threshold, some one order short of it, many inside big baskets.
    assert (product_orders < MIN_PAIR_COUNT).sum() > 500
    assert (product_orders == MIN_PAIR_COUNT - 1).sum() > 50
    assert (basket_size[rare_orders] >= 20).sum() > 500
    # Orders of two or more products left with fewer than two above the threshold (dropped from pairing).
    assert ((basket_size >= 2) & (frequent_in_basket < 2)).sum() > 0
    # Products and pairs exactly at the threshold, which the mart must keep.
    at_threshold = set(product_orders[product_orders == MIN_PAIR_COUNT].index)
    assert at_threshold & (set(expected["product_a_id"]) | set(expected["product_b_id"]))
    assert (expected["pair_orders"] == MIN_PAIR_COUNT).sum() > 1000
