"""Train, evaluate and apply the purchase-propensity model (will a customer buy in the next H days?).

Time layout, planned by dbt (``feat_propensity__cutoffs``; DECISIONS.md "Propensity cutoff plan"), ``horizon_days``
= H: by default the shop's rhythm, 30 days at least; all windows half-open ``[start, end)``:

* evaluation cutoff ``E = as_of - H + 1``: the latest full window, labels in ``[E, E + H)`` (ends on ``as_of``);
* training cutoffs ``E - H, E - 2H, ...`` (at most the dbt var ``propensity_max_training_cutoffs``, all after the
  first sale), so every training label window ends on or before ``E``: nothing the model learns from overlaps
  evaluation;
* the most recent training cutoff is the validation set used to pick between a random forest and a
  gradient-boosted model (each fitted on the older cutoffs); the winner is refitted on every training
  cutoff and calibrated with ``CalibratedClassifierCV(cv=3)``.

``loyalty_tier`` is excluded: in the sample it is derived from spend over the whole period (leaky).
The RFM baseline (baseline.py) ranks the evaluation cutoff's customers by recency + frequency + monetary
quintiles. When the model does not beat it by the margin baseline.choose_scorer sets, the baseline is what gets
published: score_customers then scores with the baseline, and says so in its ``scorer`` column.
"""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from threadpoolctl import threadpool_limits

from ml.progress import step
from ml.propensity.baseline import (
    BASELINE_SCORER,
    MIN_HORIZON_DAYS,
    MISSING_DAYS,
    MODEL_SCORER,
    RFM_COLUMNS,
    RfmBaseline,
    choose_scorer,
    fit_rfm_baseline,
)
from ml.propensity.features import (
    CutoffPlan,
    build_features,
    build_labels,
    count_feature_rows,
    feature_chunks,
    read_cutoff_plan,
)
from ml.warehouse import InsufficientDataError

logger = logging.getLogger(__name__)

KEY_COLUMNS: tuple[str, ...] = ("customer_id", "cutoff")
EXCLUDED_COLUMNS: tuple[str, ...] = ("loyalty_tier", "label")  # tier is leaky in the sample (features.py)
CATEGORICAL_COLUMN = "country_code"
MISSING_SUFFIX = "_missing"
COUNTRY_PREFIX = "country_"
UNKNOWN_COUNTRY = "unknown"
# The training cutoffs and the cap on training rows are dbt vars (propensity_max_training_cutoffs,
# propensity_max_training_rows): feat_propensity__customer_cutoffs samples the rows (DECISIONS.md "Propensity
# training sample"). The candidates are compared on a seeded sample of at most this many of the older rows
# (DECISIONS.md, "ML at scale").
MAX_SELECTION_ROWS = 50_000
# Customers per chunk when evaluating and scoring: memory stays bounded whatever the number of customers.
CHUNK_ROWS = 200_000
# Threads for the forest (fit and predict): the assets run one at a time, and the results do not depend on it.
N_JOBS = 2
MIN_ROWS_PER_THREAD = 5_000  # fewer rows are predicted on the calling thread: a thread costs more than it saves
# Isotonic calibration needs many positives per fold to be stable; below this, fall back to sigmoid.
ISOTONIC_MIN_POSITIVES = 1000

HOT_THRESHOLD = 70.0
WARM_THRESHOLD = 40.0
SEGMENT_ACTIONS: dict[str, str] = {
    "Hot": "Call now",
    "Warm": "Follow up within 48 hours",
    "Cold": "Automated email nurture",
}
N_REASONS = 3


@dataclass(frozen=True)
class TrainingResult:
    model: Any  # fitted CalibratedClassifierCV
    model_name: str
    feature_names: list[str]
    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    training_cutoffs: list[date]
    validation_cutoff: date
    eval_cutoff: date
    validation_auc: dict[str, float]
    calibration_method: str
    country_categories: list[str]
    # Per-feature training statistics used to explain scores (aligned with feature_names).
    feature_means: np.ndarray = field(repr=False)
    feature_stds: np.ndarray = field(repr=False)
    feature_signs: np.ndarray = field(repr=False)
    # Provenance (registry.py builds the model version from these). as_of and the parameters the model was
    # trained with; the raw build_features columns the model reads; a content hash of the training and
    # evaluation frames (columns, dtypes, values), so the same data gives the same fingerprint.
    as_of: date | None = None
    training_params: dict[str, int] = field(default_factory=dict)
    input_columns: list[str] = field(default_factory=list)
    data_fingerprint: str = ""
    # What gets published (baseline.choose_scorer): the model, or the RFM baseline when the model does not beat it.
    scorer: str = MODEL_SCORER
    scorer_reason: str = ""
    required_auc_margin: float = 0.0
    baseline: RfmBaseline | None = None

    @property
    def horizon_days(self) -> int:
        return int(self.training_params.get("horizon_days", MIN_HORIZON_DAYS))


