"""docs/benchmarks.md from the benchmark's results: one table per measure, the ratios, the goals, the machine."""

from __future__ import annotations

import os
import platform
import statistics
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

GIB = 1024.0


def _median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def phases(build: dict[str, Any]) -> dict[str, float]:
    """A build report's seconds by phase: start-up, raw load, dbt (step, models, tests, unit tests), ML, publish."""
    steps = {key: step["seconds"] for key, step in build.get("steps", {}).items()}
    dbt = build.get("dbt", {}).get("seconds_by_kind", {})
    raw = sum(v for k, v in steps.items() if k.startswith("raw__"))
    publish = sum(v for k, v in steps.items() if k.startswith("published__"))
    ml = sum(v for k, v in steps.items() if not k.startswith(("raw__", "published__")) and k != "dbt_models")
    return {
        "wall": build["seconds"],
        "peak_rss_mb": build["peak_rss_mb"],
        "startup": build.get("startup_seconds", 0.0),
        "raw": raw,
        "dbt": steps.get("dbt_models", 0.0),
        "dbt_models": dbt.get("model", 0.0),
        "dbt_tests": dbt.get("test", 0.0),
        "dbt_unit_tests": dbt.get("unit_test", 0.0),
        "ml": ml,
        "publish": publish,
        "landing_to_marts": build.get("startup_seconds", 0.0) + raw + steps.get("dbt_models", 0.0),
    }


def ml_steps(build: dict[str, Any]) -> dict[str, float]:
    return {key: step["seconds"] for key, step in build.get("steps", {}).items()
            if not key.startswith(("raw__", "published__")) and key != "dbt_models"}


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    """Medians over the rounds, and the ratios the issue asks for."""
    full = [phases(b) for b in result["full"]]
    incremental = [phases(b) for b in result["incremental"]]
    summary: dict[str, Any] = {
        "full": {k: _median([p[k] for p in full]) for k in full[0]} if full else {},
        "incremental": {k: _median([p[k] for p in incremental]) for k in incremental[0]} if incremental else {},
        "replay_models": _median([r["model_seconds"] for r in result["replay"]]),
        "replay_tests": _median([r["test_seconds"] for r in result["replay"]]),
        "replay": _median([r["seconds"] for r in result["replay"]]),
        "replay_peak_rss_mb": _median([r["peak_rss_mb"] for r in result["replay"]]),
        "pandas": _median([r["seconds"] for r in result["pandas"]]),
        "pandas_peak_rss_mb": _median([r["peak_rss_mb"] for r in result["pandas"]]),
    }
    f, i = summary["full"], summary["incremental"]
    if f and summary["replay"]:
        summary["dbt_over_replay"] = f["dbt"] / summary["replay"]
    if f and summary["pandas"]:
        summary["pandas_over_build"] = summary["pandas"] / (f["raw"] + f["dbt"])
    if f and i:
        summary["incremental_over_full"] = (i["raw"] + i["dbt"]) / (f["raw"] + f["dbt"])
    return summary


def _s(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 100:
        return f"{value:.1f} s"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes} min {seconds} s"


def _mem(mb: float | None) -> str:
    return "-" if mb is None else (f"{mb / GIB:.1f} GiB" if mb >= GIB else f"{mb:.0f} MiB")


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(next(x for x in Path("/proc/meminfo").read_text().splitlines()
                          if x.startswith("MemTotal")).split()[1])
        memory = f"{mem_kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        memory = "unknown memory"
    packages = ("duckdb", "dbt-core", "dbt-duckdb", "dagster", "pandas")
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in packages)
    return (f"{os.cpu_count()} cores ({cpu}), {memory}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}; {versions}")


