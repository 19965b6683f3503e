"""Champion and challenger on the same recent labelled production rows: the gate that decides
whether the challenger may be registered, and a replay of recent captured traffic that shows how
its answers would differ (class shares, the share of rows the two models disagree on).

Both models are the served artifacts (ONNX through ONNX Runtime, as the service runs them), so
what is compared is what would be served.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np


class Classifier(Protocol):
    version: str
    class_names: tuple[str, ...]

    def predict_proba(self, rows: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class GateRules:
    """What a challenger must show on the labelled window (configurable per release)."""

    min_labelled_rows: int = 50
    min_accuracy: float = 0.85
    # It may be worse than the champion by at most this much accuracy...
    max_accuracy_drop: float = 0.02
    # ...and no class's recall may drop by more than this.
    max_recall_drop: float = 0.10


@dataclass(frozen=True)
class Scores:
    version: str
    rows: int
    accuracy: float
    recall: dict[str, float]


@dataclass(frozen=True)
class GateReport:
    passed: bool
    reasons: list[str]
    rules: GateRules
    challenger: Scores | None
    champion: Scores | None
    # Rows per class in the window, so a reader can weigh the recalls.
    support: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def predicted_labels(model: Classifier, rows: np.ndarray) -> list[str]:
    return [model.class_names[i] for i in model.predict_proba(rows).argmax(axis=1)]


def score(model: Classifier, rows: np.ndarray, labels: Sequence[str]) -> Scores:
    predicted = predicted_labels(model, rows)
    recall = {}
    for name in model.class_names:
        relevant = [guess for guess, truth in zip(predicted, labels, strict=True) if truth == name]
        if relevant:
            recall[name] = round(sum(guess == name for guess in relevant) / len(relevant), 4)
    correct = sum(guess == truth for guess, truth in zip(predicted, labels, strict=True))
    return Scores(model.version, len(labels), round(correct / len(labels), 4) if labels else 0.0, recall)


def gate(
    challenger: Classifier,
    champion: Classifier | None,
    rows: Sequence[Sequence[float]],
    labels: Sequence[str],
    rules: GateRules,
) -> GateReport:
    """Pass only when every rule holds; every rule that fails is a reason."""
    support = {name: sum(1 for label in labels if label == name) for name in sorted(set(labels))}
    if len(labels) < rules.min_labelled_rows:
        reason = (
            f"only {len(labels)} labelled production rows in the window; the gate needs at least "
            f"{rules.min_labelled_rows} (wait for labels, widen the window, or lower min_labelled_rows deliberately)"
        )
        return GateReport(False, [reason], rules, None, None, support)
    matrix = np.asarray(rows, dtype=np.float64)
    new = score(challenger, matrix, labels)
    old = score(champion, matrix, labels) if champion is not None else None
    reasons = []
    if new.accuracy < rules.min_accuracy:
        reasons.append(f"accuracy {new.accuracy:.3f} is below the minimum {rules.min_accuracy:.3f}")
    if old is not None:
        if new.accuracy < old.accuracy - rules.max_accuracy_drop:
            reasons.append(
                f"accuracy {new.accuracy:.3f} is more than {rules.max_accuracy_drop:.3f} below the champion's "
                f"{old.accuracy:.3f} ({old.version})"
            )
        for name, before in old.recall.items():
            after = new.recall.get(name, 0.0)
            if after < before - rules.max_recall_drop:
                reasons.append(
                    f"recall of {name} drops from {before:.3f} to {after:.3f} (limit {rules.max_recall_drop:.3f})"
                )
    return GateReport(not reasons, reasons, rules, new, old, support)


@dataclass(frozen=True)
class Replay:
    """How the challenger would have answered recent traffic the champion served."""

    rows: int
    champion_shares: dict[str, float]
    challenger_shares: dict[str, float]
    # Largest change of any class's share of predictions.
    max_share_shift: float
    # Share of rows the two models put in different classes.
    disagreement: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def replay(champion: Classifier, challenger: Classifier, rows: Sequence[Sequence[float]]) -> Replay:
    if not rows:
        return Replay(0, {}, {}, 0.0, 0.0)
    matrix = np.asarray(rows, dtype=np.float64)
    old, new = predicted_labels(champion, matrix), predicted_labels(challenger, matrix)
    names = sorted(set(champion.class_names) | set(challenger.class_names))
    old_shares = {name: round(old.count(name) / len(old), 4) for name in names}
    new_shares = {name: round(new.count(name) / len(new), 4) for name in names}
    return Replay(
        rows=len(old),
        champion_shares=old_shares,
        challenger_shares=new_shares,
        max_share_shift=round(max(abs(new_shares[name] - old_shares[name]) for name in names), 4),
        disagreement=round(sum(a != b for a, b in zip(old, new, strict=True)) / len(old), 4),
    )


def markdown(report: GateReport, replayed: Replay | None) -> str:
    """The comparison as the retrain pull request shows it."""
    verdict = "passes" if report.passed else "is refused"
    lines = [f"### Champion/challenger: the challenger {verdict}", ""]
    if report.challenger is not None:
        lines += ["| | version | accuracy | recall by class |", "|---|---|---|---|"]
        for role, scores in (("challenger", report.challenger), ("champion", report.champion)):
            if scores is not None:
                recall = ", ".join(f"{name} {value:.3f}" for name, value in scores.recall.items())
                lines.append(f"| {role} | `{scores.version}` | {scores.accuracy:.3f} | {recall} |")
        lines.append("")
    lines += [f"- {reason}" for reason in report.reasons] or ["- every rule holds"]
    if replayed is not None and replayed.rows:
        lines += [
            "",
            f"Replay of {replayed.rows} recently captured rows: the models disagree on "
            f"{replayed.disagreement:.1%}; the largest class-share shift is {replayed.max_share_shift:.1%}.",
        ]
    return "\n".join(lines) + "\n"
