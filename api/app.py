"""The FastAPI application: ``create_app(home)`` serves the published warehouse and the saved models of one
COMPTOIR_HOME under ``/v1`` (OpenAPI at ``/docs`` and ``/openapi.json``).

Endpoints are plain ``def`` functions: FastAPI runs them on its thread pool, each request on its own DuckDB
cursor of the published version it started on (warehouse.py).
"""


import calendar
import json
import logging
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api import queries, schemas
from api.errors import ApiError, ErrorBody, FieldError, install
from api.keys import KeyRecord, KeyStore
from api.scoring import ModelCache, ModelUnavailableError, csv_frame, records_frame, score_frame
from api.security import BodyLimit, add_cors, cors_origins, require
from api.warehouse import PublishedWarehouse, Snapshot
from ml.propensity.batch import InputError, InvalidRowsError, format_row_errors
from orchestration.settings import Settings

log = logging.getLogger(__name__)

# Dates the API takes: wide enough for any shop's history, narrow enough that a period and its previous period
# stay valid dates (no overflow past year 1 or 9999).
MIN_DAY = date(1900, 1, 1)
MAX_DAY = date(2999, 12, 31)
MAX_PAGE = 500
DEFAULT_PAGE = 100
MAX_TOP = 1000
DEFAULT_MONTHS = 12  # the Overview dashboard's default range: the 12 calendar months up to the as-of month
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
TEXT = {"min_length": 1, "max_length": 100}

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in ((401, "no key, or an unknown or revoked one"), (403, "the key lacks the scope"),
                         (404, "not found"), (413, "body too large"), (414, "query string too long"),
                         (415, "unsupported body type"), (422, "invalid parameters"),
                         (503, "nothing published yet, or no saved model"))
}


class TopBy(StrEnum):
    revenue = "revenue"
    units = "units"
    margin = "margin"


class OrderStatus(StrEnum):
    completed = "completed"
    cancelled = "cancelled"
    returned = "returned"
    mixed = "mixed"


class State:
    """What the routes share: the home's warehouse, keys and models."""

    def __init__(self, home: Path) -> None:
        settings = Settings(seeds_dir=home, home=home)
        self.warehouse = PublishedWarehouse(settings.published_path)
        self.keys = KeyStore(home)
        self.models = ModelCache(settings.models_dir)


def _check_day(value: date | None, field: str) -> None:
    if value is not None and not MIN_DAY <= value <= MAX_DAY:
        raise ApiError(422, f"query.{field}", f"must be between {MIN_DAY} and {MAX_DAY}")


def _range(date_from: date | None, date_to: date | None, default: tuple[date, date]) -> tuple[date, date]:
    _check_day(date_from, "from")
    _check_day(date_to, "to")
    start, end = date_from or default[0], date_to or default[1]
    if start > end:
        raise ApiError(422, "query.to" if date_to else "query.from",
                       f"the range is empty: from {start} is after to {end}")
    return start, end


