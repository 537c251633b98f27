"""The raw contract: which files a shop hands us, and what each column means.

This is the single source of truth for file names, column order and enums. The
generator writes it, the raw loader enforces it and seeds/README.md documents it
(a test checks the README lists every column declared here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class FileFormat(StrEnum):
    CSV = "csv"
    NDJSON = "ndjson"
    PARQUET = "parquet"


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # the logical type staging casts to; raw keeps everything as text
    meaning: str
    required: bool = True  # the column must exist in the file
    nullable: bool = False  # an empty value is valid
    key: bool = False  # part of the natural key


# A source's landing files: `<stem>.<ext>` and/or any number of `<stem>_<tag>.<ext>` (e.g. orders.csv,
# orders_2025-12-31.csv), read in name order, so `<stem>.<ext>` comes first ('.' sorts before '_').
FILE_TAG_PATTERN = r"[A-Za-z0-9._-]+"


@dataclass(frozen=True)
class Source:
    name: str  # table name in schema raw
    file_name: str  # the base file `<stem>.<ext>`; see files_in() for the others
    format: FileFormat
    required: bool
    grain: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def key_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.key]

    @property
    def file_pattern(self) -> str:
        """How the source's files are named, for messages and docs: `orders.csv` or `orders_<tag>.csv`."""
        stem, ext = self.file_name.split(".", 1)
        return f"{self.file_name} or {stem}_<tag>.{ext}"

    def matches(self, file_name: str) -> bool:
        stem, ext = self.file_name.split(".", 1)
        return re.fullmatch(rf"{re.escape(stem)}(?:_{FILE_TAG_PATTERN})?\.{re.escape(ext)}", file_name) is not None

    def files_in(self, folder: Path) -> list[Path]:
        """The source's landing files present in `folder`, in name order (the order they are loaded in)."""
        if not folder.is_dir():
            return []
        return sorted((p for p in folder.iterdir() if self.matches(p.name) and p.is_file()), key=lambda p: p.name)


# Money (unit prices and costs) is delivered as a plain decimal with a dot, at most MONEY_DECIMALS
# decimals (discounted prices such as 11.184 or 191.5155 are exact); the warehouse keeps it exactly
# (MONEY_TYPE, dbt macro money_type) and rounds only where DECISIONS.md "Money precision and rounding"
# says. More decimals, a thousands separator or a decimal comma are quarantined, never rounded.
MONEY_DECIMALS = 6
MONEY_TYPE = f"decimal(18,{MONEY_DECIMALS})"
# Value bounds (DECISIONS.md: Value bounds): a value past them is quarantined with its own rule, never cast to
# null or wrapped, and the facts' types are chosen so that no accepted value can overflow their arithmetic.
MONEY_LIMIT = 10**12  # prices and costs are below this (decimal(18,6))
MAX_ORDER_QUANTITY = 1_000_000  # units on one order line (dbt var max_order_quantity)
INTEGER_MAX = 2**31 - 1  # every other whole number (line numbers, stock, pages viewed)

ORDER_STATUSES = ("completed", "cancelled", "returned")
LOYALTY_TIERS = ("bronze", "silver", "gold", "platinum")
EMAIL_EVENT_TYPES = ("sent", "opened", "clicked")
WEB_CHANNELS = ("organic", "paid_search", "email", "social", "direct", "referral")
WEB_DEVICES = ("desktop", "mobile", "tablet")

ORDERS = Source(
    name="orders",
    file_name="orders.csv",
    format=FileFormat.CSV,
    required=True,
    grain="one row per order line",
    columns=(
        Column("order_id", "text", "Order identifier, shared by the lines of one order.", key=True),
        Column("line_number", "integer", "Position of the line within its order (1, 2, ...).", key=True),
        Column("customer_id", "text", "Buyer; empty for a guest checkout.", nullable=True),
        Column("product_id", "text", "Product sold on this line."),
        Column("quantity", "integer", "Units on the line, 1 to 1,000,000."),
        Column("unit_price", MONEY_TYPE,
               "Price paid per unit, after discounts, up to 6 decimals, below 10^12; 0 is a free item."),
        Column("order_date", "timestamp", "When the order was placed, ISO-8601 (YYYY-MM-DDTHH:MM:SS)."),
        Column("status", "text", "One of: completed, cancelled, returned."),
        Column("shipping_address", "text", "Free-text delivery address.", nullable=True),
    ),
)

