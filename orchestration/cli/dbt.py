"""`comptoir dbt -- <dbt args>`: dbt with the project's profile and environment, on the build warehouse."""

from __future__ import annotations

import argparse
import sys

from orchestration.cli.common import wait_for_the_warehouse
from orchestration.dbt.runner import run_dbt
from orchestration.settings import Settings, private_home

DEV_TARGET = "dev"  # $COMPTOIR_HOME/dbt/dev: this command's manifest, compiled SQL and logs


def run(args: argparse.Namespace) -> int:
    dbt_args = list(args.dbt_args)
    if dbt_args[:1] == ["--"]:
        dbt_args = dbt_args[1:]
    if not dbt_args:
        print("usage: comptoir dbt -- <dbt command and arguments>, e.g. comptoir dbt -- build -s fct_orders",
              file=sys.stderr)
        return 2
    settings = Settings.from_env()
    private_home(settings.home)
    # DuckDB lets one process write the file: wait for a build holding it rather than fail half-way.
    if not wait_for_the_warehouse(settings, args.lock_wait):
        return 1
    return run_dbt(dbt_args, settings.warehouse_path, settings.home / "dbt" / DEV_TARGET, settings.home / "bin")
