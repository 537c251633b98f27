"""Propensity model on a small synthetic shop, built into a warehouse by the real raw load and dbt feature models
(tests/feature_builds.py), with the dbt vars fixing the as-of date and a 30-day label window.

Each customer switches between an "active" and a "dormant" state month by month (a sticky Markov chain).
Active customers visit the site, open and click e-mails and buy far more often, so recent activity and
e-mail clicks predict a purchase in the next 30 days. The "noise shop" (``noise=True``) has the same
customers, but every purchase, visit and e-mail is drawn at one constant rate: nothing predicts the future,
so the model cannot beat the RFM baseline and the baseline must be what is published.
"""

from __future__ import annotations

import dataclasses
import itertools
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from ml.propensity import model, tables
from ml.propensity.baseline import (
    BASELINE_SCORER,
    MODEL_SCORER,
    choose_scorer,
    fit_rfm_baseline,
)
from ml.propensity.features import build_features, build_labels, read_cutoff_plan
from ml.propensity.model import (
    SEGMENT_ACTIONS,
    TrainingResult,
    assign_segments,
    score_customers,
    train_and_evaluate,
)
from ml.propensity.tables import customer_scores_table
from tests.feature_builds import Shop, connect_features

# Builds feature warehouses with dbt and trains models: minutes, not seconds (README: Contributing).
pytestmark = pytest.mark.slow

START = date(2024, 1, 1)
AS_OF = date(2025, 12, 31)
N_CUSTOMERS = 400
N_DAYS = (AS_OF - START).days + 1
HORIZON = 30


def _dates(day_index: np.ndarray) -> pd.Series:
    return pd.Series(pd.Timestamp(START) + pd.to_timedelta(day_index, unit="D"))


def synthetic_shop(seed: int = 42, noise: bool = False) -> Shop:
    rng = np.random.default_rng(seed)
    n_months = N_DAYS // 30 + 1
    active = np.zeros((N_CUSTOMERS, n_months), dtype=bool)
    active[:, 0] = rng.random(N_CUSTOMERS) < 0.3
    for m in range(1, n_months):  # loop over months, not rows
        stay = rng.random(N_CUSTOMERS) < 0.8
        wake = rng.random(N_CUSTOMERS) < 0.15
        active[:, m] = np.where(active[:, m - 1], stay, wake)
    day = np.arange(N_DAYS)
    act = active[:, day // 30].astype(float)  # customers x days
    if noise:  # every customer equally likely to act on every day: the past says nothing about the future
        act = np.full(act.shape, active.mean())
    registered = rng.integers(0, 180, N_CUSTOMERS)
    alive = day[None, :] >= registered[:, None]
    engagement = rng.uniform(0.5, 1.5, N_CUSTOMERS)[:, None]
    ids = np.char.add("C", np.char.zfill(np.arange(N_CUSTOMERS).astype(str), 4))

    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "loyalty_tier": rng.choice(["bronze", "silver", "gold"], N_CUSTOMERS),
            "country_code": rng.choice(["FR", "DE", "NL"], N_CUSTOMERS),
            "registered_on": _dates(registered),
            "is_unknown_member": False,
        }
    )

    cust, order_day = np.nonzero(alive & (rng.random(act.shape) < 0.002 + 0.025 * act * engagement))
    lines = pd.DataFrame(
        {
            "order_id": np.char.add("O", np.arange(len(cust)).astype(str)),
            "customer_id": ids[cust],
            "category": rng.choice(["Books", "Electronics", "Home & Kitchen"], len(cust)),
            "order_date": _dates(order_day),
            "is_sale": rng.random(len(cust)) < 0.95,
            "revenue": np.round(rng.gamma(2.0, 30.0, len(cust)), 2),
        }
    )

    cust, web_day = np.nonzero(alive & (rng.random(act.shape) < 0.01 + 0.12 * act))
    sessions = pd.DataFrame({"customer_id": ids[cust], "session_date": _dates(web_day)})

    sent = alive & ((day[None, :] - registered[:, None]) % 7 == 0)
    opened = sent & (rng.random(act.shape) < 0.15 + 0.55 * act)
    clicked = opened & (rng.random(act.shape) < 0.1 + 0.5 * act)
    email_frames = []
    for kind, mask in (("sent", sent), ("opened", opened), ("clicked", clicked)):
        cust, email_day = np.nonzero(mask)
        email_frames.append(
            # Opens and clicks fall on the day of their send: one campaign per day.
            pd.DataFrame(
                {
                    "customer_id": ids[cust],
                    "campaign_id": np.char.add("K", email_day.astype(str)),
                    "event_type": kind,
                    "event_date": _dates(email_day),
                }
            )
        )
    emails = pd.concat(email_frames, ignore_index=True)

    return Shop.from_frames(customers, lines, emails, sessions)


