"""From a drift or accuracy alert to one retrain run: Alertmanager's webhook in, GitHub's
`repository_dispatch` out, once per incident.

Alertmanager re-sends a firing group every repeat interval and after restarts; an incident is one
alert (its fingerprint) since it started (`startsAt`), and only its first delivery starts a run.
A dispatch GitHub did not accept is not remembered: the webhook answers 502 and Alertmanager's
retry tries again. Standard library only: the relay runs from a stock Python image with this file
mounted (components/retrain_relay.py).
"""

from __future__ import annotations

import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_BODY_BYTES = 1 << 20
# Incidents remembered (oldest forgotten first) and for how long.
MAX_INCIDENTS = 10_000


@dataclass(frozen=True)
class RelaySettings:
    token: str  # what Alertmanager sends as `Authorization: Bearer <token>`
    repository: str  # owner/name
    github_token: str
    alertnames: frozenset[str]
    stack: str
    github_api: str = "https://api.github.com"
    event_type: str = "retrain"
    remember_seconds: float = 7 * 24 * 3600

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RelaySettings:
        missing = [name for name in ("RELAY_TOKEN", "GITHUB_TOKEN", "GITHUB_REPOSITORY") if not env.get(name)]
        if missing:
            raise ValueError(f"set {', '.join(missing)}")
        repository = env["GITHUB_REPOSITORY"]
        owner, _, name = repository.partition("/")
        if not owner or not name or "/" in name:
            raise ValueError(f"GITHUB_REPOSITORY must be owner/name, got {repository!r}")
        names = frozenset(filter(None, env.get("RETRAIN_ALERTS", "").split(",")))
        if not names:
            raise ValueError("set RETRAIN_ALERTS: the alert names that start a retrain, comma-separated")
        return cls(
            token=env["RELAY_TOKEN"],
            repository=repository,
            github_token=env["GITHUB_TOKEN"],
            alertnames=names,
            stack=env.get("STACK", ""),
            github_api=env.get("GITHUB_API_URL", "https://api.github.com").rstrip("/"),
        )


@dataclass
class Incidents:
    """Incidents already dispatched, forgotten after `remember_seconds` or when too many."""

    remember_seconds: float
    clock: Callable[[], float] = time.monotonic
    _seen: OrderedDict[str, float] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def claim(self, key: str) -> bool:
        """True the first time `key` is claimed (within memory); the claim can be released."""
        now = self.clock()
        with self._lock:
            while self._seen and (
                len(self._seen) >= MAX_INCIDENTS or next(iter(self._seen.values())) < now - self.remember_seconds
            ):
                self._seen.popitem(last=False)
            if key in self._seen:
                return False
            self._seen[key] = now
            return True

    def release(self, key: str) -> None:
        with self._lock:
            self._seen.pop(key, None)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    outcome: str  # what the relay counts


def incident_key(alert: Mapping[str, Any]) -> str:
    return f"{alert.get('fingerprint', '')}@{alert.get('startsAt', '')}"


class Relay:
    def __init__(self, settings: RelaySettings, opener: Callable[..., Any] = urllib.request.urlopen) -> None:
        self.settings = settings
        self.incidents = Incidents(settings.remember_seconds)
        self._open = opener
        self.counts: dict[str, int] = {}
        self._count_lock = threading.Lock()

    def count(self, outcome: str) -> None:
        with self._count_lock:
            self.counts[outcome] = self.counts.get(outcome, 0) + 1

    def authorized(self, header: str | None) -> bool:
        expected = f"Bearer {self.settings.token}".encode()
        return header is not None and hmac.compare_digest(header.encode(), expected)

    def handle(self, authorization: str | None, body: bytes) -> Answer:
        answer = self._handle(authorization, body)
        self.count(answer.outcome)
        return answer

    def _handle(self, authorization: str | None, body: bytes) -> Answer:
        if not self.authorized(authorization):
            return Answer(401, {"error": "send the relay's token as Authorization: Bearer <token>"}, "unauthorized")
        try:
            document = json.loads(body)
            alerts = document["alerts"]
            if not isinstance(alerts, list):
                raise TypeError("alerts is not a list")
        except (ValueError, KeyError, TypeError) as error:
            return Answer(400, {"error": f"not an Alertmanager webhook document: {error}"}, "bad_request")
        dispatched, duplicates, failed = [], [], []
        for alert in alerts:
            if not isinstance(alert, dict) or alert.get("status") != "firing":
                continue
            labels = alert.get("labels") or {}
            if labels.get("alertname") not in self.settings.alertnames:
                continue
            key = incident_key(alert)
            if not self.incidents.claim(key):
                duplicates.append(key)
                continue
            try:
                self._dispatch(alert, document)
            except OSError as error:
                self.incidents.release(key)  # Alertmanager's retry tries again
                failed.append(f"{key}: {error}")
                continue
            dispatched.append(key)
        if failed:
            return Answer(502, {"error": "GitHub did not accept the dispatch", "failed": failed}, "dispatch_failed")
        outcome = "dispatched" if dispatched else "duplicate" if duplicates else "ignored"
        return Answer(200, {"dispatched": dispatched, "duplicates": duplicates}, outcome)

    def _dispatch(self, alert: Mapping[str, Any], document: Mapping[str, Any]) -> None:
        labels = alert.get("labels") or {}
        payload = {
            "event_type": self.settings.event_type,
            "client_payload": {
                "stack": self.settings.stack,
                "alertname": labels.get("alertname"),
                "severity": labels.get("severity"),
                "feature": labels.get("feature"),
                "incident": incident_key(alert),
                "started_at": alert.get("startsAt"),
                "summary": (alert.get("annotations") or {}).get("summary"),
                # Where the alert came from, so the run and its pull request link back to it.
                "alert_url": alert.get("generatorURL"),
                "alertmanager_url": document.get("externalURL"),
            },
        }
        request = urllib.request.Request(
            f"{self.settings.github_api}/repos/{self.settings.repository}/dispatches",
            data=json.dumps(payload).encode(),
            method="POST",
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {self.settings.github_token}",
                "X-GitHub-Api-Version": "2022-11-28",
                "Content-Type": "application/json",
                "User-Agent": "mlops-platform-retrain-relay",
            },
        )
        try:
            with self._open(request, timeout=10) as response:
                if response.status != 204:
                    raise OSError(f"GitHub answered {response.status}")
        except urllib.error.HTTPError as error:
            raise OSError(f"GitHub answered {error.code}") from error
