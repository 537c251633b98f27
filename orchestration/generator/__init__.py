"""Synthetic shop exports for Comptoir: orders, customers, products, inventory, web sessions, e-mails.

`generate()` simulates customers in fixed-size chunks with numpy (spilled to parquet in a
temporary folder inside out_dir), then lets DuckDB do the global steps: ids in time order,
defect injection and byte-exact formatting of the final files. Same arguments, same bytes.
"""

from __future__ import annotations

import logging
import shutil
import time
from datetime import date
from pathlib import Path

from .calendar import build_calendar
from .catalog import build_catalog
from .chunk import simulate_chunk
from .config import GeneratorConfig
from .export import (
    engagement_stats,
    export_customers,
    export_email_events,
    export_inventory,
    export_orders,
    export_products,
    export_web_sessions,
    file_rows,
    stage,
)
from .writer import connect, write_manifest

__all__ = ["GeneratorConfig", "generate", "generate_from_config"]

log = logging.getLogger(__name__)
MANIFEST_FILE = "manifest.json"
TMP_DIR = ".generator_tmp"
MANIFEST_VERSION = 1


def generate(out_dir: Path, *, customers: int = 1500, days: int = 731, seed: int = 42,
             start: date = date(2024, 1, 1), defect_rate: float = 0.02, subcent_rate: float = 0.0) -> dict:
    """Write the six source files and manifest.json into out_dir; return the manifest."""
    cfg = GeneratorConfig(customers=customers, days=days, seed=seed, start=start, defect_rate=defect_rate,
                          subcent_rate=subcent_rate)
    return generate_from_config(Path(out_dir), cfg)


def generate_from_config(out_dir: Path, cfg: GeneratorConfig) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / TMP_DIR
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    started = time.perf_counter()
    try:
        cal = build_calendar(cfg)
        cat = build_catalog(cfg)
        for chunk in range(cfg.n_chunks):
            simulate_chunk(cfg, cal, cat, chunk, tmp)
            log.info("simulated chunk %d/%d (%.1fs)", chunk + 1, cfg.n_chunks, time.perf_counter() - started)
        con = connect(tmp, cfg.start)
        try:
            stage(con, tmp, cat)
            defects: dict[str, int] = {}
            product_defects = export_products(cfg, cat, out_dir)
            defects |= product_defects
            order_defects, stats, fraud_ids = export_orders(con, cfg, out_dir)
            defects |= order_defects
            defects |= export_customers(con, cfg, out_dir)
            inv_defects, inv_stats = export_inventory(con, cfg, cal, cat, out_dir)
            defects |= inv_defects
            defects |= export_web_sessions(con, cfg, out_dir)
            defects |= export_email_events(con, cfg, out_dir)
            stats |= inv_stats | engagement_stats(con)
        finally:
            con.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    stats |= {"customers": cfg.customers, "products": int(cat.n)}
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "generator": cfg.as_manifest(),
        "rows": file_rows(out_dir),
        "defects": defects,
        "stats": stats,
        # The planted fraud-like orders (valid rows; see generator/fraud.py), sorted: the answer key
        # for the order-anomaly detector.
        "fraud_order_ids": fraud_ids,
    }
    write_manifest(manifest, out_dir / MANIFEST_FILE)
    log.info("generated %s in %.1fs", out_dir, time.perf_counter() - started)
    return manifest