CUSTOMERS = Source(
    name="customers",
    file_name="customers.json",
    format=FileFormat.NDJSON,
    required=True,
    grain="one JSON object per line, one per customer (a customer exported twice: the later record wins)",
    columns=(
        Column("customer_id", "text", "Customer identifier.", key=True),
        Column("name", "text", "Full name (personal data).", nullable=True),
        Column("email", "text", "E-mail address (personal data).", nullable=True),
        Column("city", "text", "City of residence.", nullable=True),
        Column("country", "text", "Country, as typed by the shop system (staging normalises it).", nullable=True),
        Column("registration_date", "date", "Date the account was created (YYYY-MM-DD)."),
        Column("loyalty_tier", "text", "One of: bronze, silver, gold, platinum.", nullable=True),
    ),
)

PRODUCTS = Source(
    name="products",
    file_name="products.parquet",
    format=FileFormat.PARQUET,
    required=True,
    grain="one row per product",
    columns=(
        Column("product_id", "text", "Product identifier.", key=True),
        Column("name", "text", "Product name."),
        Column("category", "text", "Merchandising category."),
        Column("brand", "text", "Brand.", nullable=True),
        Column("price", MONEY_TYPE, "Current list price, up to 6 decimals."),
        Column("cost", MONEY_TYPE, "Unit cost, up to 6 decimals; null when unknown.", nullable=True),
    ),
)

INVENTORY = Source(
    name="inventory",
    file_name="inventory.csv",
    format=FileFormat.CSV,
    required=False,
    grain="one row per product, warehouse and snapshot time",
    columns=(
        Column("product_id", "text", "Product counted.", key=True),
        Column("warehouse_id", "text", "Warehouse holding the stock.", key=True),
        Column("stock_quantity", "integer", "Units on hand at the snapshot."),
        Column("last_updated", "timestamp", "Snapshot time, ISO-8601.", key=True),
    ),
)

WEB_SESSIONS = Source(
    name="web_sessions",
    file_name="web_sessions.csv",
    format=FileFormat.CSV,
    required=False,
    grain="one row per web session",
    columns=(
        Column("session_id", "text", "Session identifier.", key=True),
        Column("customer_id", "text", "Logged-in customer; empty for an anonymous visit.", nullable=True),
        Column("started_at", "timestamp", "Session start, ISO-8601."),
        Column("channel", "text", "Acquisition channel, one of: " + ", ".join(WEB_CHANNELS) + "."),
        Column("device", "text", "Device, one of: " + ", ".join(WEB_DEVICES) + "."),
        Column("pages_viewed", "integer", "Pages viewed in the session."),
        Column("order_id", "text", "Order placed in the session, when it converted.", nullable=True),
    ),
)

EMAIL_EVENTS = Source(
    name="email_events",
    file_name="email_events.csv",
    format=FileFormat.CSV,
    required=False,
    grain="one row per e-mail event",
    columns=(
        Column("event_id", "text", "Event identifier.", key=True),
        Column("customer_id", "text", "Recipient."),
        Column("campaign_id", "text", "Campaign the e-mail belongs to."),
        Column("event_type", "text", "One of: sent, opened, clicked."),
        Column("event_at", "timestamp", "When it happened, ISO-8601."),
    ),
)

SOURCES: tuple[Source, ...] = (ORDERS, CUSTOMERS, PRODUCTS, INVENTORY, WEB_SESSIONS, EMAIL_EVENTS)
SOURCES_BY_NAME: dict[str, Source] = {s.name: s for s in SOURCES}

# Columns the loader adds to every raw table.
LINEAGE_COLUMNS = ("_source_file", "_line_number", "_loaded_at")
