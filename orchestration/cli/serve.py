"""`comptoir serve`: the Dagster UI, Superset and the HTTP API together until Ctrl-C, the dashboards and the API
following each publish."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time

from orchestration.cli.common import apply_seeds, http_url, prepare_dagster_home, raise_interrupt, wait_for_http
from orchestration.cli.superset import credentials, follower, sync_dashboards
from orchestration.superset import server
from orchestration.superset.follow import PublishFollower


def run(args: argparse.Namespace) -> int:
    """Each server in its own process group; Ctrl-C (or SIGTERM) stops them all."""
    settings = apply_seeds(args.seeds)
    prepare_dagster_home(settings)
    dagster_command = [
        sys.executable, "-m", "dagster", "dev", "-m", "orchestration.definitions",
        "-h", args.host, "-p", str(args.dagster_port),
    ]
    # Ctrl-C (SIGINT, even when inherited as ignored) and SIGTERM both stop the two servers.
    signal.signal(signal.SIGINT, raise_interrupt)
    signal.signal(signal.SIGTERM, raise_interrupt)
    dagster: subprocess.Popen[bytes] | None = None
    superset: subprocess.Popen[bytes] | None = None
    api: subprocess.Popen[bytes] | None = None
    following: PublishFollower | None = None
    status = 0
    try:
        dagster = subprocess.Popen(dagster_command, start_new_session=True)
        lines = [f"Dagster UI: {http_url(args.host, args.dagster_port)}"]
        if not args.no_api:
            # The API follows the published file by itself (api/warehouse.py): nothing to re-sync after a publish.
            api = subprocess.Popen([sys.executable, "-m", "orchestration.cli", "api", "--host", args.host,
                                    "--port", str(args.api_port)], start_new_session=True, stdout=subprocess.DEVNULL)
            lines.append(f"API:        {http_url(args.host, args.api_port)}/v1   (OpenAPI: "
                         f"{http_url(args.host, args.api_port)}/docs; keys: comptoir api keys create)")
        if not args.no_superset:
            if not server.is_initialised(settings.home):
                print("Initialising Superset (first run only, 1-2 minutes)...")
                server.init(settings.home)
            url = http_url(args.host, args.superset_port)
            superset = server.start_server(settings.home, args.host, args.superset_port)
            wait_for_http(f"{url}/health", [dagster, superset])
            if sync_dashboards(settings, url) != 0 and settings.published_path.exists():
                return 1
            # Builds (the Dagster UI's, the schedules', `comptoir build`) only publish; this re-syncs after each.
            following = follower(settings, url).start()
            lines.insert(0, f"Superset:   {url}   (log: {server.superset_dir(settings.home) / 'superset.log'})")
        running = [process for process in (dagster, superset, api) if process is not None]
        wait_for_http(f"{http_url(args.host, args.dagster_port)}/server_info", running)
        if api is not None:
            wait_for_http(f"{http_url(args.host, args.api_port)}/openapi.json", running)
        print("\n".join(lines))
        if superset is not None:
            credentials(settings)
        print("Ctrl-C stops the servers.")
        while True:
            for process in (dagster, superset, api):
                if process is not None and process.poll() is not None:
                    print(f"error: a server stopped unexpectedly (status {process.returncode})", file=sys.stderr)
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        status = 0
    except (server.SupersetSetupError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        status = 1
    finally:
        # Dagster dev shuts its webserver and daemon down on SIGINT; gunicorn stops gracefully on SIGTERM.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if following is not None:
            following.stop()
        if superset is not None:
            server.stop_process_group(superset, signal.SIGTERM)
        if api is not None:
            server.stop_process_group(api, signal.SIGTERM)  # uvicorn finishes the requests in flight
        if dagster is not None:
            server.stop_process_group(dagster, signal.SIGINT)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return status
