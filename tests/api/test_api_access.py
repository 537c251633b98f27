"""Access and refusals: keys and scopes (401/403), personal columns only with the customers scope, 4xx naming the
field and the reason, request size limits, CORS closed by default, cursor pagination, lead scoring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import serve_app
from ml.propensity.batch import format_row_errors, read_input, validate
from ml.propensity.registry import load_model
from tests.api.conftest import auth

pytestmark = pytest.mark.slow

PERSONAL = {"customer_name", "email", "city"}


def _error(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status and body["errors"], body
    assert all(error["field"] and error["reason"] for error in body["errors"]), body
    return body


def test_health_is_open_and_says_what_is_served(client: TestClient) -> None:
    body = client.get("/v1/health").json()
    assert body["status"] == "ok" and body["as_of_date"]
    assert body["published_at"]  # the fact the publish left beside the file
    assert body["model_versions"]["propensity_saved"]


def test_no_key_bad_key_revoked_key_are_401(client: TestClient, api_keys: dict[str, str]) -> None:
    assert _error(client.get("/v1/kpis"), 401)["errors"][0]["field"] == "header.Authorization"
    assert client.get("/v1/kpis").headers["www-authenticate"] == "Bearer"
    _error(client.get("/v1/kpis", headers=auth("cpt_00000000_nope")), 401)
    _error(client.get("/v1/kpis", headers=auth(api_keys["aggregates"] + "x")), 401)
    _error(client.get("/v1/kpis", headers=auth(api_keys["revoked"])), 401)
    assert client.get("/v1/kpis", headers={"X-API-Key": api_keys["aggregates"]}).status_code == 200


@pytest.mark.parametrize(("path", "allowed"), [
    ("/v1/kpis", {"aggregates", "all"}),
    ("/v1/sales/monthly", {"aggregates", "all"}),
    ("/v1/quality", {"aggregates", "all"}),
    ("/v1/customers/top", {"aggregates", "customers", "all"}),
    ("/v1/orders/search", {"aggregates", "customers", "all"}),
])
def test_scopes(client: TestClient, api_keys: dict[str, str], path: str, allowed: set[str]) -> None:
    for scope in ("aggregates", "customers", "score", "all"):
        response = client.get(path, headers=auth(api_keys[scope]))
        if scope in allowed:
            assert response.status_code == 200, (scope, response.text)
        else:
            assert "scopes" in _error(response, 403)["errors"][0]["reason"]
    assert _error(client.post("/v1/score", json={}, headers=auth(api_keys["aggregates"])), 403)


def test_personal_columns_only_with_the_customers_scope(client: TestClient, api_keys: dict[str, str]) -> None:
    top = client.get("/v1/customers/top?n=3", headers=auth(api_keys["aggregates"])).json()
    assert top and not PERSONAL & {name for row in top for name in row}
    customer_id = top[0]["customer_id"]
    profile = client.get(f"/v1/customers/{customer_id}", headers=auth(api_keys["aggregates"])).json()
    assert not PERSONAL & set(profile) and profile["rfm"]["segment"] and profile["last_orders"]
    full = client.get(f"/v1/customers/{customer_id}", headers=auth(api_keys["customers"])).json()
    assert set(full) >= PERSONAL and "@" in full["email"]
    assert {"customer_name", "email"} <= set(client.get("/v1/customers/top?n=3",
                                                        headers=auth(api_keys["customers"])).json()[0])


@pytest.mark.parametrize(("url", "field"), [
    ("/v1/kpis?from=2025-05-01&to=2025-01-01", "query.to"),
    ("/v1/kpis?from=not-a-date", "query.from"),
    ("/v1/kpis?from=0001-01-01", "query.from"),
    ("/v1/products/top?by=colour", "query.by"),
    ("/v1/products/top?n=0", "query.n"),
    ("/v1/orders/search?limit=501", "query.limit"),
    ("/v1/orders/search?min_total=10&max_total=5", "query.max_total"),
    ("/v1/orders/search?min_total=abc", "query.min_total"),
    ("/v1/orders/search?cursor=garbage", "query.cursor"),
    ("/v1/customers/NO_SUCH_CUSTOMER", "path.customer_id"),
    ("/v1/customers/NO_SUCH_CUSTOMER/orders", "path.customer_id"),
    ("/v1/forecasts/no-such-series", "path.series"),
])
def test_bad_input_is_a_4xx_with_field_and_reason(client: TestClient, api_keys: dict[str, str], url: str,
                                                  field: str) -> None:
    response = client.get(url, headers=auth(api_keys["all"]))
    assert 400 <= response.status_code < 500, response.text
    assert field in {error["field"] for error in _error(response, response.status_code)["errors"]}


def test_order_search_pages_cover_everything_once(client: TestClient, api_keys: dict[str, str]) -> None:
    headers = auth(api_keys["aggregates"])
    query = "/v1/orders/search?from=2025-06-01&to=2025-06-30&limit=37"
    everything = client.get("/v1/orders/search?from=2025-06-01&to=2025-06-30&limit=500", headers=headers).json()
    assert everything["next"] is None and len(everything["orders"]) > 100
    seen: list[str] = []
    page = client.get(query, headers=headers).json()
    while True:
        assert len(page["orders"]) <= 37
        seen += [order["order_id"] for order in page["orders"]]
        if page["next"] is None:
            break
        page = client.get(f"{query}&cursor={page['next']}", headers=headers).json()
    assert seen == [order["order_id"] for order in everything["orders"]]
    # a cursor is bound to its filters
    first = client.get(query, headers=headers).json()
    _error(client.get(f"/v1/orders/search?limit=37&cursor={first['next']}", headers=headers), 422)


def test_request_size_limits(client: TestClient, api_keys: dict[str, str]) -> None:
    headers = auth(api_keys["score"])
    _error(client.post("/v1/score", content=b"{" + b" " * 70_000 + b"}", headers={
        **headers, "Content-Type": "application/json"}), 413)
    _error(client.get("/v1/kpis?country=" + "x" * 5000, headers=auth(api_keys["aggregates"])), 414)
    rows = [{"customer_id": f"C{i}"} for i in range(10_001)]
    assert client.post("/v1/score/batch", json={"rows": rows}, headers=headers).status_code == 413


def test_cors_is_closed_by_default(client: TestClient, api_keys: dict[str, str], api_home: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    origin = {"Origin": "https://shop.example", **auth(api_keys["aggregates"])}
    assert "access-control-allow-origin" not in client.get("/v1/kpis", headers=origin).headers
    monkeypatch.setenv("COMPTOIR_API_CORS_ORIGINS", "https://shop.example")
    with TestClient(serve_app(api_home)) as opened:
        allowed = opened.get("/v1/kpis", headers=origin).headers
        assert allowed["access-control-allow-origin"] == "https://shop.example"


def _customer_features(api_home: Path, built_sample: Path, tmp_path: Path) -> list[dict[str, object]]:
    """Rows in the model's input columns, as `comptoir score` reads them: the features of a few customers."""
    import duckdb

    from ml.propensity.features import build_features
    from ml.propensity.tables import scoring_cutoff
    from ml.warehouse import read_as_of_date

    result, _ = load_model(api_home / "models")
    copy = tmp_path / "scoring-input.duckdb"  # not features.duckdb: its catalog would shadow schema `features`
    copy.write_bytes(built_sample.read_bytes())
    with duckdb.connect(str(copy), read_only=True) as con:
        features = build_features(con, [scoring_cutoff(con, read_as_of_date(con))])
    columns = ["customer_id", *[c for c in result.input_columns if c != "customer_id"]]
    frame = features[columns].head(5)
    return json.loads(frame.to_json(orient="records"))


