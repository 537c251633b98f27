"""Probabilistic CLV: BG/NBD (who is still a customer, how often they buy) and Gamma-Gamma (how much they spend).

Input: one row per customer with the lifetimes-style summary (the dbt feature model
``features.feat_clv__customer_summary``, from ``mart_customer_ltv``; DECISIONS.md
"Probabilistic CLV summary"): ``frequency`` = repeat purchase periods, ``recency`` = first to last purchase,
``t`` (or ``T``) = first purchase to the end of observation, ``monetary_value`` = mean spend of the repeat
purchases, with times in ``time_unit`` (the mart is in days).

Fit (pymc-marketing ``BetaGeoModel`` / ``GammaGammaModel``, ``method="map"``):

* BG/NBD with flat priors (``HalfFlat`` on r, alpha, a, b): pymc-marketing's default priors are informative
  and pull a and b away from the maximum-likelihood answer; with flat priors MAP *is* maximum likelihood
  (pymc's ``find_MAP`` leaves the log-transform's Jacobian out), which is what Fader, Hardie & Lee (2005)
  report and what the CDNOW test reproduces.
* Gamma-Gamma (flat priors, pymc-marketing's default) only on repeat buyers with a positive mean spend: the
  model's spend is Gamma-distributed, so a customer whose repeat purchases were all free (mean 0) has no
  likelihood; they are left out of the fit and counted (``ClvResult.dropped_non_positive_spend``).

Predictions for every customer of the input (pymc-marketing's ``expected_probability_alive``,
``expected_purchases`` and ``expected_customer_spend`` at the fitted parameters):

* ``probability_alive``: P(still active at the end of observation); 1 for a customer without a repeat
  purchase (in BG/NBD a customer can only drop out right after a purchase).
* ``expected_purchases_90d`` / ``_365d``: E[Y(t) | x, t_x, T], expected purchases in the next 90 / 365 days
  (purchase days for the shop: the summary counts two orders on one day as one purchase).
* ``expected_avg_order_value``: Gamma-Gamma conditional expected spend per purchase,
  (1 - w) * population mean + w * own mean with w = p x / (p x + q - 1); a customer without a repeat purchase
  (x = 0) gets the population mean p gamma / (q - 1).
* ``clv_12m``: expected spend over the next 12 months, each month's expected purchases times the expected
  spend, discounted at ``monthly_discount_rate`` (default 1 % a month, 1.01^12 - 1 = 12.7 % a year) at the
  end of the month: sum over m = 1..12 of spend * (E[Y(m L)] - E[Y((m-1) L)]) / (1 + d)^m with L = 365 / 12
  days, so undiscounted it is exactly ``expected_purchases_365d`` x ``expected_avg_order_value``. This is
  lifetimes' / pymc-marketing's ``customer_lifetime_value`` scheme with calendar months (theirs takes a month
  as 30 days, or 4.345 weeks) and without writing into the caller's frame.

The time unit only rescales alpha (alpha in days = 7 x alpha in weeks when weeks are days / 7); r, a, b and
every prediction are the same. The shop's summary stays in days (the mart's unit, no conversion); the CDNOW
test uses weeks, as the paper does.

pymc / pytensor are imported inside the functions, after :func:`ml.clv.caches.configure_caches`, because
pytensor fixes its compile-cache folder on import.

Scale. The two MAP fits run on a seeded uniform sample of at most FIT_SAMPLE_CUSTOMERS customers (every
customer below that: the sample, and CDNOW, are fitted whole): seven population parameters are pinned down
long before a million customers, while the fit's cost grows with them. The predictions use pymc-marketing's
own closed forms (BetaGeoModel.expected_purchases / expected_probability_alive, GammaGammaModel's
expected_customer_spend) evaluated with numpy and scipy at the fitted parameters, which is linear in customers
without xarray's overhead; the log-likelihoods in the run's record are over every customer (DECISIONS.md,
"ML at scale").
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import warnings
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy.special import betaln, expit, gammaln, hyp2f1

from ml.clv.caches import configure_caches, quiet_libraries
from ml.progress import step
from ml.warehouse import InsufficientDataError, features

if TYPE_CHECKING:
    import duckdb

logger = logging.getLogger(__name__)

TimeUnit = Literal["day", "week"]
DAYS_PER_UNIT: dict[str, float] = {"day": 1.0, "week": 7.0}
MONTHLY_DISCOUNT_RATE = 0.01  # 1 % a month = 12.7 % a year (1.01 ** 12 - 1)
CLV_MONTHS = 12
DAYS_PER_MONTH = 365.0 / 12.0
HORIZONS_DAYS: tuple[int, ...] = (90, 365)
BGNBD_PARAMETERS: tuple[str, ...] = ("r", "alpha", "a", "b")
GAMMA_GAMMA_PARAMETERS: tuple[str, ...] = ("p", "q", "gamma")  # pymc-marketing calls gamma "v"
SUMMARY_COLUMNS: tuple[str, ...] = ("customer_id", "frequency", "recency", "T", "monetary_value")
SUMMARY_MODEL = "feat_clv__customer_summary"  # the dbt feature model the summary is read from
# pytensor's graph mode for the MAP fit. Below C_MODE_MIN_CUSTOMERS, FAST_COMPILE runs the log-likelihood and its
# gradient as numpy calls instead of generated C: it skips the C compile of a cold cache (about a minute here),
# and on the sample (1,287 customers) it fits as fast as C. With many customers C pays for its compile (CDNOW
# master, 23,570 customers: 9 s warm against 21 s), so larger fits use pytensor's default mode and its cache.
PYTENSOR_MODE = "FAST_COMPILE"
C_MODE_MIN_CUSTOMERS = 50_000
# Customers the MAP fits see at most (module docstring, "Scale"); above CDNOW's 23,570 so that test fits it whole.
FIT_SAMPLE_CUSTOMERS = 25_000
MODEL_FAMILY = "clv"


@dataclass(frozen=True)
class ClvResult:
    customers: pd.DataFrame  # customer_id, the summary (T as t) and the predictions, in input order
    parameters: dict[str, float]  # r, alpha, a, b (BG/NBD, alpha in time_unit) and p, q, gamma (Gamma-Gamma)
    time_unit: TimeUnit
    monthly_discount_rate: float
    model_version: str
    repeat_buyers_fitted: int  # customers the Gamma-Gamma model was fitted on
    dropped_non_positive_spend: int  # repeat buyers left out of the Gamma-Gamma fit (mean spend <= 0)
    bgnbd_log_likelihood: float
    gamma_gamma_log_likelihood: float
    fit_seconds: float  # both MAP fits, pymc's import excluded
    import_seconds: float = 0.0  # importing pymc / pymc-marketing (once per process)
    converged: bool = True  # no parameter step of 0.1 % raises either log-likelihood
    settings: dict[str, Any] = field(default_factory=dict)
    customers_fitted: int = 0  # customers the BG/NBD model was fitted on (all, or a sample: module docstring)

    def metrics(self) -> dict[str, float]:
        """Aggregate figures for a run's metadata (plain ints and floats)."""
        c = self.customers
        return {
            "customers": len(c),
            "repeat_buyers": int((c["frequency"] > 0).sum()),
            "repeat_buyers_fitted": self.repeat_buyers_fitted,
            "customers_fitted": self.customers_fitted,
            "dropped_non_positive_spend": self.dropped_non_positive_spend,
            "mean_probability_alive": float(c["probability_alive"].mean()),
            **{
                f"expected_purchases_{days}d": float(c[f"expected_purchases_{days}d"].sum())
                for days in self.settings.get("horizons_days", HORIZONS_DAYS)
            },
            "mean_expected_avg_order_value": float(c["expected_avg_order_value"].mean()),
            "population_mean_spend": population_mean_spend(self.parameters),
            "mean_clv_12m": float(c["clv_12m"].mean()),
            "total_clv_12m": float(c["clv_12m"].sum()),
            "bgnbd_log_likelihood": self.bgnbd_log_likelihood,
            "gamma_gamma_log_likelihood": self.gamma_gamma_log_likelihood,
            "fit_seconds": self.fit_seconds,
            "import_seconds": self.import_seconds,
            "converged": self.converged,
        }


