"""What the API answers, typed: the OpenAPI schema (and the fuzz test's response checks) come from these.

Money is a decimal string with 2 decimals, as the marts hold it (DECIMAL(18,2)); ratios are decimal strings with
4 decimals (the marts' DECIMAL(9,4)); nothing is rounded differently from the marts.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import BaseModel, Field


class Health(BaseModel):
    status: str = Field(description="ok")
    as_of_date: date | None = Field(description="the last day of data in the published warehouse")
    published_at: str | None = Field(description="when the warehouse being served was published (UTC, ISO 8601)")
    run_id: str | None = Field(description="the build that published it (a Dagster run id), when known")
    model_versions: dict[str, str | None]


class Period(BaseModel):
    date_from: date = Field(alias="from")
    date_to: date = Field(alias="to", description="inclusive")

    model_config = {"populate_by_name": True, "serialize_by_alias": True}


class KpiFigures(BaseModel):
    revenue: Decimal
    orders: int
    customers: int
    average_order_value: Decimal | None
    margin_pct: Decimal | None
    conversion_rate: Decimal | None


class Kpis(BaseModel):
    period: Period
    previous_period: Period
    current: KpiFigures
    previous: KpiFigures
    country: str | None
    category: str | None


class DailySales(BaseModel):
    date_day: date
    orders: int
    units: int
    revenue: Decimal
    cost: Decimal
    margin: Decimal
    margin_pct: Decimal | None
    average_order_value: Decimal | None


class MonthlySales(BaseModel):
    month_start: date
    orders: int
    units: int
    revenue: Decimal
    cost: Decimal
    margin: Decimal
    margin_pct: Decimal | None
    average_order_value: Decimal | None
    customers: int
    new_customers: int


class CountrySales(BaseModel):
    month_start: date
    country_code: str | None
    country_name: str
    revenue: Decimal
    orders: int
    customers: int
    average_order_value: Decimal | None


class TopProduct(BaseModel):
    rank: int
    product_id: str
    product_name: str | None
    category: str
    brand: str | None
    revenue: Decimal
    units: int
    margin: Decimal
    margin_pct: Decimal | None


class TopCustomer(BaseModel):
    rank: int
    customer_id: str
    country_name: str | None
    loyalty_tier: str | None
    revenue: Decimal
    orders: int
    customer_name: str | None = Field(None, description="only with the customers scope")
    email: str | None = Field(None, description="only with the customers scope")


class OrderSummary(BaseModel):
    order_id: str
    customer_id: str | None
    ordered_at: str | None = Field(description="when the order was placed, local time as exported (no offset)")
    order_date: date
    order_status: str
    lines: int
    units: int
    revenue: Decimal = Field(description="completed lines")
    gross_revenue: Decimal = Field(description="every line, cancelled and returned included (the order's total)")
    country_name: str | None


class RfmProfile(BaseModel):
    recency_days: int | None
    frequency: int | None
    monetary: Decimal | None
    r_score: int | None
    f_score: int | None
    m_score: int | None
    rfm_score: str | None
    segment: str | None
    recommended_action: str | None


class LeadScore(BaseModel):
    score: float
    tier: str
    action: str
    reasons: list[str]
    model_version: str | None
    as_of_date: date | None


class Lifetime(BaseModel):
    clv_12m: Decimal | None
    probability_alive: float | None
    expected_purchases_365d: float | None
    model_version: str | None


class Customer(BaseModel):
    customer_id: str
    country_code: str | None
    country_name: str | None
    loyalty_tier: str | None
    registered_on: date | None
    first_order_date: date | None
    last_order_date: date | None
    orders: int
    lifetime_revenue: Decimal
    average_order_value: Decimal | None
    rfm: RfmProfile | None
    lead_score: LeadScore | None
    behavioural_segment: str | None
    lifetime_value: Lifetime | None
    last_orders: list[OrderSummary]
    customer_name: str | None = Field(None, description="only with the customers scope")
    email: str | None = Field(None, description="only with the customers scope")
    city: str | None = Field(None, description="only with the customers scope")


class OrderPage(BaseModel):
    orders: list[OrderSummary]
    next: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class RfmSegment(BaseModel):
    segment: str
    recommended_action: str | None
    customers: int
    revenue: Decimal
    customer_share: Decimal | None
    revenue_share: Decimal | None


class CohortMonth(BaseModel):
    cohort_month: date
    period_number: int
    period_start: date
    cohort_size: int
    active_customers: int
    retention_pct: Decimal | None
    revenue: Decimal
    cumulative_revenue_per_customer: Decimal | None


class ForecastPoint(BaseModel):
    date_day: date
    measure: str
    category: str | None
    actual: float | None
    yhat: float | None
    yhat_lower: float | None
    yhat_upper: float | None
    is_forecast: bool
    model: str | None


class Forecast(BaseModel):
    series: str
    model_version: str | None
    points: list[ForecastPoint]


class Stockout(BaseModel):
    product_id: str
    product_name: str | None
    category: str | None
    current_stock: int | None
    forecast_daily_demand: float | None
    days_until_stockout: float | None
    stockout_date: date | None
    stockout_within_lead_time: bool | None
    reorder_quantity: int | None
    as_of_date: date | None


class QuarantineCount(BaseModel):
    source: str
    check_name: str
    detail: str | None
    rows: int
    share: Decimal | None


class TestSummary(BaseModel):
    run_id: str | None
    started_at: str | None = Field(description="ISO 8601 as the pipeline recorded it, no offset")
    published_at: str | None = Field(description="ISO 8601 as the pipeline recorded it, no offset")
    tests_passed: int | None
    tests_warned: int | None
    tests_failed: int | None
    failing_tests: list[str]


class Quality(BaseModel):
    quarantine: list[QuarantineCount]
    last_build: TestSummary | None


class ScoreResult(BaseModel):
    customer_id: str
    score: float = Field(ge=0, le=100)
    tier: str = Field(description="Hot, Warm or Cold")
    action: str
    reasons: list[str]
    scorer: str
    model_version: str


class RowProblem(BaseModel):
    row: str = Field(description="'record N' (JSON rows, from 1) or 'line N' (CSV, the header is line 1)")
    customer_id: str | None
    field: str
    reason: str


class BatchResult(BaseModel):
    model_version: str
    input_rows: int
    scored_rows: int
    scores: list[ScoreResult]
    skipped: list[RowProblem] = Field(description="invalid rows left out (skip_invalid=true)")
