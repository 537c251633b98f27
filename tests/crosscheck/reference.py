"""Reference figures recomputed from the raw landing files with plain Python and pandas.

This module is deliberately independent of the warehouse: it shares no SQL and no code with the
dbt models or with ``orchestration/raw_load.py``, and it does not use DuckDB. It re-implements the
written contract (the cleaning rules and the business definitions) from scratch, so that a
disagreement with a mart points at a bug on one side or the other.

Money is kept exact: unit prices are :class:`decimal.Decimal` (at most 6 decimals, as the contract
says) and every line amount is carried as an integer number of millionths (micros), so sums are
exact; a figure is rounded to the cent once, half up, from its exact sum (DECISIONS.md: Money
precision and rounding). Ratios are :class:`~decimal.Decimal` rounded half-up.

Entry point: :func:`build_reference` (reads a landing folder) and the figure functions
:func:`kpis`, :func:`daily_sales`, :func:`customer_rfm`, :func:`cohort_retention_monthly`,
:func:`market_basket`.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from itertools import combinations
from pathlib import Path

import pandas as pd

ORDER_COLUMNS = (
    "order_id",
    "line_number",
    "customer_id",
    "product_id",
    "quantity",
    "unit_price",
    "order_date",
    "status",
    "shipping_address",
)
STATUSES = frozenset({"completed", "cancelled", "returned"})
LOYALTY_TIERS = frozenset({"bronze", "silver", "gold", "platinum"})
UNKNOWN_CATEGORY = "Unknown"
UNKNOWN_MEMBER = "UNKNOWN"

_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?"
)
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_POSITIVE_INT = re.compile(r"\+?\d+")
_INTEGER = re.compile(r"[+-]?\d+")
# The contract's money: a plain decimal with a dot and at most 6 decimals, below 10^12 (decimal(18,6)).
_MONEY = re.compile(r"[+-]?(?:\d+(?:\.\d{0,6})?|\.\d{1,6})")
MONEY_LIMIT = Decimal(10) ** 12
MAX_ORDER_QUANTITY = 1_000_000  # units on an order line
INTEGER_MAX = 2**31 - 1
MICROS = 10**6


def parse_money(text: str | None) -> Decimal | None:
    """A delivered price or cost as an exact Decimal, or None when the contract refuses it."""
    if text is None or not _MONEY.fullmatch(text):
        return None
    value = Decimal(text)
    return value if abs(value) < MONEY_LIMIT else None


def cents_of(micros: int) -> int:
    """Exact millionths rounded half away from zero to whole cents."""
    sign = -1 if micros < 0 else 1
    return sign * ((abs(int(micros)) + 5_000) // 10_000)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def split_csv_line(line: str) -> list[str] | None:
    """Split one physical CSV line per RFC 4180; ``None`` when the quoting is broken.

    A field is either unquoted (and then contains no double quote at all) or quoted from its
    first character to a closing quote that is followed by a comma or the end of the line,
    with ``""`` standing for one quote inside. Anything else (an unbalanced quote, a quote in
    an unquoted field, text after a closing quote) is broken quoting.
    """
    fields: list[str] = []
    i, n = 0, len(line)
    while True:
        if i < n and line[i] == '"':
            i += 1
            chars: list[str] = []
            while True:
                if i >= n:
                    return None  # unbalanced quote: the field never closes on this line
                if line[i] == '"':
                    if i + 1 < n and line[i + 1] == '"':
                        chars.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                chars.append(line[i])
                i += 1
            fields.append("".join(chars))
            if i == n:
                return fields
            if line[i] != ",":
                return None  # text after the closing quote
            i += 1
        else:
            end = line.find(",", i)
            value = line[i:] if end < 0 else line[i:end]
            if '"' in value:
                return None  # a quote inside an unquoted field
            fields.append(value)
            if end < 0:
                return fields
            i = end + 1


def _physical_lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8-sig")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last record does not open another line
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _clean(value: object) -> str | None:
    """Trim; empty after trimming is null."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def parse_timestamp(value: str | None, now: datetime) -> datetime | None:
    """An ISO-8601 date or date-time that exists and is not in the future, else ``None``."""
    if value is None:
        return None
    match = _TIMESTAMP.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction = match.groups()
    try:
        parsed = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
        )
    except ValueError:
        return None  # not a real date or time (2025-02-30, 25:00)
    return parsed if parsed <= now else None