GOALS: list[tuple[str, str, Any]] = [
    ("sample", "landing files → marts ≤ 10 s", lambda s: s["full"]["landing_to_marts"] <= 10),
    ("sample", "whole build, ML included, ≤ 60 s", lambda s: s["full"]["wall"] <= 60),
    ("10M", "whole build ≤ 3 min", lambda s: s["full"]["wall"] <= 180),
    ("10M", "peak RSS ≤ 8 GiB", lambda s: s["full"]["peak_rss_mb"] <= 8 * GIB),
    ("10M", "raw load ≤ 30 s", lambda s: s["full"]["raw"] <= 30),
    ("10M", "raw + models + tests ≤ 60 s", lambda s: s["full"]["raw"] + s["full"]["dbt"] <= 60),
    ("10M", "ML ≤ 90 s", lambda s: s["full"]["ml"] <= 90),
    ("10M", "dbt ≤ 1.3 x its replayed SQL + 5 s", lambda s: s["full"]["dbt"] <= 1.3 * s["replay"] + 5),
    ("10M", "≥ 3 x faster than pandas", lambda s: s.get("pandas_over_build", 0) >= 3),
    ("10M", "new day: raw + models + tests ≤ 15 s",
     lambda s: s["incremental"]["raw"] + s["incremental"]["dbt"] <= 15),
    ("10M", "new day: ML daily path ≤ 30 s", lambda s: s["incremental"]["ml"] <= 30),
]


def scoring_rows(scoring: list[dict[str, Any]]) -> list[str]:
    """The batch scoring table: medians over the rounds, per file size and format."""
    keys = sorted({(r["rows"], r["format"]) for r in scoring})
    lines = ["", "## Batch scoring (`comptoir score`)", "",
             "Generated files of the first size's customers (its build's feature rows repeated under new ids), scored "
             "by `comptoir score` with that build's saved model, each in a process of its own; the file is streamed "
             "in chunks, so peak RSS should not grow with it (`orchestration/bench/scoring.py`).", "",
             "| customers | format | input | wall | peak RSS |", "|---|---|---|---|---|"]
    for rows, kind in keys:
        runs = [r for r in scoring if (r["rows"], r["format"]) == (rows, kind)]
        size = (_median([r["input_bytes"] for r in runs]) or 0) / 1024 / 1024
        wall, peak = _median([r["seconds"] for r in runs]), _median([r["peak_rss_mb"] for r in runs])
        lines.append(f"| {rows:,} | {kind} | {size:.0f} MiB | {_s(wall)} | {_mem(peak)} |")
    return lines


# The latency goals (issue 12), all set for 10 M order lines; smaller sizes are marked against them for reference.
GOAL_SIZE = "10M"
API_P95_MS = 50.0
KPIS_PER_SECOND = 500.0
BATCH_SECONDS = 2.0
CHART_P95_MS = 200.0


def _ms(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} req/s"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _load(measured: dict[str, Any]) -> str:
    """The machine's 1-minute load average when a latency measure started, when recorded."""
    value = measured.get("load_average")
    return "" if value is None else f", load average {value:.1f} at the start"


def _mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def _goal_note(sizes: list[str]) -> list[str]:
    if GOAL_SIZE in sizes:
        return []
    return ["", f"The goals are set for {GOAL_SIZE} order lines; {GOAL_SIZE} was not measured in this run, so the "
            f"marks above hold the {', '.join(sizes)} figures against the same thresholds, for reference only."]


def api_goal_cells(api: dict[str, Any]) -> list[str]:
    """The three API goals' measured values with ✓/✗: every read endpoint's p95 (the worst named), /v1/kpis
    throughput, the 10,000-row batch."""
    endpoints = [e for e in api.get("endpoints", []) if e.get("p95_ms") is not None]
    worst = max(endpoints, key=lambda e: e["p95_ms"], default=None)
    failing = [e for e in api.get("endpoints", []) if e.get("p95_ms") is None]
    if worst is None or failing:
        p95 = "no answer" if worst is None else f"{len(failing)} endpoint(s) never answered ✗"
    else:
        p95 = f"{worst['p95_ms']:.1f} ms ({worst['endpoint']}) {_mark(worst['p95_ms'] <= API_P95_MS)}"
    rate = api.get("kpis_requests_per_second")
    kpis = "-" if rate is None else f"{_rate(rate)} {_mark(rate >= KPIS_PER_SECOND)}"
    batch = api.get("score_batch", {}).get("median_seconds")
    batch_cell = "-" if batch is None else f"{_seconds(batch)} {_mark(batch <= BATCH_SECONDS)}"
    return [p95, kpis, batch_cell]


