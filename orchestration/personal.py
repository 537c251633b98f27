"""Which columns identify a person: the rule shared by the dashboards' datasets (orchestration/superset/), the
Parquet lake and `comptoir export` (orchestration/lake.py). Plain Python, the bottom layer."""

from __future__ import annotations

import re

# Columns that identify a person.
PII_COLUMNS = frozenset({
    "email", "email_address", "customer_email", "customer_name", "first_name", "last_name", "full_name", "phone",
    "phone_number", "shipping_address", "billing_address", "address",
})
_PII_PATTERN = re.compile(r"_(email|phone|email_address|phone_number)$")  # contact_email, customer_phone, ...


def is_pii(column: str) -> bool:
    name = column.lower()
    return name in PII_COLUMNS or bool(_PII_PATTERN.search(name))
