"""The promotion step of a canary rollout on the cluster: compare the canary's pods with the stable
ones in Prometheus over a window, then promote, roll back, or wait for more traffic.

Both tracks serve the same traffic (the Service spreads requests over all pods), so they are
compared with each other, not with fixed numbers alone: the canary's error-budget burn (its 5xx
ratio over the availability SLO's budget) against the burn that pages, and its 5xx ratio and p99
latency against the stable track's (latency with an absolute floor, so a quiet stable track does
not make every hiccup a failure), and the share of each predicted class (a new model that answers differently
shows up here before any label arrives). Too little canary traffic decides nothing.

`python -m delivery.canary --prometheus URL` prints the decision as JSON and exits 0 (promote),
3 (roll back) or 4 (wait); the deploy workflow acts on the exit status.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from monitoring import names
from monitoring.slo import AVAILABILITY, PAGE

EXIT_ROLLBACK = 3
EXIT_WAIT = 4
INFER_ROUTES = "/v2/models/{name}/infer|/invocations"
Query = Callable[[str], list[dict[str, Any]]]


@dataclass(frozen=True)
class CanaryRules:
    window: str = "10m"
    min_canary_requests: int = 200
    # The canary's error-budget burn (its 5xx ratio over the availability SLO's budget): at most
    # the burn that pages (monitoring.slo.PAGE), and its 5xx ratio at most the stable track's plus this.
    max_burn_rate: float = PAGE[0].factor
    max_error_ratio_increase: float = 0.01
    # p99 latency: at most this times the stable track's, plus a floor in seconds.
    max_latency_ratio: float = 1.5
    latency_floor_seconds: float = 0.010
    # Largest difference in any predicted class's share between the tracks.
    max_prediction_shift: float = 0.15


@dataclass(frozen=True)
class Track:
    requests: float
    error_ratio: float
    p99_seconds: float | None
    class_shares: dict[str, float]


@dataclass(frozen=True)
class Decision:
    action: str  # "promote", "rollback" or "wait"
    reasons: list[str]
    stable: Track | None = None
    canary: Track | None = None
    rules: CanaryRules = field(default_factory=CanaryRules)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _by_track(result: list[dict[str, Any]], *labels: str) -> dict[tuple[str, ...], float]:
    values = {}
    for sample in result:
        value = float(sample["value"][1])
        if not math.isnan(value):  # NaN (0/0) is no data
            values[tuple(sample["metric"].get(label, "") for label in ("track", *labels))] = value
    return values


def measure(query: Query, selector: str, window: str) -> dict[str, Track]:
    """Each track's traffic, errors, latency and predictions over `window` (`selector`: extra
    label matchers, e.g. `namespace="models"`)."""
    match = f'route=~"{INFER_ROUTES}"' + (f",{selector}" if selector else "")
    requests = f"{names.REQUESTS.name}_total"
    total = _by_track(query(f"sum by (track) (increase({requests}{{{match}}}[{window}]))"))
    errors = _by_track(query(f'sum by (track) (increase({requests}{{{match},status_class="5xx"}}[{window}]))'))
    buckets = f"{names.REQUEST_DURATION.name}_bucket"
    p99 = _by_track(
        query(f'histogram_quantile(0.99, sum by (track, le) (rate({buckets}{{{match},status_class="2xx"}}[{window}])))')
    )
    predictions = f"{names.PREDICTIONS.name}_total"
    predicted = _by_track(
        query(f"sum by (track, predicted_class) (increase({predictions}{{{selector}}}[{window}]))"), "predicted_class"
    )
    tracks = {}
    for (track,), count in total.items():
        classes = {key[1]: value for key, value in predicted.items() if key[0] == track}
        answered = sum(classes.values())
        tracks[track] = Track(
            requests=count,
            # increase() extrapolates each series on its own: a ratio can come out a hair over 1.
            error_ratio=min(errors.get((track,), 0.0) / count, 1.0) if count else 0.0,
            p99_seconds=p99.get((track,)),
            class_shares={name: value / answered for name, value in sorted(classes.items())} if answered else {},
        )
    return tracks


def decide(tracks: dict[str, Track], rules: CanaryRules) -> Decision:
    stable, canary = tracks.get("stable"), tracks.get("canary")
    if canary is None or canary.requests < rules.min_canary_requests:
        served = 0 if canary is None else round(canary.requests)
        return Decision(
            "wait", [f"the canary served {served} requests; {rules.min_canary_requests} decide"], stable, canary, rules
        )
    if stable is None:
        return Decision("wait", ["no stable track to compare with"], stable, canary, rules)
    reasons = []
    budget = AVAILABILITY.budget
    burn = canary.error_ratio / budget
    if burn > rules.max_burn_rate:
        reasons.append(
            f"5xx ratio {canary.error_ratio:.2%} burns the {AVAILABILITY.objective:.1%} availability budget "
            f"{burn:.1f}x (limit {rules.max_burn_rate:g}x; stable {stable.error_ratio / budget:.1f}x)"
        )
    elif canary.error_ratio > stable.error_ratio + rules.max_error_ratio_increase:
        reasons.append(f"5xx ratio {canary.error_ratio:.2%} against the stable track's {stable.error_ratio:.2%}")
    if canary.p99_seconds is not None and stable.p99_seconds is not None:
        latency_limit = stable.p99_seconds * rules.max_latency_ratio + rules.latency_floor_seconds
        if canary.p99_seconds > latency_limit:
            reasons.append(
                f"p99 latency {canary.p99_seconds * 1000:.1f} ms over {latency_limit * 1000:.1f} ms "
                f"(stable {stable.p99_seconds * 1000:.1f} ms)"
            )
    names_ = set(stable.class_shares) | set(canary.class_shares)
    if names_ and canary.class_shares:
        shifts = {n: abs(canary.class_shares.get(n, 0.0) - stable.class_shares.get(n, 0.0)) for n in names_}
        worst = max(shifts, key=lambda n: shifts[n])
        if shifts[worst] > rules.max_prediction_shift:
            reasons.append(
                f"prediction share of {worst} differs by {shifts[worst]:.1%} from stable "
                f"(limit {rules.max_prediction_shift:.0%})"
            )
    return Decision("rollback" if reasons else "promote", reasons or ["every check holds"], stable, canary, rules)


def prometheus_query(url: str) -> Query:
    client = httpx.Client(base_url=url, timeout=30)

    def query(expr: str) -> list[dict[str, Any]]:
        answer = client.get("/api/v1/query", params={"query": expr})
        answer.raise_for_status()
        body = answer.json()
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus refused {expr!r}: {body.get('error')}")
        return list(body["data"]["result"])

    return query


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m delivery.canary", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prometheus", required=True, help="Prometheus URL (a port-forward in the deploy job)")
    parser.add_argument("--selector", default='namespace="models"', help="extra label matchers")
    defaults = CanaryRules()
    parser.add_argument("--window", default=defaults.window)
    parser.add_argument("--min-canary-requests", type=int, default=defaults.min_canary_requests)
    parser.add_argument("--max-burn-rate", type=float, default=defaults.max_burn_rate)
    parser.add_argument("--max-prediction-shift", type=float, default=defaults.max_prediction_shift)
    args = parser.parse_args(argv)
    rules = CanaryRules(
        window=args.window,
        min_canary_requests=args.min_canary_requests,
        max_burn_rate=args.max_burn_rate,
        max_prediction_shift=args.max_prediction_shift,
    )
    try:
        decision = decide(measure(prometheus_query(args.prometheus), args.selector, rules.window), rules)
    except (httpx.HTTPError, RuntimeError) as error:
        print(f"cannot read the canary's metrics: {error}", file=sys.stderr)
        return 2
    print(json.dumps(decision.to_json(), indent=2))
    return {"promote": 0, "rollback": EXIT_ROLLBACK}.get(decision.action, EXIT_WAIT)


if __name__ == "__main__":
    raise SystemExit(main())