# --------------------------------------------------------------------------------------------
# Cutoffs and design matrix
# --------------------------------------------------------------------------------------------


def _numeric_feature_columns(features: pd.DataFrame) -> list[str]:
    skip = {*KEY_COLUMNS, *EXCLUDED_COLUMNS, CATEGORICAL_COLUMN}
    return [
        c
        for c in features.columns
        if c not in skip and pd.api.types.is_numeric_dtype(features[c]) and not pd.api.types.is_bool_dtype(features[c])
    ]


def _countries(features: pd.DataFrame) -> pd.Series:
    return features[CATEGORICAL_COLUMN].astype("object").where(features[CATEGORICAL_COLUMN].notna(), UNKNOWN_COUNTRY)


def design_matrix(
    features: pd.DataFrame, country_categories: list[str], feature_names: list[str] | None = None
) -> pd.DataFrame:
    """Numeric model input: nulls filled deterministically, country one-hot, columns aligned to the model.

    ``days_since_*`` nulls (never ordered / never contacted) become 9999 plus a ``*_missing`` flag; every other
    null (rates, average order value) becomes 0. With ``feature_names`` the columns are reindexed to the
    training layout (a category share column unknown at training time is dropped, a missing one is 0).
    """
    numeric = _numeric_feature_columns(features)
    x = features[numeric].astype("float64")
    days_cols = [c for c in numeric if c.startswith("days_since_")]
    flags = x[days_cols].isna().astype("float64").add_suffix(MISSING_SUFFIX)
    x[days_cols] = x[days_cols].fillna(MISSING_DAYS)
    x = x.fillna(0.0)
    countries = _countries(features).to_numpy()
    one_hot = pd.DataFrame(
        (countries[:, None] == np.asarray(country_categories, dtype=object)[None, :]).astype("float64"),
        columns=[f"{COUNTRY_PREFIX}{c}" for c in country_categories],
        index=features.index,
    )
    out = pd.concat([x, flags, one_hot], axis=1)
    if feature_names is not None:
        out = out.reindex(columns=feature_names, fill_value=0.0)
    return out


def _update_fingerprint(digest: Any, frame: pd.DataFrame) -> None:
    digest.update(repr((frame.shape, [(str(c), str(t)) for c, t in frame.dtypes.items()])).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())


def frame_fingerprint(*frames: pd.DataFrame) -> str:
    """sha256 over each frame's shape, column names, dtypes and row hashes (pandas' stable, seeded row hash)."""
    digest = hashlib.sha256()
    for frame in frames:
        _update_fingerprint(digest, frame)
    return digest.hexdigest()


def _training_frame(con: duckdb.DuckDBPyConnection, cutoffs: list[date]) -> pd.DataFrame:
    features = build_features(con, cutoffs)
    labels = build_labels(con, cutoffs)
    return features.merge(labels, on=list(KEY_COLUMNS), how="inner", validate="one_to_one")


# --------------------------------------------------------------------------------------------
# Metrics and baseline
# --------------------------------------------------------------------------------------------


def top_decile_lift(y: np.ndarray, score: np.ndarray) -> float:
    """Positive rate among the top 10 % by score (ties broken by position, stable) / overall positive rate."""
    y = np.asarray(y, dtype=float)
    if len(y) == 0 or y.mean() == 0:
        return float("nan")
    n_top = max(1, int(np.ceil(0.1 * len(y))))
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    return float(y[order[:n_top]].mean() / y.mean())