def _default_months(as_of: date | None, months: int = DEFAULT_MONTHS) -> tuple[date, date]:
    """The dashboards' default range: `months` calendar months up to the end of the as-of date's month."""
    as_of = as_of or date.today()
    index = as_of.year * 12 + as_of.month - 1 - (months - 1)
    start = date(index // 12, index % 12 + 1, 1)
    end = date(as_of.year, as_of.month, calendar.monthrange(as_of.year, as_of.month)[1])
    return start, end


def _whole_history(as_of: date | None) -> tuple[date, date]:
    return MIN_DAY, as_of or MAX_DAY


def _personal(key: KeyRecord) -> bool:
    return "customers" in key.scopes


def _strip_personal(row: dict[str, Any], key: KeyRecord) -> dict[str, Any]:
    if _personal(key):
        return row
    return {name: value for name, value in row.items() if name not in ("customer_name", "email", "city")}


def create_app(home: Path) -> FastAPI:
    state = State(home)
    app = FastAPI(
        title="Comptoir API",
        version="1",
        description="KPIs, sales, customers, order search and lead scoring from the published Comptoir warehouse. "
        "Every /v1 endpoint but /v1/health takes an API key (`Authorization: Bearer <key>`, "
        "`comptoir api keys create`).",
        responses=ERRORS,
    )
    app.state.comptoir = state
    install(app)

    def snapshot() -> Iterator[Snapshot]:
        with state.warehouse.snapshot() as current:
            yield current

    Warehouse = Annotated[Snapshot, Depends(snapshot)]
    aggregates = Depends(require("aggregates", store=lambda: state.keys))
    customer_level = require("aggregates", "customers", store=lambda: state.keys)
    Customers = Annotated[KeyRecord, Depends(customer_level)]
    scoring = Depends(require("score", store=lambda: state.keys))
    From = Annotated[date | None, Query(alias="from", description="first day, inclusive (YYYY-MM-DD)")]
    To = Annotated[date | None, Query(description="last day, inclusive (YYYY-MM-DD)")]
    Country = Annotated[str | None, Query(description="country name (as in the dashboards) or ISO code", **TEXT)]
    Category = Annotated[str | None, Query(description="product category", **TEXT)]

    v1 = APIRouter(prefix="/v1")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    @v1.get("/health", response_model=schemas.Health, tags=["meta"])
    def health(warehouse: Warehouse) -> dict[str, Any]:
        """Open (no key): what is being served. The data's as-of date, when it was published, the model versions."""
        fact = warehouse.fact
        versions = queries.model_versions(warehouse)
        versions["propensity_saved"] = state.models.latest_version()
        return {"status": "ok", "as_of_date": queries.as_of_date(warehouse),
                "published_at": fact.published_at if fact else None, "run_id": fact.run_id if fact else None,
                "model_versions": versions}

    @v1.get("/kpis", response_model=schemas.Kpis, dependencies=[aggregates], tags=["sales"])
    def kpis(warehouse: Warehouse, date_from: From = None, to: To = None, country: Country = None,
             category: Category = None) -> dict[str, Any]:
        """Revenue, orders, customers, AOV, margin % and conversion rate over the range and the period of the same
        length just before it: the Overview dashboard's figures (default: its range, the 12 calendar months up to
        the as-of date). The conversion rate counts every web session of the months starting in the range, whatever
        the country or category, as the dashboard does."""
        start, end = _range(date_from, to, _default_months(queries.as_of_date(warehouse)))
        length = (end - start).days + 1
        previous_start, previous_end = start - timedelta(days=length), start - timedelta(days=1)
        if previous_start < date.min + timedelta(days=1):  # cannot happen within MIN_DAY, kept as a guard
            raise ApiError(422, "query.from", "too early to compare with a previous period")
        return {
            "period": {"from": start, "to": end},
            "previous_period": {"from": previous_start, "to": previous_end},
            "current": queries.kpi_figures(warehouse, start, end, country, category),
            "previous": queries.kpi_figures(warehouse, previous_start, previous_end, country, category),
            "country": country, "category": category,
        }

    @v1.get("/sales/daily", response_model=list[schemas.DailySales], dependencies=[aggregates], tags=["sales"])
    def sales_daily(warehouse: Warehouse, date_from: From = None, to: To = None, category: Category = None
                    ) -> list[dict[str, Any]]:
        """Completed sales per day (every day of the calendar, zeros included); default: the last 90 days."""
        as_of = queries.as_of_date(warehouse) or date.today()
        start, end = _range(date_from, to, (as_of - timedelta(days=89), as_of))
        if (end - start).days > 3660:
            raise ApiError(422, "query.from", "at most 10 years of days per request")
        return queries.daily_sales(warehouse, start, end, category)

    @v1.get("/sales/monthly", response_model=list[schemas.MonthlySales], dependencies=[aggregates], tags=["sales"])
    def sales_monthly(warehouse: Warehouse, date_from: From = None, to: To = None) -> list[dict[str, Any]]:
        """Completed sales per calendar month whose first day is in the range (default: the whole history)."""
        start, end = _range(date_from, to, _whole_history(queries.as_of_date(warehouse)))
        return queries.monthly_sales(warehouse, start, end)

    @v1.get("/sales/by-country", response_model=list[schemas.CountrySales], dependencies=[aggregates],
            tags=["sales"])
    def sales_by_country(warehouse: Warehouse, date_from: From = None, to: To = None, country: Country = None
                         ) -> list[dict[str, Any]]:
        """Completed sales per month x buyer country (mart_sales_by_country's grain: customers are distinct
        within a month), for the months whose first day is in the range (default: the whole history)."""
        start, end = _range(date_from, to, _whole_history(queries.as_of_date(warehouse)))
        return queries.sales_by_country(warehouse, start, end, country)

    @v1.get("/products/top", response_model=list[schemas.TopProduct], dependencies=[aggregates], tags=["sales"])
    def products_top(warehouse: Warehouse, n: Annotated[int, Query(ge=1, le=MAX_TOP)] = 10,
                     by: TopBy = TopBy.revenue, date_from: From = None, to: To = None, category: Category = None
                     ) -> list[dict[str, Any]]:
        """The n best products over the range by revenue, units or margin (default range: the whole history)."""
        start, end = _range(date_from, to, _whole_history(queries.as_of_date(warehouse)))
        return queries.top_products(warehouse, n, by.value, start, end, category)

    @v1.get("/customers/top", response_model=list[schemas.TopCustomer], tags=["customers"],
            response_model_exclude_unset=True)
    def customers_top(warehouse: Warehouse, key: Customers, n: Annotated[int, Query(ge=1, le=MAX_TOP)] = 10,
                      date_from: From = None, to: To = None, country: Country = None) -> list[dict[str, Any]]:
        """The n known customers with the most revenue over the range (default: the whole history). Names and
        e-mails only with the customers scope."""
        start, end = _range(date_from, to, _whole_history(queries.as_of_date(warehouse)))
        return [_strip_personal(row, key) for row in queries.top_customers(warehouse, n, start, end, country)]

    CustomerId = Annotated[str, PathParam(pattern=ID_PATTERN, description="customer id, e.g. C000001")]

    @v1.get("/customers/{customer_id}", response_model=schemas.Customer, tags=["customers"],
            response_model_exclude_unset=True)
    def customer(warehouse: Warehouse, key: Customers, customer_id: CustomerId) -> dict[str, Any]:
        """One customer: RFM scores and segment with its action, lead score (tier, action, reasons), behavioural
        segment, CLV and probability alive, the last 5 orders. Name, e-mail and city only with the customers
        scope."""
        found = queries.customer(warehouse, customer_id)
        if found is None:
            raise ApiError(404, "path.customer_id", f"no customer {customer_id!r}")
        last = queries.search_orders(warehouse, {"customer": customer_id}, None, 5)[:5]
        profile = {**found, "rfm": queries.customer_rfm(warehouse, customer_id),
                   "lead_score": queries.customer_score(warehouse, customer_id),
                   "behavioural_segment": queries.customer_segment(warehouse, customer_id),
                   "lifetime_value": queries.customer_clv(warehouse, customer_id), "last_orders": last}
        return _strip_personal(profile, key)

    Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"page size, at most {MAX_PAGE}")]
    Cursor = Annotated[str | None, Query(max_length=512, description="the `next` of the previous page")]

    def _page(warehouse: Snapshot, filters: dict[str, Any], cursor: str | None, limit: int) -> dict[str, Any]:
        digest = queries.filters_digest({k: queries.to_json_safe(v) for k, v in filters.items()})
        try:
            after = queries.decode_cursor(cursor, digest) if cursor else None
        except queries.CursorError as error:
            raise ApiError(422, "query.cursor", str(error)) from None
        rows = queries.search_orders(warehouse, filters, after, limit)
        more = len(rows) > limit
        rows = rows[:limit]
        return {"orders": rows, "next": queries.encode_cursor(rows[-1], digest) if more and rows else None}

    @v1.get("/customers/{customer_id}/orders", response_model=schemas.OrderPage, tags=["customers"])
    def customer_orders(warehouse: Warehouse, key: Customers, customer_id: CustomerId,
                        limit: Limit = DEFAULT_PAGE, cursor: Cursor = None) -> dict[str, Any]:
        """The customer's orders, newest first, a page at a time."""
        if queries.customer(warehouse, customer_id) is None:
            raise ApiError(404, "path.customer_id", f"no customer {customer_id!r}")
        return _page(warehouse, {"customer": customer_id}, cursor, limit)

    Money = Annotated[Decimal | None, Query(ge=0, le=Decimal("1e12"), max_digits=16, decimal_places=2)]

    @v1.get("/orders/search", response_model=schemas.OrderPage, tags=["orders"])
    def orders_search(warehouse: Warehouse, key: Customers,
                      customer: Annotated[str | None, Query(**TEXT)] = None, status: OrderStatus | None = None,
                      product: Annotated[str | None, Query(**TEXT)] = None, country: Country = None,
                      date_from: From = None, to: To = None, min_total: Money = None, max_total: Money = None,
                      q: Annotated[str | None, Query(description="part of an order or customer id", **TEXT)] = None,
                      limit: Limit = DEFAULT_PAGE, cursor: Cursor = None) -> dict[str, Any]:
        """Orders by customer, status, product, buyer country, date range, total (every line's value) and free
        text (part of the order or customer id), newest first. Pages: pass `next` back as `cursor` with the same
        filters; pages neither skip nor repeat an order."""
        _check_day(date_from, "from")
        _check_day(to, "to")
        if date_from and to and date_from > to:
            raise ApiError(422, "query.to", f"the range is empty: from {date_from} is after to {to}")
        if min_total is not None and max_total is not None and min_total > max_total:
            raise ApiError(422, "query.max_total", f"max_total {max_total} is below min_total {min_total}")
        filters = {"customer": customer, "status": status.value if status else None, "product": product,
                   "country": country, "date_from": date_from, "date_to": to, "min_total": min_total,
                   "max_total": max_total, "q": q}
        return _page(warehouse, filters, cursor, limit)

    @v1.get("/segments/rfm", response_model=list[schemas.RfmSegment], dependencies=[aggregates], tags=["customers"])
    def segments_rfm(warehouse: Warehouse) -> list[dict[str, Any]]:
        """Customers and lifetime revenue per RFM segment, with the segment's recommended action."""
        return queries.rfm_segments(warehouse)

    @v1.get("/cohorts/monthly", response_model=list[schemas.CohortMonth], dependencies=[aggregates],
            tags=["customers"])
    def cohorts_monthly(warehouse: Warehouse, date_from: From = None, to: To = None) -> list[dict[str, Any]]:
        """Monthly acquisition cohorts (first-order month in the range; default: all) and their retention."""
        start, end = _range(date_from, to, _whole_history(queries.as_of_date(warehouse)))
        return queries.cohorts_monthly(warehouse, start, end)

    @v1.get("/forecasts/{series}", response_model=schemas.Forecast, dependencies=[aggregates], tags=["forecasts"])
    def forecasts(warehouse: Warehouse, series: Annotated[str, PathParam(max_length=100)],
                  date_from: From = None, to: To = None) -> dict[str, Any]:
        """One forecast series (e.g. `revenue:total`, `units:Books`): actuals, forecast and its interval."""
        known = queries.forecast_series(warehouse)
        if series not in known:
            listed = ", ".join(known[:30]) or "none: the build made no forecast"
            raise ApiError(404, "path.series", f"no series {series!r}; available: {listed}")
        start, end = _range(date_from, to, (MIN_DAY, MAX_DAY))
        points = queries.forecast(warehouse, series, start, end)
        return {"series": series, "model_version": points[0]["model_version"] if points else None,
                "points": points}

    @v1.get("/inventory/stockouts", response_model=list[schemas.Stockout], dependencies=[aggregates],
            tags=["operations"])
    def inventory_stockouts(warehouse: Warehouse, within_lead_time: bool | None = None,
                            n: Annotated[int, Query(ge=1, le=MAX_TOP)] = 100) -> list[dict[str, Any]]:
        """Products by days until their forecast stock-out, soonest first."""
        return queries.stockouts(warehouse, within_lead_time, n)

    @v1.get("/quality", response_model=schemas.Quality, dependencies=[aggregates], tags=["operations"])
    def quality(warehouse: Warehouse) -> dict[str, Any]:
        """Rows quarantined or rejected per source and rule, and the last build's test results."""
        return {"quarantine": queries.quarantine(warehouse), "last_build": queries.last_build(warehouse)}

    def _model() -> Any:
        try:
            return state.models.get()
        except ModelUnavailableError as error:
            raise ApiError(503, "model", str(error)) from None

    def _row_problems(error: InvalidRowsError) -> list[dict[str, Any]]:
        return [{"field": f"{e.row_label} {e.row}.{e.column}", "reason": e.message} for e in error.errors[:1000]]

    @v1.post("/score", response_model=schemas.ScoreResult, dependencies=[scoring], tags=["scoring"])
    def score(features: Annotated[dict[str, Any], ...]) -> dict[str, Any]:
        """One lead's features (customer_id and the model's input columns, as `comptoir score` reads them) →
        score 0-100, Hot/Warm/Cold, action, reasons, model version."""
        model = _model()
        try:
            scored = score_frame(model, records_frame([features]), skip_invalid=False)
        except InvalidRowsError as error:
            raise _invalid(error) from None
        except InputError as error:
            raise ApiError(422, "body", str(error)) from None
        return scored.rows[0]

    def _invalid(error: InvalidRowsError) -> ApiError:
        failure = ApiError(422, "body", "; ".join(format_row_errors(error.errors, invalid_rows=error.invalid_rows)))
        failure.errors = [FieldError(**problem) for problem in _row_problems(error)]
        return failure

    @v1.post("/score/batch", response_model=schemas.BatchResult, dependencies=[scoring], tags=["scoring"],
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": {"type": "object", "required": ["rows"], "properties": {
                     "rows": {"type": "array", "maxItems": 10_000, "items": {"type": "object"}}}}},
                 "text/csv": {"schema": {"type": "string"}},
                 "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                     "file": {"type": "string", "format": "binary"}}}},
             }}})
    async def score_batch(request: Request, skip_invalid: bool = False) -> dict[str, Any]:
        """Up to 10,000 leads: `{"rows": [...]}` as JSON, a CSV body (`text/csv`) or a CSV file uploaded as
        `file` (multipart). The same row validation and messages as `comptoir score`; with skip_invalid=true the
        invalid rows are listed in `skipped` and the others scored."""
        frame = await _batch_frame(request)
        model = _model()
        try:
            scored = await run_in_threadpool(score_frame, model, frame, skip_invalid)
        except InvalidRowsError as error:
            raise _invalid(error) from None
        except InputError as error:
            raise ApiError(422, "body", str(error)) from None
        skipped = [{"row": f"{e.row_label} {e.row}", "customer_id": e.customer_id, "field": e.column,
                    "reason": e.message} for e in scored.errors]
        return {"model_version": model.version, "input_rows": scored.input_rows, "scored_rows": len(scored.rows),
                "scores": scored.rows, "skipped": skipped}

    app.include_router(v1)
    return app


