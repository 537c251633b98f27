"""Importing Prophet without its console noise, and fitting statsmodels' ETS and Theta without warnings.

Prophet logs "Importing plotly failed. Interactive plots will not work." at ERROR when its plotting module is
imported without plotly (we never plot), sets its own logger to INFO, and cmdstanpy attaches a stream handler
that prints two INFO lines ("Chain [1] start/done processing") per fit. With 19 series and four backtest
folds each, that floods `comptoir build`. ``import_prophet`` silences them below WARNING and drops the
yearly-seasonality warning every fit on less than two years repeats (DROPPED_MESSAGES); other warnings and
errors still reach the root logger. Prophet 1.5 also trips pandas 3's deprecation warnings (``inplace=``)
inside its own code, a few lines per build: ``quiet_warnings`` hides deprecation warnings raised from
Prophet's modules while it fits and predicts, nothing else.

CmdStan itself needs no compiler or cache here: the Stan model is compiled inside the prophet wheel. cmdstanpy
writes each fit's CSV files to a folder under the system temporary directory (``TMPDIR``), created at import
and removed when the process exits, never into the repository.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

QUIET_LOGGERS = ("prophet", "cmdstanpy")
# Prophet warns on every fit with less than two years of history; the backtest folds always have less (and
# model.py says it once per run instead of once per fit).
DROPPED_MESSAGES = ("Yearly seasonality is enabled with less than 730 days",)


class _DropKnownMessages(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(DROPPED_MESSAGES)


def silence_prophet_logging() -> None:
    """Set Prophet's and cmdstanpy's loggers to WARNING (and drop the plotly import error line)."""
    # prophet.plot logs the plotly import failure at import time: its level must be set before the import.
    logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)
    # prophet.plot imports matplotlib, whose first import in a fresh cache folder (XDG_CACHE_HOME, set per home
    # for pytensor) says "generated new fontManager" at INFO: a cache note, not our progress.
    logging.getLogger("matplotlib.font_manager").setLevel(logging.WARNING)
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.WARNING)
        if not any(isinstance(f, _DropKnownMessages) for f in logger.filters):
            logger.addFilter(_DropKnownMessages())
    cmdstanpy_logger = logging.getLogger("cmdstanpy")
    # cmdstanpy adds its own INFO stream handler (and resets the level to DEBUG) when the logger has no
    # handler anywhere up the tree; a NullHandler keeps it from doing so. Records still propagate to root.
    if not any(isinstance(handler, logging.NullHandler) for handler in cmdstanpy_logger.handlers):
        cmdstanpy_logger.addHandler(logging.NullHandler())
    for handler in list(cmdstanpy_logger.handlers):
        if not isinstance(handler, logging.NullHandler):
            cmdstanpy_logger.removeHandler(handler)


def import_prophet() -> Any:
    """The ``Prophet`` class, imported quietly (Prophet's import sets its logger to INFO: re-silence after)."""
    silence_prophet_logging()
    from prophet import Prophet

    silence_prophet_logging()
    return Prophet


@contextlib.contextmanager
def quiet_warnings() -> Iterator[None]:
    """Hide deprecation warnings that Prophet's own code triggers (pandas' ``inplace=`` and the like)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"prophet(\.|$)")
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"prophet(\.|$)")
        yield


@contextlib.contextmanager
def quiet_statsmodels() -> Iterator[None]:
    """Hide statsmodels' fit chatter: convergence and estimation warnings, and numpy's on flat series.

    ETS and Theta are scored on backtests, so a poor fit shows in the accuracy table rather than in the log; an
    all-zero series makes statsmodels take logs of zero (harmless: the forecast is 0).
    """
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, EstimationWarning, ValueWarning

    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        for category in (ConvergenceWarning, EstimationWarning, ValueWarning):
            warnings.simplefilter("ignore", category)
        warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"statsmodels(\.|$)")
        yield
