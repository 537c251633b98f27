"""The ``ml.customer_clv`` table: one row per customer of the CLV summary mart, with the run's parameters."""

from __future__ import annotations

from datetime import date

import pandas as pd

from ml.clv.model import ClvResult

CUSTOMER_CLV_TABLE = "customer_clv"
# pandas has no date or decimal dtype: the warehouse types of the columns that need one.
CUSTOMER_CLV_CASTS: dict[str, str] = {
    "as_of_date": "date",
    "frequency": "bigint",
    "recency": "bigint",
    "t": "bigint",
    "monetary_value": "decimal(18,2)",
    "expected_avg_order_value": "decimal(18,2)",
    "clv_12m": "decimal(18,2)",
}
PARAMETER_COLUMNS: dict[str, str] = {
    "r": "bgnbd_r",
    "alpha": "bgnbd_alpha",
    "a": "bgnbd_a",
    "b": "bgnbd_b",
    "p": "gamma_gamma_p",
    "q": "gamma_gamma_q",
    "gamma": "gamma_gamma_gamma",
}
COLUMNS: tuple[str, ...] = (
    "customer_id",
    "as_of_date",
    "frequency",
    "recency",
    "t",
    "monetary_value",
    "probability_alive",
    "expected_purchases_90d",
    "expected_purchases_365d",
    "expected_avg_order_value",
    "clv_12m",
    "model_version",
    "time_unit",
    "monthly_discount_rate",
    *PARAMETER_COLUMNS.values(),
)


def customer_clv_table(result: ClvResult, as_of: date) -> pd.DataFrame:
    """The rows of ``ml.customer_clv`` (write with ``replace_table(..., casts=CUSTOMER_CLV_CASTS)``).

    Ordered by customer_id, so the same data always gives the same table. The fitted parameters and the
    settings repeat on every row, like the mart's shop-wide columns, so a dashboard needs no join to show them.
    """
    table = result.customers.assign(
        as_of_date=pd.Timestamp(as_of),
        model_version=result.model_version,
        time_unit=result.time_unit,
        monthly_discount_rate=result.monthly_discount_rate,
        **{column: result.parameters[name] for name, column in PARAMETER_COLUMNS.items()},
    )
    return table.loc[:, list(COLUMNS)].sort_values("customer_id", kind="stable").reset_index(drop=True)