async def _batch_frame(request: Request) -> Any:
    """The rows of a batch request, whichever way they came (JSON, CSV body, multipart upload)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if kind == "application/json":
            try:
                payload = json.loads(await request.body())
            except (ValueError, UnicodeDecodeError) as error:
                raise ApiError(422, "body", f"not valid JSON: {error}") from None
            rows = payload.get("rows") if isinstance(payload, dict) else None
            if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
                raise ApiError(422, "body.rows", "expected {\"rows\": [ {...}, ... ]}: a list of JSON objects")
            if not rows:
                raise ApiError(422, "body.rows", "no customer rows")
            if len(rows) > 10_000:
                raise ApiError(413, "body.rows", f"{len(rows):,} rows: at most 10,000 per request")
            return records_frame(rows)
        if kind == "text/csv":
            return await run_in_threadpool(csv_frame, await request.body())
        if kind == "multipart/form-data":
            form = await request.form(max_files=1, max_fields=10)
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise ApiError(422, "body.file", "upload the CSV as the form field `file`")
            return await run_in_threadpool(csv_frame, await upload.read())
    except InputError as error:
        raise ApiError(422, "body", str(error)) from None
    raise ApiError(415, "header.Content-Type",
                   "send application/json ({\"rows\": [...]}), text/csv, or multipart/form-data with a `file`")


def build_app(home: Path | None = None) -> FastAPI:
    """The application for COMPTOIR_HOME (uvicorn's factory: ``uvicorn --factory api.app:build_app``)."""
    return create_app(home or Settings.from_env().home)


def serve_app(home: Path) -> Any:
    """The ASGI application as served: size limits outermost, then CORS (closed unless COMPTOIR_API_CORS_ORIGINS)."""
    return BodyLimit(add_cors(create_app(home), cors_origins()))


def serve_app_from_env() -> Any:
    """serve_app for COMPTOIR_HOME: the factory each of uvicorn's worker processes calls."""
    return serve_app(Settings.from_env().home)
