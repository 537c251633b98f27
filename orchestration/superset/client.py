"""A small client for Superset's REST API (requests only: no Superset import, it runs in the pipeline venv)."""

import json
import logging
import time
from typing import Any

import requests

log = logging.getLogger(__name__)

TIMEOUT = 120  # seconds: an import of the whole bundle on a busy two-core machine


class SupersetError(RuntimeError):
    """Superset answered with an error."""


def rison_list(filters: dict[str, Any] | None = None, page: int = 0, page_size: int = 100,
               columns: list[str] | None = None) -> str:
    """The `q` argument of a list endpoint in Rison (only the shapes used here: strings and numbers)."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "!t" if v else "!f"
        if isinstance(v, int | float):
            return str(v)
        text = str(v).replace("!", "!!").replace("'", "!'")
        return f"'{text}'"

    parts = [f"page:{page}", f"page_size:{page_size}"]
    if columns:
        parts.append("columns:!(" + ",".join(columns) + ")")
    if filters:
        parts.append("filters:!(" + ",".join(
            f"(col:{col},opr:eq,value:{value(v)})" for col, v in filters.items()) + ")")
    return "(" + ",".join(parts) + ")"


class SupersetClient:
    """Logged-in session: a JWT for the API plus the CSRF token Superset wants on writes."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        response = self.session.post(
            f"{self.base_url}/api/v1/security/login",
            json={"username": username, "password": password, "provider": "db", "refresh": True},
            timeout=TIMEOUT,
        )
        if response.status_code != 200:
            raise SupersetError(f"login as {username} failed ({response.status_code}): {response.text[:300]}")
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        csrf = self.get("/api/v1/security/csrf_token/")["result"]
        self.session.headers.update({"X-CSRFToken": csrf, "Referer": self.base_url})

    def request(self, method: str, path: str, expect: tuple[int, ...] = (200, 201), **kwargs: Any) -> Any:
        response = self.session.request(method, f"{self.base_url}{path}", timeout=TIMEOUT, **kwargs)
        if response.status_code not in expect:
            raise SupersetError(f"{method} {path} -> {response.status_code}: {response.text[:1000]}")
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.content

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)

    def list_all(self, resource: str, filters: dict[str, Any] | None = None,
                 columns: list[str] | None = None) -> list[dict[str, Any]]:
        """Every row of a list endpoint (`/api/v1/<resource>/`), page by page."""
        rows: list[dict[str, Any]] = []
        page = 0
        while True:
            answer = self.get(f"/api/v1/{resource}/", params={"q": rison_list(filters, page, 100, columns)})
            batch = answer.get("result", [])
            rows.extend(batch)
            if len(batch) < 100:
                return rows
            page += 1

    def import_assets(self, bundle: bytes, passwords: dict[str, str] | None = None) -> None:
        """POST /api/v1/assets/import/: every file of the bundle, overwriting what has the same uuid."""
        self.post(
            "/api/v1/assets/import/",
            files={"bundle": ("bundle.zip", bundle, "application/zip")},
            data={"passwords": json.dumps(passwords or {})},
        )

    def chart_data(self, payload: dict[str, Any]) -> dict[str, Any]:
        """POST /api/v1/chart/data: the rows a chart's query context returns."""
        return self.post("/api/v1/chart/data", json=payload)


def wait_until_healthy(base_url: str, timeout: float = 180.0) -> None:
    """Poll /health until Superset answers OK."""
    deadline = time.monotonic() + timeout
    last: Exception | str = "no answer"
    while time.monotonic() < deadline:
        try:
            response = requests.get(f"{base_url.rstrip('/')}/health", timeout=5)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}"
        except requests.RequestException as error:
            last = error
        time.sleep(1)
    raise SupersetError(f"Superset at {base_url} did not become healthy in {timeout:.0f}s: {last}")