def _make_synthetic_con(root: Path, seed: int = 42, noise: bool = False,
                        **dbt_vars: object) -> duckdb.DuckDBPyConnection:
    """The synthetic shop's warehouse with the feature models built: as of AS_OF, a HORIZON-day window by default."""
    return connect_features(synthetic_shop(seed, noise), root,
                            {"as_of_date": AS_OF, "propensity_horizon_days": HORIZON, **dbt_vars})


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    return _make_synthetic_con(tmp_path_factory.mktemp("shop"))


@pytest.fixture(scope="module")
def con2(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    """Another warehouse built from identical data."""
    return _make_synthetic_con(tmp_path_factory.mktemp("same-shop"))


@pytest.fixture(scope="module")
def trained(con: duckdb.DuckDBPyConnection) -> TrainingResult:
    return train_and_evaluate(con, seed=0)


@pytest.fixture(scope="module")
def scored(con: duckdb.DuckDBPyConnection, trained: TrainingResult) -> pd.DataFrame:
    return score_customers(trained, build_features(con, [trained.eval_cutoff]))


def test_training_label_windows_end_before_evaluation(trained: TrainingResult) -> None:
    assert trained.eval_cutoff == AS_OF - timedelta(days=HORIZON - 1)  # labels [2025-12-02, 2026-01-01)
    cutoffs = trained.training_cutoffs
    assert 2 <= len(cutoffs) <= 12
    assert cutoffs == sorted(cutoffs)
    assert all(c <= trained.eval_cutoff - timedelta(days=HORIZON) for c in cutoffs)
    assert all(c + timedelta(days=HORIZON) <= trained.eval_cutoff for c in cutoffs)  # no label window overlap
    assert {(b - a).days for a, b in itertools.pairwise(cutoffs)} == {30}
    assert trained.validation_cutoff == cutoffs[-1]


def test_feature_set_excludes_leaky_and_key_columns(trained: TrainingResult) -> None:
    names = set(trained.feature_names)
    assert names.isdisjoint({"loyalty_tier", "label", "customer_id", "cutoff", "country_code"})
    assert {"country_DE", "country_FR", "country_NL"} <= names
    assert {"days_since_last_order", "days_since_last_order_missing", "emails_clicked_90d"} <= names


def test_model_learns_the_synthetic_signal(trained: TrainingResult) -> None:
    assert set(trained.validation_auc) == {"random_forest", "hist_gradient_boosting"}
    assert trained.model_name in trained.validation_auc
    assert trained.validation_auc[trained.model_name] == max(trained.validation_auc.values())
    auc = trained.metrics["roc_auc"]
    assert auc > 0.6
    assert auc >= trained.baseline_metrics["roc_auc"] or auc > 0.6
    assert trained.metrics["top_decile_lift"] > 1.0
    assert 0.0 <= trained.metrics["brier"] <= 1.0
    assert set(trained.baseline_metrics) == set(trained.metrics)


def test_scores_segments_and_actions(scored: pd.DataFrame) -> None:
    assert list(scored.columns) == ["customer_id", "score", "segment", "action", "reasons", "scorer"]
    assert scored["customer_id"].is_unique
    assert scored["score"].between(0, 100).all()
    assert (scored["score"] == scored["score"].round(1)).all()
    expected = np.where(scored["score"] >= 70, "Hot", np.where(scored["score"] >= 40, "Warm", "Cold"))
    assert (scored["segment"].to_numpy() == expected).all()
    assert (scored["action"] == scored["segment"].map(SEGMENT_ACTIONS)).all()


def test_segment_thresholds_exact() -> None:
    got = assign_segments(pd.Series([69.9, 70.0, 39.9, 40.0, 0.0, 100.0]))
    assert got.tolist() == ["Warm", "Hot", "Cold", "Warm", "Cold", "Hot"]


class _FixedProbabilities:
    def __init__(self, p: np.ndarray) -> None:
        self.p = p

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        assert len(x) == len(self.p)
        return np.column_stack([1 - self.p, self.p])


def test_segment_thresholds_through_score_customers(con: duckdb.DuckDBPyConnection, trained: TrainingResult) -> None:
    features = build_features(con, [trained.eval_cutoff]).head(4)
    stub = dataclasses.replace(trained, model=_FixedProbabilities(np.array([0.699, 0.70, 0.399, 0.40])))
    out = score_customers(stub, features)
    assert out["score"].tolist() == [69.9, 70.0, 39.9, 40.0]
    assert out["segment"].tolist() == ["Warm", "Hot", "Cold", "Warm"]
    follow_up, call, nurture = SEGMENT_ACTIONS["Warm"], SEGMENT_ACTIONS["Hot"], SEGMENT_ACTIONS["Cold"]
    assert (follow_up, call, nurture) == ("Follow up within 48 hours", "Call now", "Automated email nurture")
    assert out["action"].tolist() == [follow_up, call, nurture, follow_up]


def test_same_seed_gives_identical_scores(
    con2: duckdb.DuckDBPyConnection, trained: TrainingResult, scored: pd.DataFrame
) -> None:
    again = train_and_evaluate(con2, seed=0)  # a warehouse built again from identical data
    assert again.model_name == trained.model_name
    assert again.validation_auc == trained.validation_auc
    assert again.metrics == trained.metrics
    rescored = score_customers(again, build_features(con2, [again.eval_cutoff]))
    pd.testing.assert_frame_equal(rescored, scored)


def test_reasons_are_three_plain_sentences(scored: pd.DataFrame) -> None:
    reasons = scored["reasons"]
    assert reasons.map(len).eq(3).all()
    flat = pd.Series([r for row in reasons for r in row])
    assert flat.map(lambda s: isinstance(s, str) and s.strip() != "").all()
    assert reasons.map(lambda row: len(set(row)) == 3).all()
    assert not flat.str.contains("_").any()  # plain words, not column names
    assert flat.str.contains(r"^(?:Ordered|Visited the site|Opened|Last order|Clicked|Spent)").any()


def test_high_scores_are_not_explained_by_what_did_not_happen(trained: TrainingResult, scored: pd.DataFrame) -> None:
    above_base_rate = scored["score"] / 100 >= trained.metrics["positive_rate"]
    assert above_base_rate.any() and (~above_base_rate).any()
    absences = r"^(?:Ordered 0 times|Spent 0\.00|Visited the site 0 times|Received 0 e-mails|0% of spend)"
    first_reasons = scored.loc[above_base_rate, "reasons"].map(lambda row: row[0])
    assert not first_reasons.str.contains(absences).any()
    # Below the base rate, reasons say why the score is low: e.g. no recent orders.
    low_reasons = pd.Series([r for row in scored.loc[~above_base_rate, "reasons"] for r in row])
    assert low_reasons.str.contains(r"^(?:Ordered 0 times|Last order \d+ days ago|Has not ordered yet)").any()
    assert not low_reasons.str.contains(r"^0% of spend").any()


def test_a_row_cap_trains_on_a_repeatable_uniform_sample(
    tmp_path_factory: pytest.TempPathFactory, con: duckdb.DuckDBPyConnection, con2: duckdb.DuckDBPyConnection
) -> None:
    """dbt keeps about propensity_max_training_rows training rows (a hash of the key): the same rows on every build,
    their features those of the whole population, and the evaluation and scoring cutoffs keep every customer."""
    capped = [_make_synthetic_con(tmp_path_factory.mktemp(f"capped-{i}"), propensity_max_training_rows=600)
              for i in range(2)]
    plan = read_cutoff_plan(con)
    whole = build_features(con, plan.training_cutoffs)
    sampled = build_features(capped[0], plan.training_cutoffs)
    assert len(whole) > 600 * 3 and abs(len(sampled) - 600) < 120  # 600 expected, binomial spread ~25
    pd.testing.assert_frame_equal(build_features(capped[1], plan.training_cutoffs), sampled)  # repeatable
    # A subset of the population's rows, each with its unsampled features and labels.
    keys = ["customer_id", "cutoff"]
    subset = whole.merge(sampled[keys], on=keys, how="inner")
    pd.testing.assert_frame_equal(subset, sampled)
    labels = build_labels(con, plan.training_cutoffs).merge(sampled[keys], on=keys, how="inner")
    pd.testing.assert_frame_equal(labels, build_labels(capped[0], plan.training_cutoffs))
    for cutoff in (plan.eval_cutoff, plan.scoring_cutoff):
        pd.testing.assert_frame_equal(build_features(capped[0], [cutoff]), build_features(con, [cutoff]))
    # Uniform: every training cutoff is represented about equally (each holds about 1/12 of the rows).
    per_cutoff = sampled.groupby("cutoff").size() / whole.groupby("cutoff").size()
    assert per_cutoff.between(0.5 * len(sampled) / len(whole), 1.5 * len(sampled) / len(whole)).all()
    first, again = train_and_evaluate(capped[0], seed=0), train_and_evaluate(capped[1], seed=0)
    assert first.training_params["max_training_rows"] == 600
    assert first.metrics == again.metrics and first.data_fingerprint == again.data_fingerprint


def test_evaluation_in_chunks_gives_the_same_metrics(
    con: duckdb.DuckDBPyConnection, trained: TrainingResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model, "CHUNK_ROWS", 90)  # the evaluation cutoff's ~400 customers in five chunks
    again = train_and_evaluate(con, seed=0)
    assert again.metrics == trained.metrics and again.baseline_metrics == trained.baseline_metrics


def test_candidates_compared_on_a_bounded_sample(con: duckdb.DuckDBPyConnection, trained: TrainingResult) -> None:
    """The choice between the candidates sees at most max_selection_rows older rows; the chosen model all rows."""
    bounded = train_and_evaluate(con, seed=0, max_selection_rows=500)
    assert bounded.training_params["max_selection_rows"] == 500
    assert set(bounded.validation_auc) == set(trained.validation_auc)
    assert bounded.validation_auc != trained.validation_auc  # compared on fewer rows
    if bounded.model_name == trained.model_name:  # then the same final fit on the same rows
        assert bounded.metrics == trained.metrics


def test_scores_written_in_chunks_are_the_one_frame_scores(
    con2: duckdb.DuckDBPyConnection, trained: TrainingResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    con = con2
    scored_at = datetime(2026, 1, 1, 6, 0)
    whole = customer_scores_table(con, trained, "v1", AS_OF, scored_at)
    monkeypatch.setattr(tables, "CHUNK_ROWS", 70)
    summary = tables.write_customer_scores(con, trained, "v1", AS_OF, scored_at)
    written = con.execute("select * from ml.customer_scores").df()
    assert summary.rows == len(whole) == len(written)
    assert summary.segments == whole["segment"].value_counts().to_dict()
    columns = ["customer_id", "score", "segment", "action", "reasons", "reason_1", "reason_2", "reason_3"]
    pd.testing.assert_frame_equal(written[columns], whole[columns])
    assert con.execute("select count(*) from duckdb_tables() where temporary").fetchone() == (0,)


# --- never publish a loser (DECISIONS.md: Never publish a loser) -------------------------------------------------


def test_the_model_that_learns_the_signal_is_published(trained: TrainingResult, scored: pd.DataFrame) -> None:
    gain = trained.metrics["roc_auc"] - trained.baseline_metrics["roc_auc"]
    assert trained.scorer == MODEL_SCORER, trained.scorer_reason
    assert gain >= trained.required_auc_margin >= 0.01
    assert (scored["scorer"] == MODEL_SCORER).all()
    record = tables.model_run_record(trained, "v1", datetime(2026, 1, 1), AS_OF).iloc[0]
    assert record["scorer"] == MODEL_SCORER and bool(record["beats_baseline"])
    assert record["scorer_reason"].startswith("the model beats the RFM baseline")


@pytest.fixture(scope="module")
def noise_con(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    return _make_synthetic_con(tmp_path_factory.mktemp("noise-shop"), seed=7, noise=True)


@pytest.fixture(scope="module")
def noise_trained(noise_con: duckdb.DuckDBPyConnection) -> TrainingResult:
    return train_and_evaluate(noise_con, seed=0)


def test_a_shop_whose_future_is_noise_publishes_the_baseline(
    noise_con: duckdb.DuckDBPyConnection, noise_trained: TrainingResult
) -> None:
    assert noise_trained.scorer == BASELINE_SCORER, noise_trained.scorer_reason
    assert noise_trained.scorer_reason.startswith("the model does not beat the RFM baseline: ROC AUC")
    record = tables.model_run_record(noise_trained, "v1", datetime(2026, 1, 1), AS_OF).iloc[0]
    assert record["scorer"] == BASELINE_SCORER and not bool(record["beats_baseline"])
    assert record["scorer_reason"] == noise_trained.scorer_reason

    scores = customer_scores_table(noise_con, noise_trained, "v1", AS_OF, datetime(2026, 1, 1))
    assert (scores["scorer"] == BASELINE_SCORER).all()
    # The published score is the baseline's calibrated probability: one value per RFM points total, monotone.
    features = build_features(noise_con, [AS_OF + timedelta(days=1)])
    points = noise_trained.baseline.score(features)
    expected = np.round(noise_trained.baseline.predict_proba(features) * 100, 1)
    assert scores["score"].tolist() == expected.tolist()
    by_points = pd.Series(expected).groupby(points).agg(["min", "max"])
    assert (by_points["min"] == by_points["max"]).all() and by_points["min"].is_monotonic_increasing
    # Reasons are the baseline's own inputs in plain words.
    first = scores.iloc[0]
    assert first["reason_1"].startswith(("Last order", "Has not ordered yet"))
    assert first["reason_2"].startswith("Ordered ") and first["reason_3"].startswith("Spent ")


def test_choose_scorer_needs_a_margin_beyond_noise() -> None:
    big = {"n": 100_000.0, "positive_rate": 0.2}
    small = {"n": 400.0, "positive_rate": 0.2}
    assert choose_scorer({**big, "roc_auc": 0.80}, {**big, "roc_auc": 0.78}).scorer == MODEL_SCORER
    assert choose_scorer({**big, "roc_auc": 0.785}, {**big, "roc_auc": 0.78}).scorer == BASELINE_SCORER  # < 0.01
    # Few customers: +0.04 is within the noise of two AUCs on 400 customers.
    few = choose_scorer({**small, "roc_auc": 0.74}, {**small, "roc_auc": 0.70})
    assert few.scorer == BASELINE_SCORER and few.required_margin > 0.04
    nan = choose_scorer({**big, "roc_auc": float("nan")}, {**big, "roc_auc": 0.7})
    assert nan.scorer == BASELINE_SCORER


def test_rfm_baseline_applies_its_cut_points_to_any_rows() -> None:
    features = pd.DataFrame({
        "days_since_last_order": [1, 5, 10, 40, 90, 200, 400, None, 3, 30],
        "orders_365d": [9, 6, 4, 2, 1, 1, 0, 0, 7, 3],
        "revenue_365d": [900, 500, 300, 100, 50, 40, 0, 0, 700, 200],
    })
    labels = np.array([1, 1, 1, 0, 0, 0, 0, 0, 1, 0])
    baseline = fit_rfm_baseline(features, labels)
    assert list(np.diff(baseline.probability) >= 0) == [True] * 12  # monotone in the points total
    one = features.iloc[[0]]  # a single row keeps its points: the cut points are absolute
    assert baseline.score(one)[0] == baseline.score(features)[0] == 15
    assert baseline.score(features.iloc[[7]])[0] == 3  # never ordered: the lowest points


def _rhythm_horizon(lines: list[tuple]) -> int:
    """The label window rule (DECISIONS.md "Label window follows the shop's rhythm"), recomputed in pandas: the
    median days between a customer's consecutive sale orders, rounded up to whole 30 days, 30 to 180."""
    frame = pd.DataFrame(lines, columns=["order_id", "customer_id", "category", "order_date", "is_sale", "revenue"])
    orders = frame[frame["is_sale"]].groupby(["customer_id", "order_id"])["order_date"].min().reset_index()
    orders = orders.sort_values(["customer_id", "order_date"])
    gaps = orders.groupby("customer_id")["order_date"].diff().dt.days.dropna()
    return int(min(max(30 * np.ceil(max(gaps.median(), 1.0) / 30), 30), 180))


def test_training_without_a_horizon_uses_the_shops_rhythm(tmp_path: Path) -> None:
    con = _make_synthetic_con(tmp_path, propensity_horizon_days=None, propensity_max_training_cutoffs=3)
    horizon = _rhythm_horizon(synthetic_shop().lines)
    plan = read_cutoff_plan(con)
    assert plan.horizon_days == horizon and plan.max_training_cutoffs == 3
    result = train_and_evaluate(con, seed=0)
    assert result.horizon_days == horizon and len(result.training_cutoffs) == 3
    assert result.eval_cutoff == AS_OF - timedelta(days=horizon - 1)
