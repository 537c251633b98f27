"""The CLV asset on the committed sample: Dagster materialize on copies of the built warehouse.

One materialization runs in a fresh process with an empty HOME and no cache variables, the way
``comptoir build`` starts: it shows where pymc / pytensor / arviz write (COMPTOIR_HOME/cache only) and that
their console noise stays out of the output. A second one runs in this process on another copy: the same data
must give the same table. The table is then checked against the mart and against lifetimes (an independent
implementation of the BG/NBD and Gamma-Gamma formulas) at the fitted parameters.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml
from dagster import materialize

from orchestration.defs.ml.clv import clv_assets, clv_checks
from orchestration.defs.resources import WarehouseResource
from orchestration.settings import REPO_ROOT

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:The 'mode.chained_assignment' option is deprecated"),  # lifetimes
]

SOURCES_YML = REPO_ROOT / "dbt_project/models/ml/_ml__clv_sources.yml"
CHECK_NAMES = {
    "clv_parameters_finite",
    "clv_probabilities_in_unit_interval",
    "clv_expectations_non_negative",
    "clv_one_row_per_customer",
}
# What pytensor, arviz and matplotlib print when left alone.
NOISE = ("Compiling new CVM", "ArviZ is undergoing", "generated new fontManager", "lazylinker", "pytensor")
CACHE_VARIABLES = ("PYTENSOR_FLAGS", "XDG_CACHE_HOME", "MPLCONFIGDIR")

_SUBPROCESS = """
import json, sys
from dagster import materialize
from orchestration.defs.ml.clv import clv_assets, clv_checks
from orchestration.defs.resources import WarehouseResource