def parse_date(value: str | None, today: date) -> date | None:
    if value is None:
        return None
    match = _DATE.fullmatch(value)
    if match is None:
        return None
    try:
        parsed = date(*(int(part) for part in match.groups()))
    except ValueError:
        return None
    return parsed if parsed <= today else None


def landing_files(landing: Path, file_name: str) -> list[Path]:
    """A source's files in name order: ``<stem>.<ext>`` and ``<stem>_<tag>.<ext>`` (e.g. orders_2025-12-31.csv)."""
    stem, _, ext = file_name.rpartition(".")
    return sorted(
        path
        for path in landing.iterdir()
        if path.is_file()
        and (path.name == file_name or (path.name.startswith(stem + "_") and path.name.endswith("." + ext)))
    )


def read_order_files(paths: list[Path], now: datetime) -> pd.DataFrame:
    """The clean order lines of several orders files read in the given (name) order.

    A line identical to a line of any earlier file (or earlier in its file) counts once; within a
    file the first valid line of an (order_id, line_number) wins; a later file's winner replaces an
    earlier file's line with the same key (a corrected line re-sent).
    """
    seen_raw: set[tuple[str, ...]] = set()
    latest: dict[tuple[str, int], dict[str, object]] = {}
    for path in paths:
        for row in _read_order_file(path, now, seen_raw):
            latest[(row["order_id"], row["line_number"])] = row
    return pd.DataFrame(list(latest.values()), columns=_ORDER_LINE_FIELDS)


def read_order_lines(path: Path, now: datetime) -> pd.DataFrame:
    """The clean order lines of ``orders.csv``, in file order (quarantined lines dropped)."""
    return pd.DataFrame(_read_order_file(path, now, set()), columns=_ORDER_LINE_FIELDS)


_ORDER_LINE_FIELDS = [
    "source_file",
    "file_line",
    "order_id",
    "line_number",
    "source_customer_id",
    "product_id",
    "quantity",
    "unit_price",
    "revenue_micros",
    "ordered_at",
    "order_date",
    "status",
]


def _read_order_file(path: Path, now: datetime, seen_raw: set[tuple[str, ...]]) -> list[dict[str, object]]:
    """The clean lines of one orders file; ``seen_raw`` holds the raw lines of earlier files (and grows)."""
    lines = _physical_lines(path)
    header = split_csv_line(lines[0]) if lines else None
    if header is None:
        raise ValueError(f"{path}: unreadable header")
    header = [name.strip() for name in header]
    missing = set(ORDER_COLUMNS) - set(header)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)}")
    position = {name: header.index(name) for name in ORDER_COLUMNS}

    seen_keys: set[tuple[str, int]] = set()
    rows: list[dict[str, object]] = []
    for file_line, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue  # blank line
        fields = split_csv_line(line)
        if fields is None or len(fields) != len(header):
            continue  # broken quoting or wrong field count
        raw = tuple(fields[position[name]] for name in ORDER_COLUMNS)
        if raw in seen_raw:
            continue  # exact duplicate of an earlier line: counts once
        seen_raw.add(raw)
        value = dict(zip(ORDER_COLUMNS, (_clean(field) for field in raw), strict=True))

        order_id, product_id = value["order_id"], value["product_id"]
        if order_id is None or product_id is None:
            continue
        line_number_text = value["line_number"]
        if line_number_text is None or not _POSITIVE_INT.fullmatch(line_number_text):
            continue
        line_number = int(line_number_text)
        if line_number <= 0 or line_number > INTEGER_MAX:
            continue
        ordered_at = parse_timestamp(value["order_date"], now)
        if ordered_at is None:
            continue
        quantity_text = value["quantity"]
        if quantity_text is None or not _INTEGER.fullmatch(quantity_text):
            continue
        quantity = int(quantity_text)
        if quantity <= 0 or quantity > MAX_ORDER_QUANTITY:
            continue
        unit_price = parse_money(value["unit_price"])
        if unit_price is None or unit_price < 0:
            continue
        status = value["status"].lower() if value["status"] is not None else None
        if status not in STATUSES:
            continue
        key = (order_id, line_number)
        if key in seen_keys:
            continue  # a later line with the same (order_id, line_number): the first one wins
        seen_keys.add(key)
        rows.append(
            {
                "source_file": path.name,
                "file_line": file_line,
                "order_id": order_id,
                "line_number": line_number,
                "source_customer_id": value["customer_id"],
                "product_id": product_id,
                "quantity": quantity,
                "unit_price": unit_price,
                "revenue_micros": int(quantity * unit_price * MICROS),  # exact: <= 6 decimals
                "ordered_at": ordered_at,
                "order_date": ordered_at.date(),
                "status": status,
            }
        )
    return rows


