"""The pandas baseline: the headline marts written as a pandas user would, from the landing files.

Same inputs and the same business rules in outline (ISO dates, positive quantities, non-negative prices, the first
copy of a line per file, later files superseding earlier ones, completed lines as sales), vectorised pandas
throughout: read the files, clean, enrich the order lines with products, then daily sales by category, RFM scores,
monthly cohort retention, the top 10 products and market-basket pairs. It is a speed baseline, not a reference: the
cross-check tests (tests/crosscheck) recompute the marts exactly, rule by rule.

`python -m orchestration.bench.pandas_marts LANDING [--json OUT]` runs it in a process of its own.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from orchestration.bench.measure import emit_json
from orchestration.contract import CUSTOMERS, ORDERS, PRODUCTS

MIN_PAIR_ORDERS = 5  # dbt var basket_min_pair_count
TOP_PRODUCTS = 10


@dataclass
class PandasResult:
    order_lines: int = 0
    clean_lines: int = 0
    seconds: float = 0.0
    per_step: dict[str, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)


def read_orders(folder: Path) -> pd.DataFrame:
    frames = []
    for rank, path in enumerate(ORDERS.files_in(folder)):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, on_bad_lines="skip", engine="c")
        frame.columns = [c.strip().lower() for c in frame.columns]
        frames.append(frame.assign(file_rank=rank))
    return pd.concat(frames, ignore_index=True)


def clean_orders(raw: pd.DataFrame) -> pd.DataFrame:
    lines = pd.DataFrame({
        "order_id": raw["order_id"].str.strip(),
        "line_number": pd.to_numeric(raw["line_number"].str.strip(), errors="coerce"),
        "customer_id": raw["customer_id"].str.strip().replace("", None),
        "product_id": raw["product_id"].str.strip(),
        "quantity": pd.to_numeric(raw["quantity"].str.strip(), errors="coerce"),
        "unit_price": pd.to_numeric(raw["unit_price"].str.strip(), errors="coerce"),
        "ordered_at": pd.to_datetime(raw["order_date"].str.strip(), format="ISO8601", errors="coerce"),
        "status": raw["status"].str.strip().str.lower(),
        "file_rank": raw["file_rank"],
    })
    valid = (
        (lines["order_id"] != "") & (lines["product_id"] != "") & (lines["line_number"] >= 1)
        & lines["ordered_at"].notna() & (lines["quantity"] > 0) & (lines["unit_price"] >= 0)
        & lines["status"].isin(["completed", "cancelled", "returned"])
    )
    lines = lines[valid].drop_duplicates(subset=["order_id", "line_number", "file_rank"], keep="first")
    return lines.drop_duplicates(subset=["order_id", "line_number"], keep="last")


def enrich(lines: pd.DataFrame, products: pd.DataFrame) -> pd.DataFrame:
    fact = lines.merge(products[["product_id", "category", "cost"]], on="product_id", how="left")
    fact["category"] = fact["category"].fillna("Unknown")
    fact["revenue"] = fact["quantity"] * fact["unit_price"]
    fact["margin"] = fact["revenue"] - fact["quantity"] * fact["cost"]
    fact["order_date"] = fact["ordered_at"].dt.normalize()
    fact["is_sale"] = fact["status"] == "completed"
    return fact


def daily_sales(fact: pd.DataFrame) -> pd.DataFrame:
    sales = fact[fact["is_sale"]]
    return sales.groupby(["order_date", "category"]).agg(
        orders=("order_id", "nunique"), units=("quantity", "sum"), revenue=("revenue", "sum"),
        margin=("margin", "sum"),
    ).reset_index()


def customer_rfm(fact: pd.DataFrame) -> pd.DataFrame:
    sales = fact[fact["is_sale"] & fact["customer_id"].notna()]
    as_of = fact["order_date"].max()
    rfm = sales.groupby("customer_id").agg(
        last_order=("order_date", "max"), frequency=("order_id", "nunique"), monetary=("revenue", "sum"),
    )
    rfm["recency_days"] = (as_of - rfm["last_order"]).dt.days
    for column, ascending in (("recency_days", False), ("frequency", True), ("monetary", True)):
        ranks = rfm[column].rank(method="first", ascending=ascending)
        rfm[column[0] + "_score"] = np.ceil(ranks * 5 / len(rfm)).astype(int)
    return rfm.reset_index()


def cohort_retention(fact: pd.DataFrame) -> pd.DataFrame:
    sales = fact[fact["is_sale"] & fact["customer_id"].notna()]
    months = sales["order_date"].dt.year * 12 + sales["order_date"].dt.month
    active = pd.DataFrame({"customer_id": sales["customer_id"], "month": months}).drop_duplicates()
    active["cohort"] = active.groupby("customer_id")["month"].transform("min")
    active["months_after"] = active["month"] - active["cohort"]
    matrix = active.groupby(["cohort", "months_after"]).size().rename("customers").reset_index()
    sizes = matrix[matrix["months_after"] == 0].set_index("cohort")["customers"]
    matrix["retention"] = matrix["customers"] / matrix["cohort"].map(sizes)
    return matrix


def top_products(fact: pd.DataFrame) -> pd.DataFrame:
    sales = fact[fact["is_sale"]]
    return sales.groupby("product_id")["revenue"].sum().nlargest(TOP_PRODUCTS).reset_index()


def market_basket(fact: pd.DataFrame) -> pd.DataFrame:
    baskets = fact.loc[fact["is_sale"], ["order_id", "product_id"]].drop_duplicates()
    product_orders = baskets["product_id"].value_counts()
    frequent = product_orders[product_orders >= MIN_PAIR_ORDERS].index
    baskets = baskets[baskets["product_id"].isin(frequent)]
    pairs = baskets.merge(baskets, on="order_id", suffixes=("_a", "_b"))
    pairs = pairs[pairs["product_id_a"] < pairs["product_id_b"]]
    counts = pairs.groupby(["product_id_a", "product_id_b"]).size().rename("pair_orders").reset_index()
    counts = counts[counts["pair_orders"] >= MIN_PAIR_ORDERS]
    total = fact.loc[fact["is_sale"], "order_id"].nunique()
    counts["support"] = counts["pair_orders"] / total
    counts["lift"] = counts["pair_orders"] * total / (
        counts["product_id_a"].map(product_orders) * counts["product_id_b"].map(product_orders))
    return counts


def read_customers(folder: Path) -> pd.DataFrame:
    lines = pd.concat(
        [pd.read_csv(p, sep="\x1f", header=None, names=["line"], dtype=str, quoting=3, engine="c")
         for p in CUSTOMERS.files_in(folder)],
        ignore_index=True,
    )

    def parse(line: str) -> dict | None:
        try:
            record = json.loads(line)
        except ValueError:
            return None
        return record if isinstance(record, dict) else None

    records = lines["line"].map(parse).dropna()
    return pd.DataFrame.from_records(records.tolist()).drop_duplicates("customer_id", keep="last")


def run(folder: Path) -> PandasResult:
    result = PandasResult()
    started = time.perf_counter()

    def step(name: str, start: float) -> float:
        now = time.perf_counter()
        result.per_step[name] = now - start
        return now

    mark = time.perf_counter()
    raw = read_orders(folder)
    result.order_lines = len(raw)
    products = pd.concat([pd.read_parquet(p) for p in PRODUCTS.files_in(folder)], ignore_index=True)
    customers = read_customers(folder)
    mark = step("read", mark)
    lines = clean_orders(raw)
    result.clean_lines = len(lines)
    fact = enrich(lines, products.astype({"price": float, "cost": float}))
    fact = fact.assign(is_known_customer=fact["customer_id"].isin(customers["customer_id"]))
    mark = step("clean_and_enrich", mark)
    for name, mart in (("daily_sales", daily_sales), ("customer_rfm", customer_rfm),
                       ("cohort_retention", cohort_retention), ("top_products", top_products),
                       ("market_basket", market_basket)):
        result.rows[name] = len(mart(fact))
        mark = step(name, mark)
    result.seconds = time.perf_counter() - started
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("landing", type=Path)
    parser.add_argument("--json", type=Path, help="write the result here")
    args = parser.parse_args(argv)
    payload = asdict(run(args.landing))
    emit_json(payload, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
