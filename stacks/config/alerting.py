"""Config of the alerting area: Alertmanager's receivers, and the alerts that start a retrain.
Credentials stay Pulumi secrets."""

from __future__ import annotations

import re

from components.observability import Receivers
from components.retrain_relay import RetrainTrigger
from stacks.config.reader import Reader

SECRET_KEYS = ("alertSlackWebhookUrl", "alertSmtpPassword", "alertWebhookUrl", "retrainGithubToken")


def read(reader: Reader) -> Receivers:
    slack_channel = reader.string("alertSlackChannel")
    slack_webhook = reader.secret("alertSlackWebhookUrl")
    if slack_channel and slack_webhook is None:
        reader.problem(
            "alertSlackWebhookUrl", None, f"required because alertSlackChannel is set ({slack_channel})", secret=True
        )
    email_to = reader.string("alertEmailTo")
    smarthost = reader.string("alertSmtpSmarthost")
    smtp_from = reader.string("alertSmtpFrom")
    smtp_password = reader.secret("alertSmtpPassword")
    if email_to:
        if smtp_password is None:
            reader.problem("alertSmtpPassword", None, f"required because alertEmailTo is set ({email_to})", secret=True)
        if not re.fullmatch(r"[^\s:]+:\d{1,5}", smarthost):
            reader.problem("alertSmtpSmarthost", smarthost, "required as host:port because alertEmailTo is set")
        if "@" not in smtp_from:
            reader.problem("alertSmtpFrom", smtp_from, "required (an e-mail address) because alertEmailTo is set")
    return Receivers(
        slack_channel=slack_channel,
        slack_webhook_url=slack_webhook,
        email_to=email_to,
        smtp_smarthost=smarthost,
        smtp_from=smtp_from,
        smtp_password=smtp_password,
        webhook_url=reader.secret("alertWebhookUrl"),
    )


def read_retrain(reader: Reader) -> RetrainTrigger | None:
    repository = reader.string("retrainRepository")
    if not repository:
        return None
    if not re.fullmatch(r"[A-Za-z0-9-]+/[A-Za-z0-9._-]+", repository):
        reader.problem("retrainRepository", repository, "must be owner/name of the GitHub repository to dispatch to")
    token = reader.secret("retrainGithubToken")
    if token is None:
        reader.problem(
            "retrainGithubToken", None, f"required because retrainRepository is set ({repository})", secret=True
        )
        return None
    return RetrainTrigger(repository, token)
