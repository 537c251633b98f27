"""The order-anomaly detector on the built sample: it finds the generator's planted fraud-like orders.

The answer key is the manifest's ``fraud_order_ids``; the detector never sees it (it runs unsupervised
over the marts with its default flagging rule).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from ml.anomalies import DEFAULT_CONTAMINATION, detect_order_anomalies

pytestmark = pytest.mark.slow

MIN_RECALL = 0.80
MIN_PRECISION = 0.50


@pytest.fixture(scope="module")
def fraud_ids(sample_dir: Path) -> set[str]:
    manifest = json.loads((sample_dir / "manifest.json").read_text(encoding="utf-8"))
    ids = manifest["fraud_order_ids"]
    assert ids and len(ids) == manifest["stats"]["fraud_orders"]
    return set(ids)


@pytest.fixture(scope="module")
def result(built_sample: Path) -> pd.DataFrame:
    """What the build wrote: ml.order_anomalies."""
    with duckdb.connect(str(built_sample), read_only=True) as con:
        return con.execute("select * from ml.order_anomalies order by anomaly_rank").df()


def test_every_planted_fraud_order_is_a_completed_sale_in_the_marts(built_sample: Path, fraud_ids: set[str]) -> None:
    with duckdb.connect(str(built_sample), read_only=True) as con:
        con.register("fraud_ids", pd.DataFrame({"order_id": sorted(fraud_ids)}))
        found = con.execute("""select count(*), count(*) filter (where o.is_sale and o.order_status = 'completed'
                and not o.is_guest and o.customer_id <> 'UNKNOWN')
            from marts.fct_orders as o join fraud_ids using (order_id)""").fetchone()
        unknown_products = con.execute("""select count(*) from marts.fct_order_lines
            where is_unknown_product and order_id in (select order_id from fraud_ids)""").fetchone()[0]
    assert found == (len(fraud_ids), len(fraud_ids))
    assert unknown_products == 0


def test_detector_finds_the_planted_fraud(result: pd.DataFrame, fraud_ids: set[str]) -> None:
    flagged = set(result.loc[result["is_anomaly"], "order_id"])
    caught = flagged & fraud_ids
    recall = len(caught) / len(fraud_ids)
    precision = len(caught) / len(flagged)
    summary = (f"flagged {len(flagged)}, caught {len(caught)} of {len(fraud_ids)}: "
               f"recall {recall:.2f}, precision {precision:.2f}")
    assert recall >= MIN_RECALL, summary
    assert precision >= MIN_PRECISION, summary


def test_one_row_per_sale_order_and_every_flag_is_explained(built_sample: Path, result: pd.DataFrame) -> None:
    with duckdb.connect(str(built_sample), read_only=True) as con:
        sale_orders = con.execute("select count(*) from marts.fct_orders where is_sale").fetchone()[0]
    assert len(result) == sale_orders and result["order_id"].is_unique
    assert result["is_anomaly"].sum() == pytest.approx(DEFAULT_CONTAMINATION * sale_orders, abs=2)
    flagged = result[result["is_anomaly"]]
    assert (flagged["reason"] != "nothing unusual").all()
    assert flagged["reason"].str.len().min() > 10


def test_same_data_same_scores_as_the_built_table(built_sample: Path, result: pd.DataFrame) -> None:
    with duckdb.connect(str(built_sample), read_only=True) as con:
        again = detect_order_anomalies(con)
    columns = ["order_id", "anomaly_score", "anomaly_rank", "is_anomaly", "reason"]
    pd.testing.assert_frame_equal(result[columns].reset_index(drop=True), again[columns].reset_index(drop=True))