def api_latency_rows(results: list[dict[str, Any]]) -> list[str]:
    """The API latency table (rows: endpoints; per size p50 / p95 / p99 ms and errors), /v1/kpis throughput, the
    batch, and the goals beside the measured values."""
    measured = {r["size"]: r["api_latency"] for r in results if r.get("api_latency", {}).get("endpoints")}
    if not measured:
        return []
    sizes = list(measured)
    first = next(iter(measured.values()))
    lines = ["", f"## API latency ({first.get('clients', 16)} concurrent clients)", "",
             f"`comptoir api` on the full build's published warehouse, on 127.0.0.1 (one uvicorn process); "
             f"{first.get('clients', 16)} clients (one asyncio loop, httpx, keep-alive) issue each request until "
             f"{first.get('requests_per_endpoint', 0):,} are done, after a warm-up; the arguments are the "
             "warehouse's own (its as-of date's last 12 months, its biggest customer, category and country). "
             "Latency is seen from the client, so on a busy machine it includes the queueing behind the other "
             "clients' requests; an error is any answer but 2xx (`orchestration/bench/latency.py`). *calls*: "
             "`range` moves the date range back a day per call and `customer`/`text` take the next customer, "
             "so that each call is a new query; `same` repeats one call, whose answer the API keeps per "
             "published version after the first (DECISIONS.md: The API keeps results per published version).", "",
             "| endpoint | calls | " + " | ".join(f"{s} p50 / p95 / p99 ms | {s} errors" for s in sizes) + " |",
             "|---|---|" + "---|---|" * len(sizes)]
    labels: list[str] = []
    for api in measured.values():
        labels += [e["endpoint"] for e in api["endpoints"] if e["endpoint"] not in labels]
    varies = {e["endpoint"]: e.get("varies", "same") for api in measured.values() for e in api["endpoints"]}
    for label in labels:
        cells = [varies[label]]
        for api in measured.values():
            found = next((e for e in api["endpoints"] if e["endpoint"] == label), None)
            cells += ["-", "-"] if found is None else [
                f"{_ms(found['p50_ms'])} / {_ms(found['p95_ms'])} / {_ms(found['p99_ms'])}", str(found["errors"])]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    rates = [api.get("kpis_requests_per_second") for api in measured.values()]
    lines.append(f"| `/v1/kpis` throughput, {first.get('clients', 16)} clients | same | "
                 + " | ".join(f"{_rate(rate)} | " for rate in rates) + "|")
    batches = [api.get("score_batch", {}) for api in measured.values()]
    rows = next((b.get("rows") for b in batches if b.get("rows")), 10_000)
    lines.append(f"| `POST /v1/score/batch`, {rows:,} rows (median) | same | " + " | ".join(
        f"{_seconds(b.get('median_seconds'))} | {b.get('errors', '-')}" for b in batches) + " |")
    took = ", ".join(f"{_s(api.get('seconds'))} ({size}{_load(api)})" for size, api in measured.items())
    lines += ["", f"Measured in {took} (server start, warm-up, every endpoint, the batch).", "",
              f"| goal (set for {GOAL_SIZE} order lines) | " + " | ".join(sizes) + " |",
              "|---|" + "---|" * len(sizes)]
    cells = [api_goal_cells(api) for api in measured.values()]
    for index, goal in enumerate((f"p95 ≤ {API_P95_MS:.0f} ms, every read endpoint",
                                  f"≥ {KPIS_PER_SECOND:.0f} requests/s, `/v1/kpis`",
                                  f"`POST /v1/score/batch` of 10,000 rows ≤ {BATCH_SECONDS:.0f} s")):
        lines.append(f"| {goal} | " + " | ".join(c[index] for c in cells) + " |")
    failures = [f"{size}: {e['endpoint']}: {e['first_error']}" for size, api in measured.items()
                for e in api["endpoints"] if e.get("first_error")]
    if failures:
        lines += ["", *(f"- first error, {failure}" for failure in failures[:10])]
    return [*lines, *_goal_note(sizes)]


