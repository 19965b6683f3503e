"""The model service's service-level objectives and the burn-rate windows that guard them
(multi-window, multi-burn-rate alerts as in the Google SRE workbook)."""

from __future__ import annotations

from dataclasses import dataclass

# Inference routes: the ones the latency SLO and the no-traffic alert look at.
INFERENCE_ROUTES = 'route=~"/v2/models/.name./infer|/invocations"'


@dataclass(frozen=True)
class Slo:
    name: str  # the recording rules' middle part: job:<name>:ratio_rate<window>
    objective: float  # share of good requests
    description: str

    @property
    def budget(self) -> float:
        return round(1 - self.objective, 6)


@dataclass(frozen=True)
class BurnWindow:
    factor: float  # how many times faster than "exactly the budget in 30 days"
    short: str
    long: str


AVAILABILITY = Slo("model_service_request_errors", 0.999, "requests answered without a 5xx")
# Inference requests faster than this many seconds (a bound of names.LATENCY_BUCKETS).
LATENCY_THRESHOLD_SECONDS = 0.1
LATENCY = Slo("model_service_request_slow", 0.99, "inference requests faster than 100 ms")

# Pages: 2% of the monthly budget in an hour, or 5% in six hours.
PAGE = (BurnWindow(14.4, "5m", "1h"), BurnWindow(6, "30m", "6h"))
# Tickets: 10% in a day, or 10% in three days.
TICKET = (BurnWindow(3, "2h", "1d"), BurnWindow(1, "6h", "3d"))
# Every window a ratio is recorded for, shortest first.
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