def read_customers(path: Path, today: date) -> dict[str, dict[str, object]]:
    """Valid customer records keyed by customer_id; the last valid record of an id wins."""
    customers: dict[str, dict[str, object]] = {}
    for line in _physical_lines(path):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        customer_id = _clean(record.get("customer_id"))
        if customer_id is None:
            continue
        registered_on = parse_date(_clean(record.get("registration_date")), today)
        if registered_on is None:
            continue
        tier = _clean(record.get("loyalty_tier"))
        if tier is not None and tier not in LOYALTY_TIERS:
            continue
        customers[customer_id] = {"customer_id": customer_id, "registered_on": registered_on, "loyalty_tier": tier}
    return customers


def read_products(path: Path) -> dict[str, dict[str, object]]:
    """Valid products keyed by product_id; the last valid row of an id wins."""
    table = pd.read_parquet(path)
    products: dict[str, dict[str, object]] = {}
    for record in table.to_dict("records"):
        product_id = _clean(record.get("product_id"))
        if product_id is None:
            continue
        price = parse_money(_money_text(record.get("price")))
        cost_text = _money_text(record.get("cost"))
        cost = parse_money(cost_text)
        if price is None or price < 0 or (cost_text is not None and (cost is None or cost < 0)):
            continue
        products[product_id] = {
            "product_id": product_id,
            "category": _clean(record.get("category")),
            "price": price,
            "cost": cost,
        }
    return products