result = materialize(
    [*clv_assets, *clv_checks],
    resources={"warehouse": WarehouseResource(seeds_dir=sys.argv[2], database=sys.argv[1])},
)
checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
print("CLV-RESULT " + json.dumps({"success": result.success, "checks": checks}))
"""


def _table(database: Path) -> pd.DataFrame:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute("select * from ml.customer_clv order by customer_id").df()


@pytest.fixture(scope="module")
def fresh_process_run(built_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = tmp_path_factory.mktemp("clv-fresh")
    database = home / "comptoir.duckdb"
    shutil.copyfile(built_sample, database)
    user_home = home / "user-home"
    user_home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in CACHE_VARIABLES}
    env.update({"HOME": str(user_home), "COMPTOIR_HOME": str(home)})
    completed = subprocess.run(
        [sys.executable, "-c", _SUBPROCESS, str(database), str(home)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    (line,) = [x for x in completed.stdout.splitlines() if x.startswith("CLV-RESULT ")]
    return {
        "home": home,
        "database": database,
        "user_home": user_home,
        "stdout": completed.stdout,
        "stderr": completed.stderr,
        **json.loads(line.removeprefix("CLV-RESULT ")),
    }


@pytest.fixture(scope="module")
def in_process_run(built_sample: Path, tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("clv-in-process")
    database = home / "comptoir.duckdb"
    shutil.copyfile(built_sample, database)
    result = materialize(
        [*clv_assets, *clv_checks],
        resources={"warehouse": WarehouseResource(seeds_dir=str(home), database=str(database))},
    )
    return result, database


@pytest.fixture(scope="module")
def table(in_process_run) -> pd.DataFrame:
    return _table(in_process_run[1])


@pytest.fixture(scope="module")
def mart(built_sample: Path) -> pd.DataFrame:
    with duckdb.connect(str(built_sample), read_only=True) as con:
        return con.execute(
            "select customer_id, as_of_date, frequency, recency, t, monetary_value "
            "from marts.mart_customer_ltv order by customer_id"
        ).df()


def test_the_asset_materializes_with_its_checks_passing_and_its_figures_as_metadata(
    in_process_run, table, mart
) -> None:
    result, _ = in_process_run
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert {c.check_name for c in checks} == CHECK_NAMES
    assert all(c.passed for c in checks), [(c.check_name, c.metadata) for c in checks if not c.passed]
    (event,) = result.asset_materializations_for_node("ml__customer_clv")
    metadata = {k: getattr(v, "value", v) for k, v in event.metadata.items()}
    assert metadata["rows"] == len(table)
    assert metadata["summary"].startswith(f"{len(table):,} customers; BG/NBD r=")
    assert metadata["model_version"] == table["model_version"].iloc[0]
    assert metadata["converged"] is True
    free_repeat_buyers = int(((mart["frequency"] > 0) & (mart["monetary_value"] <= 0)).sum())
    assert metadata["dropped_non_positive_spend"] == free_repeat_buyers
    assert metadata["repeat_buyers_fitted"] == int((mart["frequency"] > 0).sum()) - free_repeat_buyers
    assert metadata["mean_clv_12m"] == pytest.approx(table["clv_12m"].astype(float).mean(), abs=0.01)
    for name in ("bgnbd_r", "bgnbd_alpha", "bgnbd_a", "bgnbd_b", "gamma_gamma_p", "gamma_gamma_q",
                 "gamma_gamma_gamma"):
        assert np.isfinite(metadata[name]) and metadata[name] > 0
        assert (table[name] == metadata[name]).all()


def test_one_row_per_customer_of_the_mart_with_its_summary(table, mart) -> None:
    assert table["customer_id"].tolist() == mart["customer_id"].tolist()
    pd.testing.assert_frame_equal(
        table[mart.columns.tolist()], mart, check_dtype=False, check_exact=False, atol=0.005
    )
    assert table["model_version"].nunique() == 1
    assert table["model_version"].iloc[0].startswith(f"clv-{mart['as_of_date'].max():%Y-%m-%d}-")
    assert (table["time_unit"] == "day").all()


def test_the_table_has_exactly_its_documented_columns(in_process_run) -> None:
    (source,) = [s for s in yaml.safe_load(SOURCES_YML.read_text())["sources"] if s["name"] == "ml"]
    (documented,) = [t for t in source["tables"] if t["name"] == "customer_clv"]
    assert all(c.get("description") for c in documented["columns"])
    with duckdb.connect(str(in_process_run[1]), read_only=True) as con:
        built = [r[0] for r in con.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'ml' and table_name = 'customer_clv' order by ordinal_position"
        ).fetchall()]
    assert built == [c["name"] for c in documented["columns"]]


def test_predictions_agree_with_lifetimes_at_the_fitted_parameters(table) -> None:
    from lifetimes import BetaGeoFitter

    first = table.iloc[0]
    bgf = BetaGeoFitter()
    bgf.params_ = pd.Series({name: float(first[f"bgnbd_{name}"]) for name in ("r", "alpha", "a", "b")})
    x, t_x, big_t = (table[c].astype(float) for c in ("frequency", "recency", "t"))
    np.testing.assert_allclose(table["probability_alive"], bgf.conditional_probability_alive(x, t_x, big_t), rtol=1e-8)
    for days in (90, 365):
        np.testing.assert_allclose(
            table[f"expected_purchases_{days}d"],
            bgf.conditional_expected_number_of_purchases_up_to_time(days, x, t_x, big_t),
            rtol=1e-8,
        )


def test_spend_comes_from_the_population_mean_and_the_customers_own_mean(table) -> None:
    p, q, gamma = (table[f"gamma_gamma_{k}"].iloc[0] for k in ("p", "q", "gamma"))
    population = p * gamma / (q - 1)
    x = table["frequency"].astype(float)
    own = table["monetary_value"].astype(float)
    weight = p * x / (p * x + q - 1)
    expected = (1 - weight) * population + weight * own
    aov = table["expected_avg_order_value"].astype(float)
    assert np.abs(aov - expected).max() <= 0.005 + 1e-9  # stored to the cent
    no_repeat = table["frequency"] == 0
    assert no_repeat.any() and (~no_repeat).any()
    assert np.abs(aov[no_repeat] - population).max() <= 0.005 + 1e-9
    assert (table.loc[no_repeat, "probability_alive"] == 1).all()


def test_twelve_month_clv_lies_between_the_discounted_and_undiscounted_year(table) -> None:
    rate = table["monthly_discount_rate"].iloc[0]
    assert rate == pytest.approx(0.01)
    year = table["expected_purchases_365d"] * table["expected_avg_order_value"].astype(float)
    clv = table["clv_12m"].astype(float)
    # Rounded to the cent; the spend is rounded too, so allow a cent per expected purchase.
    slack = 0.01 * (1 + table["expected_purchases_365d"])
    assert (clv <= year + slack).all()
    assert (clv >= year / (1 + rate) ** 12 - slack).all()
    assert (clv >= 0).all()  # a customer almost surely gone rounds to 0.00


def test_a_fresh_process_caches_under_comptoir_home_and_stays_quiet(fresh_process_run) -> None:
    run = fresh_process_run
    assert run["success"] and run["checks"] == dict.fromkeys(CHECK_NAMES, True)
    cache = run["home"] / "cache"
    assert (cache / "pytensor").is_dir() and any((cache / "pytensor").iterdir())
    assert (cache / "xdg").is_dir() and (cache / "matplotlib").is_dir()
    written = sorted(str(p.relative_to(run["user_home"])) for p in run["user_home"].rglob("*"))
    assert written == [], f"written to HOME: {written[:10]}"
    output = run["stdout"] + run["stderr"]
    assert not [n for n in NOISE if n in output], [n for n in NOISE if n in output]


def test_the_repository_gets_no_cache(fresh_process_run) -> None:
    """No pytensor compile dir, matplotlib font cache or arviz marker anywhere in the working tree.

    The virtual environments and the default COMPTOIR_HOME (``warehouse/``, git-ignored) are not searched.
    """
    skipped = {".git", ".venv", ".venv-bi", "warehouse", "node_modules"}
    found = []
    for folder, subfolders, files in os.walk(REPO_ROOT):
        subfolders[:] = [d for d in subfolders if not (Path(folder) == REPO_ROOT and d in skipped)]
        names = [*subfolders, *files]
        found += [
            str(Path(folder, n).relative_to(REPO_ROOT))
            for n in names
            if n.startswith("compiledir_") or n.startswith("fontlist-") or n == "daily_warning"
        ]
    assert found == []


def test_the_same_data_gives_the_same_table(fresh_process_run, table) -> None:
    pd.testing.assert_frame_equal(_table(fresh_process_run["database"]), table, check_exact=True)
