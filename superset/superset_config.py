"""Superset configuration for Comptoir (loaded through SUPERSET_CONFIG_PATH by `comptoir superset ...`).

Everything Superset writes lives under $COMPTOIR_HOME/superset/ (default ./warehouse/superset): the SQLite
metadata database, the secret key and the generated passwords, owner only (the umask below). Nothing here needs
the internet.

Environment:
  COMPTOIR_HOME                     Comptoir's output folder (default ./warehouse)
  COMPTOIR_SUPERSET_DATABASE_URI    metadata database, any SQLAlchemy URI (e.g. postgresql+psycopg2://...);
                                    default: SQLite at $COMPTOIR_HOME/superset/superset.db
  SUPERSET_SECRET_KEY               the key that signs sessions and encrypts stored database passwords;
                                    default: generated once into $COMPTOIR_HOME/superset/secret_key (mode 0600)
"""

import os
import secrets
from pathlib import Path

# Owner only (0700 folders, 0600 files) for all that Superset writes: the metadata database (password hashes),
# the cache of query results (customer rows), logs. `comptoir` starts Superset with this umask already; this line
# covers a Superset started otherwise (docker-compose.yml). Set before anything below creates a file.
os.umask(0o077)
COMPTOIR_HOME = Path(os.environ.get("COMPTOIR_HOME") or "warehouse").resolve()
SUPERSET_DIR = COMPTOIR_HOME / "superset"
SUPERSET_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)  # passwords and keys live here


def _secret_key() -> str:
    """SUPERSET_SECRET_KEY, else a key generated on first start and kept (0600) for the next ones."""
    from_env = os.environ.get("SUPERSET_SECRET_KEY")
    if from_env:
        return from_env
    path = SUPERSET_DIR / "secret_key"
    try:
        # O_EXCL: of two processes starting at once, one writes the key and the other reads it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="utf-8").strip()


SECRET_KEY = _secret_key()
DATA_DIR = str(SUPERSET_DIR)
SQLALCHEMY_DATABASE_URI = os.environ.get("COMPTOIR_SUPERSET_DATABASE_URI") or (
    f"sqlite:///{SUPERSET_DIR / 'superset.db'}?check_same_thread=false"
)

FEATURE_FLAGS = {
    # "Big Number with Time Period Comparison" (viz pop_kpi): the Overview's KPIs against the previous period.
    "CHART_PLUGINS_EXPERIMENTAL": True,
    # Jinja in virtual datasets: the Customers ranking reads the dashboard's country filter and date range inside
    # its SQL (filter_values, from_dttm), so that "top N" ranks within the chosen countries and period.
    "ENABLE_TEMPLATE_PROCESSING": True,
    # Render every chart of a dashboard at once: dashboards are small, and tests and screenshots see all of it.
    "DASHBOARD_VIRTUALIZATION": False,
    # No Celery workers here: no thumbnails, screenshots, alerts or reports.
    "THUMBNAILS": False,
    "ALERT_REPORTS": False,
    "ENABLE_DASHBOARD_SCREENSHOT_ENDPOINTS": False,
}

# No map tiles (they would need a Mapbox key and the internet), no example data.
MAPBOX_API_KEY = ""
SUPERSET_LOAD_EXAMPLES = False

# The same content security policy as Superset's default, with every third-party host taken out: no
# telemetry pixel (Scarf), no map tiles, no web fonts. Pages load from this server only.
TALISMAN_CONFIG = {
    "content_security_policy": {
        "base-uri": ["'self'"],
        "default-src": ["'self'"],
        "img-src": ["'self'", "blob:", "data:"],
        "worker-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "object-src": "'none'",
        "style-src": ["'self'", "'unsafe-inline'"],
        "font-src": ["'self'", "data:"],
        "script-src": ["'self'", "'strict-dynamic'"],
    },
    "content_security_policy_nonce_in": ["script-src"],
    "force_https": False,
    "session_cookie_secure": False,
}

# The marts are small and the published file only changes when a build publishes: a short data cache
# keeps dashboards fast without showing a previous build for long.
DATA_CACHE_CONFIG = {
    "CACHE_TYPE": "FileSystemCache",
    "CACHE_DIR": str(SUPERSET_DIR / "cache"),
    "CACHE_DEFAULT_TIMEOUT": 60,
}

# Logins from scripts and tests come in bursts.
AUTH_RATE_LIMITED = False
RATELIMIT_ENABLED = False

# Keep warnings, not every request.
LOG_LEVEL = "WARNING"