def _money_text(value: object) -> str | None:
    """A Parquet money value as the text the raw layer keeps (a Decimal with its scale, a float's repr)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    return _clean(value)


# --------------------------------------------------------------------------------------------
# The reference model
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """Clean order lines resolved against valid customers and products."""

    lines: pd.DataFrame  # one row per clean order line, with customer_id and category resolved
    categories: tuple[str, ...]  # categories of the valid products, plus 'Unknown'
    as_of_date: date
    product_ids: frozenset[str]  # ids of the valid products (the catalogue)

    @property
    def sale_lines(self) -> pd.DataFrame:
        return self.lines[self.lines["status"] == "completed"]

    @property
    def known_sale_lines(self) -> pd.DataFrame:
        """Completed lines of known customers (not guests, not the UNKNOWN member)."""
        sales = self.sale_lines
        return sales[sales["customer_id"].notna() & (sales["customer_id"] != UNKNOWN_MEMBER)]


def build_reference(landing: Path, now: datetime | None = None) -> Reference:
    now = now or datetime.now()
    # Every file of a source, in name order: later files' records win (DECISIONS.md: Incremental builds).
    lines = read_order_files(landing_files(landing, "orders.csv"), now)
    customers: dict[str, dict[str, object]] = {}
    for path in landing_files(landing, "customers.json"):
        customers.update(read_customers(path, now.date()))
    products: dict[str, dict[str, object]] = {}
    for path in landing_files(landing, "products.parquet"):
        products.update(read_products(path))
    if lines.empty:
        raise ValueError("no clean order line: nothing to cross-check")

    def resolve_customer(source: object) -> str | None:
        if not isinstance(source, str):
            return None  # guest (pandas may hold the missing id as None or NaN)
        return source if source in customers else UNKNOWN_MEMBER

    def resolve_category(product_id: object) -> str:
        product = products.get(product_id)
        if product is None or product["category"] is None:
            return UNKNOWN_CATEGORY
        return str(product["category"])

    lines = lines.assign(
        customer_id=[resolve_customer(value) for value in lines["source_customer_id"]],
        category=[resolve_category(value) for value in lines["product_id"]],
    )
    categories = {str(p["category"]) for p in products.values() if p["category"] is not None}
    categories.add(UNKNOWN_CATEGORY)
    return Reference(
        lines=lines,
        categories=tuple(sorted(categories)),
        as_of_date=max(lines["order_date"]),
        product_ids=frozenset(products),
    )


def _orders_of_known_customers(ref: Reference) -> pd.DataFrame:
    """One row per (customer, sale order): its date and its completed revenue."""
    sales = ref.known_sale_lines
    return sales.groupby(["customer_id", "order_id"], as_index=False).agg(
        order_date=("order_date", "min"), revenue_micros=("revenue_micros", "sum")
    )


def kpis(ref: Reference) -> dict[str, object]:
    """Headline totals: revenue (Decimal), orders and customers (int)."""
    sales = ref.sale_lines
    return {
        "revenue": Decimal(cents_of(int(sales["revenue_micros"].sum()))) / 100,
        "orders": int(sales["order_id"].nunique()),
        "customers": int(ref.known_sale_lines["customer_id"].nunique()),
    }


def daily_sales(ref: Reference) -> pd.DataFrame:
    """Every day of the calendar x every category, with the completed revenue in cents (rounded once)."""
    first_year = min(ref.lines["order_date"]).year
    days = pd.date_range(date(first_year, 1, 1), date(ref.as_of_date.year, 12, 31), freq="D")
    grid = pd.MultiIndex.from_product([[d.date() for d in days], ref.categories], names=["date_day", "category"])
    revenue = ref.sale_lines.groupby(["order_date", "category"])["revenue_micros"].sum().map(cents_of)
    revenue.index = revenue.index.set_names(["date_day", "category"])
    unexpected = revenue.index.difference(grid)
    if len(unexpected):
        raise AssertionError(f"sales outside the calendar grid: {list(unexpected)[:5]}")
    out = revenue.reindex(grid, fill_value=0).astype("int64").rename("revenue_cents").reset_index()
    return out


def _score(values: pd.Series, ascending: bool) -> pd.Series:
    """min(5, 1 + floor(5 * percent_rank)), percent_rank = (rank_min - 1) / (n - 1), exactly."""
    n = len(values)
    if n <= 1:
        return pd.Series(1, index=values.index, dtype="int64")
    rank = values.rank(method="min", ascending=ascending).astype("int64")
    return ((5 * (rank - 1)) // (n - 1) + 1).clip(upper=5).astype("int64")


def rfm_segment(r: int, f: int, m: int) -> str:
    if r == 5 and f == 5 and m == 5:
        return "Champions"
    if r in (1, 2) and f in (4, 5):
        return "At risk"
    if r == 1 and f == 1:
        return "Lost"
    if f in (4, 5):
        return "Loyal"
    if r in (1, 2) and m in (4, 5):
        return "Can't lose them"
    if r in (1, 2):
        return "Hibernating"
    if r == 3 and f in (1, 2):
        return "About to sleep"
    if r == 3 and f == 3:
        return "Need attention"
    if r == 5 and f == 1:
        return "New"
    if r == 4 and f == 1:
        return "Promising"
    if r in (4, 5) and f in (2, 3):
        return "Potential loyalist"
    raise AssertionError(f"no segment for R{r}F{f}M{m}")  # the rules cover every combination


def customer_rfm(ref: Reference) -> pd.DataFrame:
    """One row per known customer with at least one sale order."""
    orders = _orders_of_known_customers(ref)
    per_customer = orders.groupby("customer_id").agg(
        last_order_date=("order_date", "max"),
        frequency=("order_id", "nunique"),
        monetary_micros=("revenue_micros", "sum"),
    )
    out = pd.DataFrame(
        {
            "customer_id": per_customer.index,
            "recency_days": [(ref.as_of_date - d).days for d in per_customer["last_order_date"]],
            "frequency": per_customer["frequency"].astype("int64").to_numpy(),
            "monetary_cents": [cents_of(m) for m in per_customer["monetary_micros"]],
        }
    )
    out["r_score"] = _score(out["recency_days"], ascending=False)
    out["f_score"] = _score(out["frequency"], ascending=True)
    out["m_score"] = _score(out["monetary_cents"], ascending=True)
    out["rfm_segment"] = [
        rfm_segment(r, f, m) for r, f, m in zip(out["r_score"], out["f_score"], out["m_score"], strict=True)
    ]
    return out.sort_values("customer_id").reset_index(drop=True)


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def cohort_retention_monthly(ref: Reference) -> pd.DataFrame:
    """One row per cohort month x period 0..as-of month, retention rounded half-up to 4 places."""
    orders = _orders_of_known_customers(ref)
    orders = orders.assign(month=[_month_index(d) for d in orders["order_date"]])
    cohort_of = orders.groupby("customer_id")["month"].min().rename("cohort")
    orders = orders.join(cohort_of, on="customer_id")
    orders["period_number"] = orders["month"] - orders["cohort"]
    activity = orders.groupby(["cohort", "period_number"]).agg(
        active_customers=("customer_id", "nunique"), revenue_micros=("revenue_micros", "sum")
    )
    sizes = cohort_of.value_counts()
    last_month = _month_index(ref.as_of_date)

    rows = []
    for cohort, size in sorted(sizes.items()):
        for period in range(0, last_month - cohort + 1):
            active, revenue = activity.loc[(cohort, period)].tolist() if (cohort, period) in activity.index else (0, 0)
            rows.append(
                {
                    "cohort_month": date(cohort // 12, cohort % 12 + 1, 1),
                    "period_number": period,
                    "cohort_size": int(size),
                    "active_customers": int(active),
                    "retention_pct": (Decimal(int(active)) / Decimal(int(size))).quantize(
                        Decimal("0.0001"), rounding=ROUND_HALF_UP
                    ),
                    "revenue_cents": cents_of(int(revenue)),
                }
            )
    return pd.DataFrame(rows)


def market_basket(ref: Reference, min_pair_count: int) -> pd.DataFrame:
    """Pairs of catalogue products in at least ``min_pair_count`` sale orders, by brute force.

    Every pair of every basket is counted (no pruning): each sale order up to the as-of date is
    the set of its catalogue products; products missing from the catalogue are not paired but
    their orders count in total_orders. Ratios are float divisions of the exact integer counts.
    """
    sales = ref.sale_lines[ref.sale_lines["order_date"] <= ref.as_of_date]
    total_orders = int(sales["order_id"].nunique())
    known = sales[sales["product_id"].isin(ref.product_ids)]
    baskets = [sorted(set(ids)) for _, ids in known.groupby("order_id")["product_id"]]
    product_orders = Counter(product for basket in baskets for product in basket)
    pair_orders = Counter(pair for basket in baskets for pair in combinations(basket, 2))
    rows = [
        {
            "product_a_id": a,
            "product_b_id": b,
            "pair_orders": n,
            "orders_with_a": product_orders[a],
            "orders_with_b": product_orders[b],
            "total_orders": total_orders,
            "support": n / total_orders,
            "confidence_a_to_b": n / product_orders[a],
            "confidence_b_to_a": n / product_orders[b],
            "lift": n * total_orders / (product_orders[a] * product_orders[b]),
        }
        for (a, b), n in pair_orders.items()
        if n >= min_pair_count
    ]
    columns = ["product_a_id", "product_b_id", "pair_orders", "orders_with_a", "orders_with_b", "total_orders",
               "support", "confidence_a_to_b", "confidence_b_to_a", "lift"]
    return pd.DataFrame(rows, columns=columns).sort_values(["product_a_id", "product_b_id"], ignore_index=True)
