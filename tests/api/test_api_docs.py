"""The API's try-it page works offline: /docs, in Chromium with every request to another host refused, shows the
API's operations from Swagger UI's files served by the API itself (swagger-ui-bundle), not from a CDN."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.bench.latency import serve_api
from tests.browser import CHROMIUM, CHROMIUM_FLAGS

pytestmark = pytest.mark.slow


def test_the_docs_page_renders_every_operation_without_leaving_the_machine(api_home: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    outside: list[str] = []
    with serve_api(api_home, tmp_path / "api.log") as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        context = browser.new_context()
        context.route(lambda address: not address.startswith(url),
                      lambda route: (outside.append(route.request.url), route.abort()))
        page = context.new_page()
        page.goto(f"{url}/docs")
        page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
        assert "Comptoir API" in page.locator(".swagger-ui .info .title").inner_text()
        page.wait_for_selector(".opblock", timeout=30_000)
        operations = page.locator(".opblock-summary-path").all_inner_texts()
        browser.close()
    assert "/v1/kpis" in operations and "/v1/score/batch" in operations
    assert not outside, f"the docs page asked other hosts for {outside}"