def chart_latency_rows(results: list[dict[str, Any]]) -> list[str]:
    """The dashboard chart table (per size: charts, requests, p50, p95, max, errors, the slowest 5) and its goal."""
    measured = {r["size"]: r["chart_latency"] for r in results if r.get("chart_latency")}
    if not measured:
        return []
    rounds = next((c.get("rounds") for c in measured.values() if c.get("rounds")), 2)
    lines = ["", "## Dashboard chart latency (chart data API, uncached)", "",
             "Superset (gunicorn, 2 workers x 4 threads) on the full build's published warehouse; logged in as the "
             "business viewer, every chart of every dashboard is asked for its data through `POST /api/v1/chart/data`"
             " with its dashboard's default date range and filter values (what a dashboard's first load asks: the"
             f" Customers dashboard's top 20) and `force` (past Superset's cache), one at a time, {rounds} rounds."
             " The slowest charts are ranked by their median over the rounds.", "",
             "| size | dashboards | charts | requests | p50 | p95 | max | errors | slowest 5 | measured in |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for size, charts in measured.items():
        if charts.get("error"):
            lines.append(f"| {size} | not measured: {charts['error'][:200]} |" + " |" * 8)
            continue
        slowest = "; ".join(f"{s['name']} ({s['dashboard']}) {s['seconds']:.2f} s" for s in charts["slowest"])
        lines.append(f"| {size} | {charts['dashboards']} | {charts['charts']} | {charts['requests']} | "
                     f"{_ms(charts['p50_ms'], 0)} ms | {_ms(charts['p95_ms'], 0)} ms | {_ms(charts['max_ms'], 0)} ms | "
                     f"{charts['errors']} | {slowest} | {_s(charts.get('seconds'))}{_load(charts)} |")
    answered = {size: c for size, c in measured.items() if c.get("p95_ms") is not None}
    if answered:
        lines += ["", f"| goal (set for {GOAL_SIZE} order lines) | " + " | ".join(answered) + " |",
                  "|---|" + "---|" * len(answered),
                  f"| chart p95 ≤ {CHART_P95_MS:.0f} ms | " + " | ".join(
                      f"{c['p95_ms']:.0f} ms {_mark(c['p95_ms'] <= CHART_P95_MS)}"
                      for c in answered.values()) + " |"]
    failed = [f"{size}: {failure}" for size, c in measured.items() for failure in c.get("failed", [])]
    if failed:
        lines += ["", "Charts that failed:", *(f"- {failure}" for failure in failed)]
    return [*lines, *_goal_note(list(answered or measured))]


def render(results: list[dict[str, Any]], repeat: int, seconds: float,
           scoring: list[dict[str, Any]] | None = None) -> str:
    summaries = {r["size"]: summarise(r) for r in results}
    sizes = [r["size"] for r in results]
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (`comptoir bench --lines {' '.join(sizes)} --repeat {repeat}`) on "
        f"{datetime.now(UTC):%Y-%m-%d}, in {_s(seconds)}. Medians over {repeat} round(s); in each round every "
        "measure of every size runs once, one after another (never two at a time), so the machine's noise hits all "
        "sides alike.",
        "",
        f"Machine: {machine()}.",
        "",
        "What is measured, each in a process of its own (peak RSS = the largest sampled sum over the process and its "
        "children):",
        "- **build**: `comptoir build` on the landing folder but its last day (days 1..N-1), from an empty "
        "`COMPTOIR_HOME` (raw load, `dbt build` of every model and test, every ML asset, publish); start-up is the "
        "time from the process start to the first step;",
        "- **replay**: the same build's compiled SQL (dbt's `run_results.json`) run straight in one DuckDB connection "
        "on a copy of the raw layer, models as `create or replace table|view`, data tests as `select count(*)`: what "
        "the same SQL costs without dbt;",
        "- **pandas**: the headline marts (enriched order lines, daily sales by category, RFM, monthly cohorts, top "
        "10 products, market basket) in vectorised pandas from the same files (`orchestration/bench/pandas_marts.py`);",
        "- **new day**: the last day's orders, sessions and e-mail events added to that build's landing folder as "
        "`<stem>_<day>.csv` files and built in its home as the daily schedule builds it (`comptoir build "
        "--no-refit`).",
        "",
        "## Results",
        "",
        "| | " + " | ".join(f"{s} ({r['order_lines']:,} order lines, {r['order_lines'] - r['day_order_lines']:,} "
                            "before the last day)" for s, r in zip(sizes, results, strict=True))
        + " |",
        "|---|" + "---|" * len(sizes),
    ]

    def row(label: str, values: list[str]) -> None:
        lines.append(f"| {label} | " + " | ".join(values) + " |")

    def full(key: str) -> list[str]:
        return [_s(summaries[s]["full"].get(key)) for s in sizes]

    row("**build, wall**", [f"**{_s(summaries[s]['full'].get('wall'))}**" for s in sizes])
    row("build, peak RSS", [_mem(summaries[s]["full"].get("peak_rss_mb")) for s in sizes])
    row("start-up (to the first step)", full("startup"))
    row("raw load (all sources)", full("raw"))
    row("dbt build (step)", full("dbt"))
    row("- models, summed over threads", full("dbt_models"))
    row("- data tests, summed", full("dbt_tests"))
    row("- unit tests, summed", full("dbt_unit_tests"))
    row("ML assets", full("ml"))
    row("publish", full("publish"))
    row("landing → marts (start-up + raw + dbt)", full("landing_to_marts"))
    row("**replayed SQL** (models + tests)", [
        f"**{_s(summaries[s]['replay'])}** ({_s(summaries[s]['replay_models'])} + {_s(summaries[s]['replay_tests'])})"
        for s in sizes])
    row("dbt ÷ replayed SQL", [_x(summaries[s].get("dbt_over_replay")) for s in sizes])
    row("**pandas** headline marts", [
        f"**{_s(summaries[s]['pandas'])}** ({_mem(summaries[s]['pandas_peak_rss_mb'])})" for s in sizes])
    row("pandas ÷ build's raw + dbt", [_x(summaries[s].get("pandas_over_build")) for s in sizes])
    row("**new day**, wall", [
        f"**{_s(summaries[s]['incremental'].get('wall'))}** ({r['day_order_lines']:,} order lines)"
        for s, r in zip(sizes, results, strict=True)])
    row("new day: raw + dbt", [
        _s((summaries[s]["incremental"].get("raw") or 0) + (summaries[s]["incremental"].get("dbt") or 0))
        for s in sizes])
    row("new day: ML daily path", [_s(summaries[s]["incremental"].get("ml")) for s in sizes])
    row("new day ÷ full (raw + dbt)", [_x(summaries[s].get("incremental_over_full")) for s in sizes])

    lines += ["", "## ML assets, each (full build)", "", "| asset | " + " | ".join(sizes) + " |",
              "|---|" + "---|" * len(sizes)]
    keys: list[str] = []
    for r in results:
        for build in r["full"][-1:]:
            keys += [k for k in ml_steps(build) if k not in keys]
    for key in keys:
        row(f"`{key}`", [_s(_median([ml_steps(b).get(key) for b in r["full"]])) for r in results])

    if scoring:
        lines += scoring_rows(scoring)
    lines += api_latency_rows(results)
    lines += chart_latency_rows(results)

    lines += ["", "## Goals (issue 11)", "", "| size | goal | measured |", "|---|---|---|"]
    for size, goal, check in GOALS:
        if size not in summaries:
            lines.append(f"| {size} | {goal} | not measured in this run |")
            continue
        try:
            met = check(summaries[size])
        except (KeyError, TypeError):
            met = None
        verdict = "-" if met is None else ("met" if met else "**not met**")
        lines.append(f"| {size} | {goal} | {verdict} |")
    lines += ["", "The raw figures of every round are in `benchmarks.json` beside this file.", ""]
    return "\n".join(lines)