def read_clv_summary(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The per-customer summary (days) from the feature model ``feat_clv__customer_summary``, by customer_id."""
    return (
        features(con, SUMMARY_MODEL)
        .project("customer_id, frequency, recency, t, monetary_value, as_of_date")
        .order("customer_id")
        .df()
    )


def prepare_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """Validate the summary and return the model's columns (``t`` renamed ``T``, numbers as float)."""
    frame = summary.rename(columns={"t": "T"}) if "t" in summary.columns and "T" not in summary.columns else summary
    missing = [c for c in SUMMARY_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"the CLV summary lacks column(s) {missing}; it has {list(summary.columns)}")
    frame = frame.loc[:, list(SUMMARY_COLUMNS)].reset_index(drop=True)
    if frame.empty:
        raise InsufficientDataError("the CLV summary has no customer")
    if frame.isna().any().any():
        raise ValueError(f"the CLV summary has nulls: {frame.isna().sum()[lambda s: s > 0].to_dict()}")
    if not frame["customer_id"].is_unique:
        raise ValueError("the CLV summary has duplicate customer_id values")
    numbers = frame[["frequency", "recency", "T", "monetary_value"]].astype("float64")
    if (numbers["frequency"] < 0).any() or (numbers["frequency"] % 1 != 0).any():
        raise ValueError("frequency must be a non-negative whole number of repeat purchases")
    if (numbers["recency"] < 0).any() or (numbers["recency"] > numbers["T"]).any():
        raise ValueError("recency must lie in [0, T]")
    if ((numbers["frequency"] == 0) & (numbers["recency"] != 0)).any():
        raise ValueError("a customer without a repeat purchase must have recency 0")
    frame[numbers.columns] = numbers
    return frame


def fit_clv(
    summary: pd.DataFrame,
    time_unit: TimeUnit = "day",
    *,
    monthly_discount_rate: float = MONTHLY_DISCOUNT_RATE,
    horizons_days: tuple[int, ...] = HORIZONS_DAYS,
    cache_root: Path | None = None,
    as_of: date | None = None,
    fit_sample_customers: int = FIT_SAMPLE_CUSTOMERS,
    seed: int = 0,
) -> ClvResult:
    """Fit BG/NBD + Gamma-Gamma on ``summary`` and predict every customer's CLV (see the module docstring).

    ``horizons_days``: one ``expected_purchases_<n>d`` column per horizon (in days whatever the time unit).
    ``cache_root``: where pytensor caches (``configure_caches``); None leaves the environment as it is.
    ``as_of``: the observation end, only used to name the model version. ``fit_sample_customers`` and
    ``seed``: the fits' sample (module docstring, "Scale").
    """
    if time_unit not in DAYS_PER_UNIT:
        raise ValueError(f"time_unit must be one of {sorted(DAYS_PER_UNIT)}, not {time_unit!r}")
    if not 0 <= monthly_discount_rate < 1:
        raise ValueError(f"monthly_discount_rate must lie in [0, 1), not {monthly_discount_rate}")
    data = prepare_summary(summary)
    if cache_root is not None:
        configure_caches(cache_root)
    started = time.perf_counter()
    _import_clv_models()
    import_seconds = time.perf_counter() - started
    started = time.perf_counter()
    fitted = _fit_sample(data, fit_sample_customers, seed)
    with step(logger, "CLV: BG/NBD fit", len(fitted), "customers"):
        bgnbd = _fit_bgnbd(fitted)
    spenders = data[(data["frequency"] > 0) & (data["monetary_value"] > 0)]
    fitted_spenders = fitted[(fitted["frequency"] > 0) & (fitted["monetary_value"] > 0)]
    dropped = int(((data["frequency"] > 0) & (data["monetary_value"] <= 0)).sum())
    if dropped:
        logger.info("Gamma-Gamma: %d repeat buyer(s) with a mean spend <= 0 left out of the fit", dropped)
    if len(fitted_spenders) < 2:
        raise InsufficientDataError(
            f"Gamma-Gamma needs repeat buyers with a positive spend; the summary has {len(fitted_spenders)}"
        )
    with step(logger, "CLV: Gamma-Gamma fit", len(fitted_spenders), "repeat buyers"):
        gamma_gamma = _fit_gamma_gamma(fitted_spenders)
    fit_seconds = time.perf_counter() - started

    parameters = {**_parameters(bgnbd, ("r", "alpha", "a", "b")), **dict(
        zip(GAMMA_GAMMA_PARAMETERS, _parameters(gamma_gamma, ("p", "q", "v")).values(), strict=True)
    )}
    bad = {k: v for k, v in parameters.items() if not (np.isfinite(v) and v > 0)}
    if bad:
        raise ValueError(f"the CLV fit did not converge to finite positive parameters: {bad}")
    if parameters["q"] <= 1:
        raise ValueError(f"Gamma-Gamma q = {parameters['q']:.4f} <= 1: the population mean spend is infinite")

    with step(logger, "CLV: predictions", len(data), "customers"):
        customers = predict_clv(
            parameters, data, time_unit, monthly_discount_rate=monthly_discount_rate, horizons_days=horizons_days
        )
    settings = {
        "time_unit": time_unit,
        "monthly_discount_rate": monthly_discount_rate,
        "clv_months": CLV_MONTHS,
        "days_per_month": DAYS_PER_MONTH,
        "horizons_days": list(horizons_days),
        "priors": "HalfFlat (BG/NBD r, alpha, a, b; Gamma-Gamma p, q, v)",
        "method": "map",
        "fit_sample_customers": fit_sample_customers,
        "seed": seed,
    }
    result = ClvResult(
        customers=customers,
        parameters=parameters,
        time_unit=time_unit,
        monthly_discount_rate=monthly_discount_rate,
        model_version=model_version(data, settings, as_of),
        repeat_buyers_fitted=len(fitted_spenders),
        customers_fitted=len(fitted),
        dropped_non_positive_spend=dropped,
        bgnbd_log_likelihood=float(bgnbd_log_likelihood(parameters, data).sum()),
        gamma_gamma_log_likelihood=float(gamma_gamma_log_likelihood(parameters, spenders).sum()),
        fit_seconds=fit_seconds,
        import_seconds=import_seconds,
        # At the maximum of what was fitted (the sample); the record's log-likelihoods are over every customer.
        converged=_at_maximum(bgnbd_log_likelihood, parameters, BGNBD_PARAMETERS, fitted)
        and _at_maximum(gamma_gamma_log_likelihood, parameters, GAMMA_GAMMA_PARAMETERS, fitted_spenders),
        settings=settings,
    )
    logger.info(
        "CLV %s: %d customers, BG/NBD r=%.4f alpha=%.4f a=%.4f b=%.4f, Gamma-Gamma p=%.4f q=%.4f gamma=%.4f "
        "over %d repeat buyers (fitted on %d customers), fitted in %.1fs",
        result.model_version, len(customers), *parameters.values(), len(fitted_spenders), len(fitted), fit_seconds,
    )
    return result


def _fit_sample(data: pd.DataFrame, limit: int, seed: int) -> pd.DataFrame:
    """Every customer, or a seeded uniform sample of ``limit`` of them (in the summary's customer order)."""
    if len(data) <= limit:
        return data
    rows = np.sort(np.random.default_rng(seed).choice(len(data), size=limit, replace=False))
    logger.info("CLV: fitting on a random %d of %d customers", limit, len(data))
    return data.iloc[rows].reset_index(drop=True)


def expected_purchases(parameters: dict[str, float], x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray,
                       t: float) -> np.ndarray:
    """E[Y(t) | x, t_x, T] under BG/NBD: pymc-marketing's BetaGeoModel.expected_purchases, term for term."""
    r, alpha, a, b = (parameters[k] for k in BGNBD_PARAMETERS)
    numerator = 1 - ((alpha + big_t) / (alpha + big_t + t)) ** (r + x) * hyp2f1(
        r + x, b + x, a + b + x - 1, t / (alpha + big_t + t)
    )
    numerator *= (a + b + x - 1) / (a - 1)
    denominator = 1 + (x > 0) * (a / (b + x - 1)) * ((alpha + big_t) / (alpha + t_x)) ** (r + x)
    return numerator / denominator


def probability_alive(parameters: dict[str, float], x: np.ndarray, t_x: np.ndarray,
                      big_t: np.ndarray) -> np.ndarray:
    """P(alive | x, t_x, T): pymc-marketing's BetaGeoModel.expected_probability_alive (1 without a repeat)."""
    r, alpha, a, b = (parameters[k] for k in BGNBD_PARAMETERS)
    log_div = (r + x) * np.log((alpha + big_t) / (alpha + t_x)) + np.log(a / (b + np.maximum(x, 1) - 1))
    return np.where(x == 0, 1.0, expit(-log_div))


def expected_spend(parameters: dict[str, float], x: np.ndarray, mean_value: np.ndarray) -> np.ndarray:
    """Gamma-Gamma conditional expected spend: pymc-marketing's GammaGammaModel.expected_customer_spend."""
    p, q, v = (parameters[k] for k in GAMMA_GAMMA_PARAMETERS)
    individual_weight = p * x / (p * x + q - 1)
    population_mean = v * p / (q - 1)
    return (1 - individual_weight) * population_mean + individual_weight * mean_value


def predict_clv(
    parameters: dict[str, float],
    data: pd.DataFrame,
    time_unit: TimeUnit = "day",
    *,
    monthly_discount_rate: float = MONTHLY_DISCOUNT_RATE,
    horizons_days: tuple[int, ...] = HORIZONS_DAYS,
) -> pd.DataFrame:
    """Per-customer predictions at the fitted parameters (r, alpha, a, b, p, q, gamma), in ``data``'s row order.

    ``data`` is a prepared summary (:func:`prepare_summary`). Returns its columns (``T`` as ``t``) plus
    probability_alive, expected_purchases_<n>d for each horizon, expected_avg_order_value and clv_12m.
    """
    unit_days = DAYS_PER_UNIT[time_unit]
    x, t_x, big_t = _columns(data)

    def purchases(future_days: float) -> np.ndarray:
        return expected_purchases(parameters, x, t_x, big_t, future_days / unit_days)

    out = data.rename(columns={"T": "t"})
    out["probability_alive"] = probability_alive(parameters, x, t_x, big_t)
    for days in horizons_days:
        out[f"expected_purchases_{days}d"] = purchases(days)
    # A mean spend below 0 cannot be; 0 (free repeat orders) shrinks the population mean towards 0.
    spend = expected_spend(parameters, x, data["monetary_value"].clip(lower=0).to_numpy(dtype="float64"))
    out["expected_avg_order_value"] = spend
    cumulative = np.column_stack(
        [np.zeros(len(data))] + [purchases(m * DAYS_PER_MONTH) for m in range(1, CLV_MONTHS + 1)]
    )
    discount = (1.0 + monthly_discount_rate) ** -np.arange(1, CLV_MONTHS + 1)
    out["clv_12m"] = spend * (np.diff(cumulative, axis=1) @ discount)
    return out


# --- log-likelihoods (Fader, Hardie & Lee 2005; Fader & Hardie 2013), for the run's record ----------------------


def _columns(data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t_col = "T" if "T" in data.columns else "t"
    return (
        data["frequency"].to_numpy(dtype="float64"),
        data["recency"].to_numpy(dtype="float64"),
        data[t_col].to_numpy(dtype="float64"),
    )


def population_mean_spend(parameters: dict[str, float]) -> float:
    """Gamma-Gamma mean spend per purchase of a customer we know nothing about: p gamma / (q - 1)."""
    return parameters["p"] * parameters["gamma"] / (parameters["q"] - 1)


def bgnbd_log_likelihood(parameters: dict[str, float], data: pd.DataFrame) -> np.ndarray:
    """Each customer's BG/NBD log-likelihood, FHL (2005) eq. 6 (sums to the paper's LL on CDNOW)."""
    r, alpha, a, b = (parameters[k] for k in BGNBD_PARAMETERS)
    x, t_x, big_t = _columns(data)
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    alive = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + big_t)
    with np.errstate(invalid="ignore", divide="ignore"):
        dead = betaln(a + 1, b + x - 1) - betaln(a, b) - (r + x) * np.log(alpha + t_x)
    return common + np.where(x > 0, np.logaddexp(alive, np.where(x > 0, dead, -np.inf)), alive)


def gamma_gamma_log_likelihood(parameters: dict[str, float], data: pd.DataFrame) -> np.ndarray:
    """Each repeat buyer's Gamma-Gamma log-likelihood of the mean spend (Fader & Hardie 2013 eq. 1a)."""
    p, q, v = (parameters[k] for k in GAMMA_GAMMA_PARAMETERS)
    x = data["frequency"].to_numpy(dtype="float64")
    z = data["monetary_value"].to_numpy(dtype="float64")
    return (
        gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(v)
        + (p * x - 1) * np.log(z) + p * x * np.log(x) - (p * x + q) * np.log(x * z + v)
    )


def _at_maximum(
    log_likelihood: Any, parameters: dict[str, float], names: tuple[str, ...], data: pd.DataFrame, step: float = 1e-3
) -> bool:
    """True when moving any one parameter by +-``step`` (relative) does not raise the total log-likelihood.

    A cheap guard against an optimiser that stopped early: MAP with flat priors must sit at the likelihood's
    maximum. The tolerance allows for rounding in the sum.
    """
    best = float(log_likelihood(parameters, data).sum())
    for name in names:
        for factor in (1 - step, 1 + step):
            moved = float(log_likelihood({**parameters, name: parameters[name] * factor}, data).sum())
            if moved > best + 1e-6 * max(1.0, abs(best)):
                logger.warning("CLV fit not at the maximum: %s x %.3f raises the log-likelihood", name, factor)
                return False
    return True


# --- pymc-marketing ------------------------------------------------------------------------------------------


def _import_clv_models() -> tuple[Any, Any, Any]:
    """pymc-marketing's BetaGeoModel, GammaGammaModel and Prior, imported quietly (after configure_caches)."""
    quiet_libraries()
    with warnings.catch_warnings():
        # arviz announces its refactor (a FutureWarning) on import: nothing about our results.
        warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")
        from pymc_extras.prior import Prior
        from pymc_marketing.clv import BetaGeoModel, GammaGammaModel
    quiet_libraries()  # pymc sets its own logger to INFO on import when the root logger has no handler
    return BetaGeoModel, GammaGammaModel, Prior


def _fit(model: Any, data: pd.DataFrame) -> Any:
    import pytensor

    mode = PYTENSOR_MODE if len(data) < C_MODE_MIN_CUSTOMERS else pytensor.config.mode
    with warnings.catch_warnings(), pytensor.config.change_flags(mode=mode):
        # pymc-marketing warns that a MAP fit gives point estimates only: that is the point here.
        warnings.filterwarnings("ignore", message=".*[Mm]aximum a [Pp]osteriori.*")
        model.fit(data=data, method="map", progressbar=False)
    return model


def _fit_bgnbd(data: pd.DataFrame) -> Any:
    beta_geo_model, _, prior = _import_clv_models()
    flat = {name: prior("HalfFlat") for name in BGNBD_PARAMETERS}
    return _fit(beta_geo_model(model_config=flat), data[["customer_id", "frequency", "recency", "T"]])


def _fit_gamma_gamma(spenders: pd.DataFrame) -> Any:
    _, gamma_gamma_model, prior = _import_clv_models()
    flat = {name: prior("HalfFlat") for name in ("p", "q", "v")}
    return _fit(gamma_gamma_model(model_config=flat), spenders[["customer_id", "frequency", "monetary_value"]])


def _parameters(model: Any, names: tuple[str, ...]) -> dict[str, float]:
    posterior = model.fit_result  # MAP: one chain, one draw
    return {name: float(np.asarray(posterior[name]).reshape(-1)[0]) for name in names}


def model_version(data: pd.DataFrame, settings: dict[str, Any], as_of: date | None) -> str:
    """``clv-[<as_of>-]<12 hex>``: a sha256 of the summary (in customer order), the settings and the library."""
    import importlib.metadata

    ordered = data.sort_values("customer_id", kind="stable").reset_index(drop=True)
    digest = hashlib.sha256(pd.util.hash_pandas_object(ordered, index=False).to_numpy().tobytes())
    payload = {**settings, "pymc_marketing": importlib.metadata.version("pymc-marketing")}
    digest.update(json.dumps(payload, sort_keys=True, default=str).encode())
    prefix = f"{MODEL_FAMILY}-{as_of.isoformat()}-" if as_of else f"{MODEL_FAMILY}-"
    return prefix + digest.hexdigest()[:12]
