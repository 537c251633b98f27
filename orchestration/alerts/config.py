"""alerts.yml: which rules are on and their thresholds. The file at the repository's root holds the defaults,
commented; COMPTOIR_ALERTS names another one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from orchestration.alerts.rules import RULE_NAMES
from orchestration.settings import REPO_ROOT

ALERTS_FILE_ENV = "COMPTOIR_ALERTS"
DEFAULT_ALERTS_FILE = REPO_ROOT / "alerts.yml"


class AlertConfigError(ValueError):
    """alerts.yml cannot be read, or names a rule or setting that does not exist."""


def alerts_file() -> Path:
    return Path(os.environ.get(ALERTS_FILE_ENV) or DEFAULT_ALERTS_FILE)


def load_config(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """Each rule's settings ({} for a rule the file leaves out: on, with the defaults); disabled rules left out."""
    path = path or alerts_file()
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as error:
        raise AlertConfigError(f"{path}: cannot read the alert rules: {error.strerror or error}") from error
    except yaml.YAMLError as error:
        raise AlertConfigError(f"{path}: not valid YAML: {error}") from error
    if not isinstance(loaded, dict):
        raise AlertConfigError(f"{path}: expected a mapping of rule names to settings")
    unknown = sorted(set(loaded) - set(RULE_NAMES))
    if unknown:
        raise AlertConfigError(f"{path}: unknown rule(s) {', '.join(unknown)}; the rules are {', '.join(RULE_NAMES)}")
    config: dict[str, dict[str, Any]] = {}
    for name in RULE_NAMES:
        settings = loaded.get(name) or {}
        if not isinstance(settings, dict):
            raise AlertConfigError(f"{path}: {name}: expected settings such as `enabled: true`")
        for key, value in settings.items():
            if key != "enabled" and key != "series" and not isinstance(value, int | float):
                raise AlertConfigError(f"{path}: {name}.{key} must be a number, not {value!r}")
        if settings.get("enabled", True):
            config[name] = settings
    return config
