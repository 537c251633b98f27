"""Writable cache folders and quiet logs for pymc / pytensor / arviz, set before they are imported.

pytensor compiles the model's log-likelihood to C and keeps the modules in ``base_compiledir`` (by default
``~/.pytensor``); arviz and matplotlib (which arviz imports) write to ``$XDG_CACHE_HOME`` and
``$MPLCONFIGDIR`` (by default under ``~``). A home folder may be read-only (a service account, a container)
and Comptoir keeps everything it writes under ``COMPTOIR_HOME``, so :func:`configure_caches` points all three
there. pytensor reads its flags once, when it is first imported: call :func:`configure_caches` before any
``import pymc`` / ``pymc_marketing`` / ``pytensor`` (``ml.clv.model`` imports them inside its functions, after
calling it).

A variable that is already set is left alone (the caller chose), and so is a library that is already
imported (its folders are fixed by then); both are logged.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from pathlib import Path

logger = logging.getLogger(__name__)

PYTENSOR_FLAGS = "PYTENSOR_FLAGS"
# Libraries whose INFO logs (compilation, optimiser progress, sampler set-up) would flood the build output.
NOISY_LOGGERS: tuple[str, ...] = (
    "pymc", "pytensor", "pymc_marketing", "pymc_extras", "arviz", "preliz", "numba", "matplotlib",
)


def configure_caches(cache_root: Path) -> dict[str, str]:
    """Point pytensor's compile cache, XDG_CACHE_HOME and MPLCONFIGDIR under ``cache_root``; returns what it set.

    ``cache_root`` is typically ``COMPTOIR_HOME/cache``: ``pytensor/``, ``xdg/`` and ``matplotlib/`` are
    created inside it. Idempotent: a second call finds the variables set and changes nothing.
    """
    cache_root = Path(cache_root).resolve()
    changed: dict[str, str] = {}

    flags = os.environ.get(PYTENSOR_FLAGS, "")
    if "base_compiledir" in flags or "compiledir=" in flags:
        logger.debug("%s already sets a compile dir: %s", PYTENSOR_FLAGS, flags)
    else:
        if "pytensor" in sys.modules:
            logger.warning("pytensor was imported before configure_caches: its compile cache stays where it is")
        compiledir = cache_root / "pytensor"
        compiledir.mkdir(parents=True, exist_ok=True)
        value = f"{flags},base_compiledir={compiledir}" if flags else f"base_compiledir={compiledir}"
        os.environ[PYTENSOR_FLAGS] = changed[PYTENSOR_FLAGS] = value

    for variable, folder in (("XDG_CACHE_HOME", "xdg"), ("MPLCONFIGDIR", "matplotlib")):
        if os.environ.get(variable):
            continue
        path = cache_root / folder
        path.mkdir(parents=True, exist_ok=True)
        os.environ[variable] = changed[variable] = str(path)
    if changed:
        logger.debug("cache folders: %s", changed)
    return changed


def quiet_libraries() -> None:
    """Keep pymc / pytensor / arviz / matplotlib INFO logs (compilation, optimiser set-up) out of the output.

    Their warnings still come through. Call it again after importing pymc: on import, pymc sets its own logger
    to INFO when the root logger has no handler.
    """
    for name in (*NOISY_LOGGERS, *_path_named_loggers()):
        logging.getLogger(name).setLevel(logging.WARNING)


def _path_named_loggers() -> list[str]:
    """pytensor's C-linker module logs under its file path ("Compiling new CVM"), outside the pytensor tree.

    Found without importing pytensor (``find_spec`` of a top-level package does not run it).
    """
    spec = importlib.util.find_spec("pytensor")
    if spec is None or not spec.submodule_search_locations:
        return []
    return [str(Path(location) / "link" / "c" / "lazylinker_c.py") for location in spec.submodule_search_locations]
