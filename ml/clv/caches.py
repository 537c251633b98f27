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

import logging
import os
import sys
import warnings
from pathlib import Path

logger = logging.getLogger(__name__)

PYTENSOR_FLAGS = "PYTENSOR_FLAGS"
# Libraries whose INFO logs (compilation, optimiser progress, sampler set-up) would flood the build output.
NOISY_LOGGERS: tuple[str, ...] = ("pymc", "pytensor", "pymc_marketing", "pymc_extras", "arviz", "preliz", "numba")


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
    """Keep pymc / pytensor / arviz below WARNING out of the logs, and drop arviz's import-time notice.

    The notice ("ArviZ is undergoing a major refactor", a FutureWarning printed on import) says nothing about
    our results; genuine warnings from these libraries still come through.
    """
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message="\\s*ArviZ is undergoing a major refactor", category=FutureWarning)
