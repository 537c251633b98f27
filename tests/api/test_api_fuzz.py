"""Bad input never breaks the API: schemathesis drives every operation of its OpenAPI schema with generated
requests (a bounded number per operation) and checks that none gets a 5xx and that every response matches the
schema: its status code is documented, its body has the documented shape (4xx included: field and reason)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app, serve_app
from tests.api.conftest import auth

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 25  # per operation: ~20 operations in well under two minutes
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


# (path, method) of every operation; the schema does not depend on the warehouse, so a home-less app lists them.
OPERATIONS = [(path, method) for path, methods in create_app(Path("/nonexistent")).openapi()["paths"].items()
              for method in methods]


@pytest.fixture(scope="module")
def api_schema(api_home: Path) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", serve_app(api_home))


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m.upper()} {p}" for p, m in OPERATIONS])
def test_every_operation_answers_bad_input_with_a_documented_4xx(api_schema: Any, api_keys: dict[str, str],
                                                                path: str, method: str) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def call(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=auth(api_keys["all"]), checks=CHECKS)

    call()