def test_score_one_and_a_batch(client: TestClient, api_keys: dict[str, str], api_home: Path, built_sample: Path,
                               tmp_path: Path) -> None:
    rows = _customer_features(api_home, built_sample, tmp_path)
    headers = auth(api_keys["score"])
    one = client.post("/v1/score", json=rows[0], headers=headers)
    assert one.status_code == 200, one.text
    assert 0 <= one.json()["score"] <= 100 and one.json()["tier"] in {"Hot", "Warm", "Cold"}
    batch = client.post("/v1/score/batch", json={"rows": rows}, headers=headers).json()
    assert batch["scored_rows"] == 5 and [s["customer_id"] for s in batch["scores"]] == [r["customer_id"]
                                                                                         for r in rows]
    assert batch["scores"][0]["score"] == one.json()["score"]
    # a CSV upload gives the same scores
    csv_path = tmp_path / "leads.csv"
    import pandas as pd

    pd.DataFrame(rows).to_csv(csv_path, index=False)
    uploaded = client.post("/v1/score/batch", files={"file": ("leads.csv", csv_path.read_bytes(), "text/csv")},
                           headers=headers).json()
    assert [s["score"] for s in uploaded["scores"]] == [s["score"] for s in batch["scores"]]


def test_invalid_rows_get_the_messages_of_comptoir_score(client: TestClient, api_keys: dict[str, str],
                                                         api_home: Path, built_sample: Path, tmp_path: Path) -> None:
    rows = _customer_features(api_home, built_sample, tmp_path)
    numeric = next(k for k, v in rows[1].items() if k != "customer_id" and isinstance(v, int | float))
    rows[1][numeric] = "lots"
    headers = auth(api_keys["score"])
    refused = _error(client.post("/v1/score/batch", json={"rows": rows}, headers=headers), 422)
    assert refused["errors"][0]["field"] == f"record 2.{numeric}"
    # the same message `comptoir score` prints for the same rows in a .json file
    path = tmp_path / "leads.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    result, _ = load_model(api_home / "models")
    _, errors = validate(read_input(path), list(result.input_columns))
    assert refused["errors"][0]["reason"] == errors[0].message
    assert format_row_errors(errors)[0].startswith("record 2")
    skipped = client.post("/v1/score/batch?skip_invalid=true", json={"rows": rows}, headers=headers).json()
    assert skipped["scored_rows"] == 4 and skipped["skipped"][0]["row"] == "record 2"
    missing = _error(client.post("/v1/score", json={"customer_id": "X"}, headers=headers), 422)
    assert "missing required column" in missing["errors"][0]["reason"]
