"""`comptoir api`: serve the HTTP API (api/) on uvicorn, or manage its keys (`comptoir api keys ...`)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from api.keys import KeyStore, KeyStoreError
from orchestration.cli import summaries
from orchestration.settings import Settings, private_home

log = logging.getLogger(__name__)


def serve(settings: Settings, host: str, port: int, workers: int = 1) -> int:
    import uvicorn

    if not settings.published_path.exists():
        log.warning("nothing published yet at %s: the API answers 503 until a build publishes",
                    settings.published_path)
    summaries.api_serving(host, port, KeyStore(settings.home))
    # Every worker process follows the published file and the keys file per request by itself, so several can
    # share the port; each builds the application for COMPTOIR_HOME (api.app:serve_app_from_env).
    os.environ["COMPTOIR_HOME"] = str(settings.home)
    uvicorn.run("api.app:serve_app_from_env", factory=True, host=host, port=port, workers=max(1, workers),
                log_level="warning", access_log=False, timeout_graceful_shutdown=10)
    return 0


def keys(settings: Settings, args: argparse.Namespace) -> int:
    store = KeyStore(settings.home)
    try:
        if args.keys_verb == "create":
            key, record = store.create(args.name, args.scopes)
            summaries.api_key_created(key, record)
        elif args.keys_verb == "list":
            summaries.api_keys(list(store.records().values()))
        else:
            summaries.api_key_revoked(store.revoke(args.key_id))
    except KeyStoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if args.api_verb == "keys":
        private_home(settings.home)  # the keys file is written there, owner only
        return keys(settings, args)
    # Serving only reads (the published file, the keys, the models): the home may be mounted read-only.
    return serve(settings, args.host, args.port, args.workers)
