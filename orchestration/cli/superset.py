"""`comptoir superset init|sync|follow|serve|publish`, and the dashboard sync `comptoir serve` shares."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

import requests

from orchestration.cli import summaries
from orchestration.cli.common import http_url, raise_interrupt
from orchestration.publish import PublishError, publish_warehouse, read_fact
from orchestration.settings import Settings, private_home
from orchestration.superset import server
from orchestration.superset.bundle import BundleError
from orchestration.superset.client import SupersetError
from orchestration.superset.follow import POLL_SECONDS, PublishFollower
from orchestration.superset.sync import ASSETS_DIR, sync


def sync_dashboards(settings: Settings, url: str, assets_dir: Path | None = None) -> int:
    """Sync the dashboards (superset/assets/ unless `assets_dir`) into the Superset at `url`; 0 when done, 1 when
    there is nothing published yet, or the bundle or Superset failed."""
    if not settings.published_path.exists():
        print(f"No published warehouse at {settings.published_path}: the dashboards are synced after a build "
              "publishes one (`comptoir build`, then `comptoir superset sync`).", file=sys.stderr)
        return 1
    admin = server.admin_credential(settings.home)
    viewer = server.viewer_credential(settings.home)
    try:
        report = sync(url, admin.username, admin.password, assets_dir or ASSETS_DIR, settings.published_path,
                      viewer_password=viewer.password)
    except (BundleError, SupersetError, FileNotFoundError, LookupError) as error:
        print(f"error: superset sync failed: {error}", file=sys.stderr)
        return 1
    except requests.ConnectionError:
        print(f"error: no Superset answers at {url}: start it (`comptoir superset serve`) first", file=sys.stderr)
        return 1
    summaries.synced(report)
    return 0


def follower(settings: Settings, url: str) -> PublishFollower:
    """Re-syncs the Superset at `url` after each publish of this home's warehouse (orchestration/superset/follow.py).
    The publish the dashboards show now (just synced) is taken as done."""

    def resync() -> None:
        admin = server.admin_credential(settings.home)
        sync(url, admin.username, admin.password, ASSETS_DIR, settings.published_path)

    return PublishFollower(settings.published_path, resync, synced=read_fact(settings.published_path))


def credentials(settings: Settings) -> None:
    summaries.credentials([
        (role, cred.username, cred.password, cred.source)
        for role, cred in (("admin", server.admin_credential(settings.home)),
                           ("business viewer", server.viewer_credential(settings.home)))
    ])


def _init(settings: Settings, force: bool) -> int:
    started = time.monotonic()
    try:
        done = server.init(settings.home, force=force)
    except server.SupersetSetupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if done:
        print(f"Superset initialised in {time.monotonic() - started:.1f}s ({server.superset_dir(settings.home)})")
        credentials(settings)
    else:
        print(f"Superset already initialised ({server.superset_dir(settings.home)}); --force redoes it")
    return 0


def _publish(settings: Settings) -> int:
    try:
        published = publish_warehouse(settings.warehouse_path, settings.published_path)
    except PublishError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"Published {published.path} ({published.tables} tables) in {published.seconds:.1f}s")
    return 0


def _follow(settings: Settings, url: str) -> int:
    """For a Superset this process did not start (docker-compose.yml): first publish, sync, then follow."""
    signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        while read_fact(settings.published_path) is None:
            time.sleep(POLL_SECONDS)
        if sync_dashboards(settings, url) != 0:
            return 1
        print(f"Following {settings.published_path}: the dashboards at {url} are re-synced after each publish")
        follower(settings, url).run()
    except KeyboardInterrupt:
        return 0
    return 0


def _serve(settings: Settings, host: str, port: int) -> int:
    try:
        if not server.is_initialised(settings.home):
            server.init(settings.home)
        process = server.start_server(settings.home, host, port)
    except server.SupersetSetupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGINT, raise_interrupt)
    signal.signal(signal.SIGTERM, raise_interrupt)
    print(f"Superset: {http_url(host, port)}  (Ctrl-C stops it)")
    try:
        return process.wait()
    except KeyboardInterrupt:
        return 0 if server.stop_process_group(process, signal.SIGTERM) is not None else 1


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    private_home(settings.home)
    verb = args.superset_verb
    if verb == "init":
        return _init(settings, args.force)
    if verb == "sync":
        return sync_dashboards(settings, args.url.rstrip("/"), args.assets)
    if verb == "follow":
        return _follow(settings, args.url.rstrip("/"))
    if verb == "publish":
        return _publish(settings)
    return _serve(settings, args.host, args.port)
