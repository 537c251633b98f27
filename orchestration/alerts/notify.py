"""Where a new alert goes: an e-mail (the reports' SMTP settings, to COMPTOIR_ALERT_TO) and a webhook
(COMPTOIR_ALERT_WEBHOOK_URL: a Slack-compatible JSON body, {"text": ...}). Each is off when its setting is not set."""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from orchestration.alerts.rules import Firing
from orchestration.reports.mail import MailError, SmtpSettings, send

log = logging.getLogger(__name__)

ALERT_TO_ENV = "COMPTOIR_ALERT_TO"
WEBHOOK_ENV = "COMPTOIR_ALERT_WEBHOOK_URL"


@dataclass
class Delivery:
    emails: int = 0
    webhooks: int = 0
    errors: list[str] = field(default_factory=list)


def _text(firing: Firing) -> str:
    return f"[Comptoir alert] {firing.rule}: {firing.subject}\n{firing.message}"


def notify(firings: list[Firing]) -> Delivery:
    """One e-mail and one webhook call per firing. A channel that fails is reported, not raised: the alert stays
    recorded in pipeline.alerts either way."""
    delivery = Delivery()
    if not firings:
        return delivery
    recipients = [a.strip() for a in os.environ.get(ALERT_TO_ENV, "").split(",") if a.strip()]
    webhook = os.environ.get(WEBHOOK_ENV)
    try:
        smtp = SmtpSettings.from_env() if recipients else None
    except MailError as error:
        delivery.errors.append(str(error))
        smtp = None
    for firing in firings:
        if smtp is not None:
            try:
                send(smtp, recipients, f"[Comptoir alert] {firing.rule}: {firing.subject}", firing.message)
                delivery.emails += 1
            except MailError as error:
                delivery.errors.append(str(error))
        if webhook:
            body = json.dumps({"text": _text(firing), "rule": firing.rule, "subject": firing.subject,
                               "value": firing.value, "threshold": firing.threshold}).encode()
            request = urllib.request.Request(webhook, data=body, headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=15) as response:
                    response.read()
                delivery.webhooks += 1
            except (urllib.error.URLError, OSError) as error:
                delivery.errors.append(f"webhook {webhook}: {error}")
    for error in delivery.errors:
        log.warning("alert notification failed: %s", error)
    return delivery
