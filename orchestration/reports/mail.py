"""Sending a report by e-mail: SMTP settings from the environment, the PDF attached, the HTML as the body."""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

log = logging.getLogger(__name__)

# The SMTP settings (README "Reports and alerts"); the alerts' e-mails use the same ones.
SMTP_HOST_ENV = "COMPTOIR_SMTP_HOST"
SMTP_PORT_ENV = "COMPTOIR_SMTP_PORT"
SMTP_USER_ENV = "COMPTOIR_SMTP_USER"
SMTP_PASSWORD_ENV = "COMPTOIR_SMTP_PASSWORD"
SMTP_SECURITY_ENV = "COMPTOIR_SMTP_SECURITY"  # starttls (default), ssl, or none (a local relay)
MAIL_FROM_ENV = "COMPTOIR_MAIL_FROM"
REPORT_TO_ENV = "COMPTOIR_REPORT_TO"  # comma-separated recipients of the scheduled reports
SECURITY_MODES = ("starttls", "ssl", "none")


class MailError(RuntimeError):
    """The SMTP settings are missing or wrong, or the server refused the message."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    user: str | None
    password: str | None
    security: str
    sender: str

    @classmethod
    def from_env(cls) -> SmtpSettings | None:
        """The settings, or None when COMPTOIR_SMTP_HOST is not set (mail is then off)."""
        host = os.environ.get(SMTP_HOST_ENV)
        if not host:
            return None
        security = os.environ.get(SMTP_SECURITY_ENV, "starttls").lower()
        if security not in SECURITY_MODES:
            raise MailError(f"{SMTP_SECURITY_ENV}={security!r}: use one of {', '.join(SECURITY_MODES)}")
        port_text = os.environ.get(SMTP_PORT_ENV) or ("465" if security == "ssl" else "587")
        try:
            port = int(port_text)
        except ValueError:
            raise MailError(f"{SMTP_PORT_ENV}={port_text!r} is not a port number") from None
        return cls(host, port, os.environ.get(SMTP_USER_ENV) or None, os.environ.get(SMTP_PASSWORD_ENV) or None,
                   security, os.environ.get(MAIL_FROM_ENV) or f"comptoir@{host}")


def recipients_from_env() -> list[str]:
    return [address.strip() for address in os.environ.get(REPORT_TO_ENV, "").split(",") if address.strip()]


def send(settings: SmtpSettings, recipients: list[str], subject: str, text: str, html: str | None = None,
         attachments: list[tuple[str, bytes, str]] = ()) -> None:
    """One message to `recipients`; attachments as (file name, bytes, MIME type)."""
    if not recipients:
        raise MailError(f"no recipient: give --email ADDRESS or set {REPORT_TO_ENV}")
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="comptoir")
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    for name, payload, mime in attachments:
        main, sub = mime.split("/", 1)
        message.add_attachment(payload, maintype=main, subtype=sub, filename=name)
    try:
        if settings.security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port, timeout=30,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=30)
        with client:
            if settings.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if settings.user:
                client.login(settings.user, settings.password or "")
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        raise MailError(f"sending to {settings.host}:{settings.port} failed: {error}") from error
    log.info("mailed %r to %s", subject, ", ".join(recipients))