def evaluate(y: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    y = np.asarray(y, dtype=int)
    both_classes = len(np.unique(y)) == 2
    return {
        "roc_auc": float(roc_auc_score(y, probability)) if both_classes else float("nan"),
        "pr_auc": float(average_precision_score(y, probability)) if both_classes else float("nan"),
        "brier": float(brier_score_loss(y, probability)),
        "top_decile_lift": top_decile_lift(y, probability),
        "positive_rate": float(y.mean()) if len(y) else float("nan"),
        "n": float(len(y)),
    }


def _min_max(score: np.ndarray) -> np.ndarray:
    values = np.asarray(score, dtype=float)
    span = values.max() - values.min() if len(values) else 0.0
    return (values - values.min()) / span if span > 0 else np.full(len(values), 0.5)


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------


class ForestFittedOnThreads(RandomForestClassifier):
    """A random forest that fits its trees on ``n_jobs`` threads (the same trees whatever the count) but predicts
    on one: on several, scikit-learn adds the trees' probabilities in whatever order the threads finish, and the
    last bit of a probability (and of the calibration fitted on them) would change from run to run."""

    def predict_proba(self, X: Any) -> np.ndarray:
        n_jobs, self.n_jobs = self.n_jobs, 1
        try:
            return super().predict_proba(X)
        finally:
            self.n_jobs = n_jobs


def positive_probability(model: Any, x: pd.DataFrame) -> np.ndarray:
    """P(buy) of every row, the rows split over N_JOBS threads that each predict on one core.

    Each row's probability is computed alone, so the split changes nothing. One core per thread, because the
    boosted model's own OpenMP threads, started and stopped for each of its hundreds of trees, took twice as
    long as a single core on a busy machine; two Python threads keep both cores busy without that.
    """
    split = len(x) >= N_JOBS * MIN_ROWS_PER_THREAD
    parts = [x.iloc[rows] for rows in np.array_split(np.arange(len(x)), N_JOBS)] if split else [x]

    def on_one_core(part: pd.DataFrame) -> np.ndarray:
        with threadpool_limits(1):  # OpenMP's limit is per thread: set in the thread that predicts
            return model.predict_proba(part)[:, 1]

    with ThreadPoolExecutor(len(parts)) as pool:
        return np.concatenate(list(pool.map(on_one_core, parts)))


def _candidates(seed: int) -> dict[str, Any]:
    return {
        "random_forest": ForestFittedOnThreads(
            random_state=seed, n_estimators=200, min_samples_leaf=20, n_jobs=N_JOBS
        ),
        "hist_gradient_boosting": HistGradientBoostingClassifier(random_state=seed),
    }


def _correlation_signs(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    xc = x - x.mean(axis=0)
    yc = y - y.mean()
    return np.sign(xc.T @ yc)  # sign of the covariance == sign of the correlation; 0 for constant columns


def _select(
    x: pd.DataFrame, y: np.ndarray, is_validation: np.ndarray, seed: int, max_rows: int
) -> dict[str, float]:
    """Validation ROC AUC of each candidate fitted on the older cutoffs (a seeded sample of at most ``max_rows``
    of them: the choice needs a ranking, not the last decimal) and scored on every validation row."""
    fit_rows = np.flatnonzero(~is_validation)
    if len(fit_rows) > max_rows:
        fit_rows = np.sort(np.random.default_rng(seed).choice(fit_rows, size=max_rows, replace=False))
    y_val = y[is_validation]
    x_val = x[is_validation]
    scores: dict[str, float] = {}
    for name, estimator in _candidates(seed).items():
        with step(logger, f"propensity: candidate {name}", len(fit_rows), "rows"):
            estimator.fit(x.iloc[fit_rows], y[fit_rows])
            proba = positive_probability(estimator, x_val)
        scores[name] = float(roc_auc_score(y_val, proba)) if len(np.unique(y_val)) == 2 else float("nan")
        logger.info("validation ROC AUC %s = %.4f", name, scores[name])
    return scores


def _evaluate_on(
    con: duckdb.DuckDBPyConnection,
    eval_cutoff: date,
    model: Any,
    country_categories: list[str],
    feature_names: list[str],
    digest: Any,
) -> tuple[dict[str, float], dict[str, float], RfmBaseline]:
    """Metrics of the model and of the RFM baseline on every customer of the evaluation cutoff, read in chunks
    (each chunk also feeds ``digest``, the data fingerprint), and the baseline fitted on those customers."""
    labels, probabilities, rfm_inputs = [], [], []
    n = count_feature_rows(con, [eval_cutoff])
    with step(logger, "propensity: evaluation", n, "customers") as progress:
        for chunk in feature_chunks(con, [eval_cutoff], CHUNK_ROWS, labelled=True):
            _update_fingerprint(digest, chunk)
            labels.append(chunk["label"].to_numpy(dtype=int))
            x = design_matrix(chunk, country_categories, feature_names)
            probabilities.append(positive_probability(model, x))
            rfm_inputs.append(chunk[list(RFM_COLUMNS)].astype("float64"))
            progress.advance(len(chunk))
    y = np.concatenate(labels) if labels else np.zeros(0, dtype=int)
    proba = np.concatenate(probabilities) if probabilities else np.zeros(0)
    rfm = pd.concat(rfm_inputs, ignore_index=True) if rfm_inputs else pd.DataFrame(columns=list(RFM_COLUMNS))
    baseline = fit_rfm_baseline(rfm, y)
    # Ranking metrics on the RFM points themselves (min-max is monotone), before isotonic calibration ties any.
    return evaluate(y, proba), evaluate(y, _min_max(baseline.score(rfm))), baseline


def train_and_evaluate(
    con: duckdb.DuckDBPyConnection, seed: int = 0, max_selection_rows: int = MAX_SELECTION_ROWS
) -> TrainingResult:
    """Train on dbt's cutoff plan, evaluate against the RFM baseline and choose what to publish.

    Raises InsufficientDataError when the history holds fewer than two training windows.
    """
    plan: CutoffPlan = read_cutoff_plan(con).require_training()
    as_of, horizon_days, eval_cutoff = plan.as_of, plan.horizon_days, plan.eval_cutoff
    training_cutoffs, validation_cutoff = plan.training_cutoffs, plan.validation_cutoff
    logger.info("label window: %d days", horizon_days)
    logger.info(
        "eval cutoff %s, %d training cutoffs %s..%s, validation cutoff %s",
        eval_cutoff,
        len(training_cutoffs),
        training_cutoffs[0],
        training_cutoffs[-1],
        validation_cutoff,
    )

    # At most about propensity_max_training_rows rows: dbt sampled them (a hash of the key), so only those are read.
    with step(logger, "propensity: training features", count_feature_rows(con, training_cutoffs), "rows"):
        train = _training_frame(con, training_cutoffs)
    country_categories = sorted(_countries(train).unique().tolist())
    x_all = design_matrix(train, country_categories)
    feature_names = list(x_all.columns)
    y_all = train["label"].to_numpy(dtype=int)
    is_validation = (train["cutoff"] == pd.Timestamp(validation_cutoff)).to_numpy()
    if len(np.unique(y_all[~is_validation])) < 2:
        raise InsufficientDataError("training cutoffs before the validation cutoff contain a single class")

    validation_auc = _select(x_all, y_all, is_validation, seed, max_selection_rows)
    # nan (single-class validation) never wins; ties go to the first candidate.
    model_name = max(validation_auc, key=lambda k: -np.inf if np.isnan(validation_auc[k]) else validation_auc[k])

    n_pos = int(y_all.sum())
    method = "isotonic" if n_pos >= ISOTONIC_MIN_POSITIVES else "sigmoid"
    with step(logger, f"propensity: calibrated {model_name} ({method})", len(y_all), "rows"):
        model = CalibratedClassifierCV(_candidates(seed)[model_name], method=method, cv=3)
        model.fit(x_all, y_all)
    logger.info("chose %s, calibrated (%s) on %d rows (%d positives)", model_name, method, len(y_all), n_pos)

    digest = hashlib.sha256()
    _update_fingerprint(digest, train)
    metrics, baseline_metrics, baseline = _evaluate_on(con, eval_cutoff, model, country_categories, feature_names,
                                                       digest)
    logger.info("eval metrics %s; RFM baseline %s", metrics, baseline_metrics)
    choice = choose_scorer(metrics, baseline_metrics)
    logger.info("publishing the %s: %s", choice.scorer, choice.reason)

    x_values = x_all.to_numpy(dtype=float)
    stds = x_values.std(axis=0)
    return TrainingResult(
        model=model,
        model_name=model_name,
        feature_names=feature_names,
        metrics=metrics,
        baseline_metrics=baseline_metrics,
        training_cutoffs=training_cutoffs,
        validation_cutoff=validation_cutoff,
        eval_cutoff=eval_cutoff,
        validation_auc=validation_auc,
        calibration_method=method,
        country_categories=country_categories,
        feature_means=x_values.mean(axis=0),
        feature_stds=np.where(stds > 0, stds, 1.0),
        feature_signs=_correlation_signs(x_values, y_all.astype(float)),
        as_of=as_of,
        training_params={
            "horizon_days": horizon_days,
            "seed": seed,
            "max_training_cutoffs": plan.max_training_cutoffs,
            "max_training_rows": plan.max_training_rows,
            "max_selection_rows": max_selection_rows,
        },
        input_columns=[*_numeric_feature_columns(train), CATEGORICAL_COLUMN],
        data_fingerprint=digest.hexdigest(),
        scorer=choice.scorer,
        scorer_reason=choice.reason,
        required_auc_margin=choice.required_margin,
        baseline=baseline,
    )


# --------------------------------------------------------------------------------------------
# Scoring and explanations
# --------------------------------------------------------------------------------------------


def assign_segments(score: pd.Series | np.ndarray) -> np.ndarray:
    """'Hot' >= 70, 'Warm' 40-69.9, 'Cold' < 40 (on the rounded 0-100 score)."""
    values = np.asarray(score, dtype=float)
    return np.where(values >= HOT_THRESHOLD, "Hot", np.where(values >= WARM_THRESHOLD, "Warm", "Cold"))


def _fmt_int(values: pd.Series) -> np.ndarray:
    return np.char.mod("%d", np.rint(values.to_numpy(dtype=float)).astype(np.int64))


def _fmt_money(values: pd.Series) -> np.ndarray:
    return np.char.mod("%.2f", values.to_numpy(dtype=float))


def _times(values: pd.Series) -> np.ndarray:
    return np.where(np.rint(values.to_numpy(dtype=float)) == 1, "time", "times")


def _cat(*parts: np.ndarray | str) -> np.ndarray:
    out: np.ndarray | str = ""
    for part in parts:
        out = np.char.add(out, part)
    return np.asarray(out, dtype=str)


def _explained(feature: str, raw: pd.DataFrame) -> bool:
    """Whether a feature gets a sentence (missing flags and country indicators do not)."""
    return not (feature.endswith(MISSING_SUFFIX) or feature.startswith(COUNTRY_PREFIX) or feature not in raw.columns)


def _sentences(feature: str, raw: pd.DataFrame) -> np.ndarray | None:
    """Plain-language description of ``feature`` for every row of ``raw`` (the unfilled build_features frame).

    Returns None for features that are not explained (missing flags, country indicators).
    """
    if not _explained(feature, raw):
        return None
    col = raw[feature]
    missing = col.isna().to_numpy()
    filled = col.astype("float64").fillna(0.0)
    if feature.startswith("orders_") and feature.endswith("d"):
        days = feature.removeprefix("orders_").removesuffix("d")
        return _cat("Ordered ", _fmt_int(filled), " ", _times(filled), f" in the last {days} days")
    if feature.startswith("revenue_") and feature.endswith("d"):
        days = feature.removeprefix("revenue_").removesuffix("d")
        return _cat("Spent ", _fmt_money(filled), f" in the last {days} days")
    if feature.startswith("web_visits_") and feature.endswith("d"):
        days = feature.removeprefix("web_visits_").removesuffix("d")
        return _cat("Visited the site ", _fmt_int(filled), " ", _times(filled), f" in the last {days} days")
    if feature == "days_since_last_order":
        return np.where(missing, "Has not ordered yet", _cat("Last order ", _fmt_int(filled), " days ago"))
    if feature == "days_since_last_contact":
        return np.where(missing, "No e-mail activity yet", _cat("Last e-mail activity ", _fmt_int(filled), " days ago"))
    if feature == "tenure_days":
        return _cat("Customer for ", _fmt_int(filled), " days")
    if feature == "average_order_value":
        return np.where(missing, "No orders yet", _cat("Average order of ", _fmt_money(filled)))
    if feature == "emails_sent_90d":
        return _cat("Received ", _fmt_int(filled), " e-mails in the last 90 days")
    if feature == "open_rate_90d":
        return np.where(
            missing,
            "Not e-mailed in the last 90 days",
            _cat("Opened ", _fmt_int(filled * 100), "% of e-mails (90 days)"),
        )
    if feature == "emails_opened_90d" and "emails_sent_90d" in raw.columns:
        opened = raw["emails_opened_90d"].astype("float64").fillna(0.0)
        sent = raw["emails_sent_90d"].astype("float64").fillna(0.0)
        return _cat("Opened ", _fmt_int(opened), " of ", _fmt_int(sent), " e-mails in the last 90 days")
    if feature == "emails_clicked_90d":
        return _cat("Clicked ", _fmt_int(filled), " e-mail(s) in the last 90 days")
    if feature.startswith("share_"):
        category = feature.removeprefix("share_").replace("_", " ")
        return _cat(_fmt_int(filled * 100), f"% of spend on {category}")
    return _cat(f"{feature.replace('_', ' ').capitalize()}: ", np.char.mod("%g", filled.to_numpy(dtype=float)))


def _is_absence(name: str, raw: pd.DataFrame) -> np.ndarray:
    """True where the feature records something that did not happen (0 orders, 0 % of spend, never e-mailed).

    An absence can explain a low score ("Ordered 0 times in the last 90 days") but not a high one: a customer
    is not worth a call because they spent nothing on toys. A zero category share explains neither.
    """
    if name.startswith("days_since_") or name == "tenure_days" or name not in raw.columns:
        return np.zeros(len(raw), dtype=bool)
    values = raw[name].astype("float64")
    # What reads as zero: a 0.3 % share prints as "0% of spend", 0.004 as "Spent 0.00"; counts are whole.
    shown_as_zero = values.abs() < 0.005
    return (values.isna() | shown_as_zero).to_numpy()


def _reasons(
    result: TrainingResult, raw: pd.DataFrame, x: pd.DataFrame, probability: np.ndarray
) -> list[list[str]]:
    """The three features that most explain each customer's score, strongest first.

    A feature's push is its standardised deviation from the training mean times the sign of its training
    correlation with buying. Customers scored at or above the base rate (the evaluation window's buyer share)
    get the features pushing their score up, and an absence only when nothing else is left; customers below
    it get the features pulling it down (a zero category share is never preferred). Ties keep the feature
    order (stable).
    """
    explained = [j for j, name in enumerate(result.feature_names) if _explained(name, raw)]
    absent = [_is_absence(result.feature_names[j], raw) for j in explained]
    idx = np.asarray(explained, dtype=np.int64)
    push = (x.to_numpy(dtype=float)[:, idx] - result.feature_means[idx]) / result.feature_stds[idx]
    push *= result.feature_signs[idx]
    base_rate = result.metrics.get("positive_rate", float("nan"))
    upward = probability >= (base_rate if base_rate == base_rate else np.median(probability))
    strength = np.where(upward[:, None], push, -push)
    if absent:
        # Below every real reason, still ordered among themselves.
        is_share = np.array([result.feature_names[j].startswith("share_") for j in explained])
        demoted = np.column_stack(absent) & (upward[:, None] | is_share[None, :])
        strength = np.where(demoted, strength - 1e6, strength)
    top = np.argsort(-strength, axis=1, kind="stable")[:, :N_REASONS]
    # Sentences only where a feature is among a row's reasons: 3 per customer, not one per feature.
    text = np.empty(top.shape, dtype=object)
    for position, j in enumerate(explained):
        rows, ranks = np.nonzero(top == position)
        if len(rows):
            sentences = _sentences(result.feature_names[j], raw.iloc[rows])
            text[rows, ranks] = np.asarray(sentences).astype(object)  # plain str, as tolist() gives
    return text.tolist()


def _baseline_reasons(features: pd.DataFrame) -> list[list[str]]:
    """The RFM baseline's reasons: its three inputs in plain words (recency, frequency, monetary)."""
    sentences = [_sentences(name, features) for name in RFM_COLUMNS]
    return np.column_stack([np.asarray(s, dtype=object) for s in sentences]).tolist() if len(features) else []


def score_customers(result: TrainingResult, features: pd.DataFrame) -> pd.DataFrame:
    """customer_id, score (calibrated probability x 100, 1 decimal), segment, action, reasons (3 sentences),
    scorer (the model, or the RFM baseline when that is what the training published).

    ``features`` is a build_features frame (typically a single cutoff); rows keep their order.
    """
    features = features.reset_index(drop=True)
    if result.scorer == BASELINE_SCORER:
        if result.baseline is None:
            raise ValueError("the training published the RFM baseline but saved no fitted baseline: retrain")
        proba = result.baseline.predict_proba(features)
        reasons = _baseline_reasons(features)
    else:
        x = design_matrix(features, result.country_categories, result.feature_names)
        proba = positive_probability(result.model, x)
        reasons = _reasons(result, features, x.reset_index(drop=True), proba)
    score = np.round(proba * 100.0, 1)
    segment = assign_segments(score)
    out = pd.DataFrame(
        {
            "customer_id": features["customer_id"].to_numpy(),
            "score": score,
            "segment": segment,
            "action": pd.Series(segment).map(SEGMENT_ACTIONS).to_numpy(),
            "reasons": reasons,
            "scorer": result.scorer,
        }
    )
    logger.info("scored %d customers with the %s: %s", len(out), result.scorer, out["segment"].value_counts().to_dict())
    return out
