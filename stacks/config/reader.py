"""Reads typed values from one config namespace and collects every problem instead of raising,
so that a stack with several mistakes hears of all of them at once."""

from __future__ import annotations

import json
import typing
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import pulumi
import pulumi.runtime.config as runtime_config

PROJECT = "mlops-platform"

T = TypeVar("T")


class ConfigError(pulumi.RunError):
    """Invalid stack configuration; the message lists every problem and how to fix it.

    A `RunError`, so the Pulumi CLI shows the message without a Python traceback.
    """


def choices(literal: Any) -> tuple[str, ...]:
    """The allowed values of a `Literal[...]` type: each enum is declared once, as that type."""
    return typing.get_args(literal)


def is_secret(full_key: str) -> bool:
    # The Pulumi CLI hands the program its secret keys in PULUMI_CONFIG_SECRET_KEYS; tests and the
    # automation API may set them in-process instead.
    return runtime_config.is_config_secret(full_key) or full_key in runtime_config.get_config_secret_keys_env()


class Reader:
    """Typed reads from one namespace; `problems` collects what is wrong, with the fix."""

    def __init__(self, namespace: str, stack: str) -> None:
        self.namespace = namespace
        self.stack = stack
        self.config = pulumi.Config(namespace)
        self.problems: list[str] = []

    def problem(self, key: str, value: object, allowed: str, secret: bool = False) -> None:
        shown = "(not set)" if value is None else json.dumps(value)
        set_flag = "--secret " if secret else ""
        self.problems.append(
            f"- {self.namespace}:{key} = {shown}: {allowed}\n"
            f"    fix: pulumi config set {set_flag}{self.namespace}:{key} <value> --stack {self.stack}"
        )

    def _raw(self, key: str) -> str | None:
        return self.config.get(key)

    def _missing(self, key: str) -> None:
        self.problem(
            key,
            None,
            "required; its default is declared in Pulumi.yaml, so the config "
            "was not merged with Pulumi.yaml (run through the Pulumi CLI)",
        )

    def string(self, key: str, allowed: Sequence[str] | None = None) -> str:
        value = self._raw(key)
        if value is None:
            self._missing(key)
            return ""
        if allowed is not None and value not in allowed:
            self.problem(key, value, f"must be one of {', '.join(allowed)}")
        return value

    def choice(self, key: str, literal: Any) -> Any:
        """One of the values of the `Literal` type `literal` (the component's own enum)."""
        return self.string(key, allowed=choices(literal))

    def integer(self, key: str, minimum: int | None = None, maximum: int | None = None) -> int:
        raw = self._raw(key)
        if raw is None:
            self._missing(key)
            return 0
        try:
            value = int(raw)
        except ValueError:
            self.problem(key, raw, "must be a whole number")
            return 0
        if minimum is not None and value < minimum:
            self.problem(key, value, f"must be at least {minimum}")
        if maximum is not None and value > maximum:
            self.problem(key, value, f"must be at most {maximum}")
        return value

    def number(self, key: str, minimum: float, maximum: float) -> float:
        """A finite number within [minimum, maximum]."""
        raw = self._raw(key)
        if raw is None:
            self._missing(key)
            return 0.0
        try:
            value = float(raw)
        except ValueError:
            self.problem(key, raw, "must be a number")
            return 0.0
        if not minimum <= value <= maximum:  # NaN fails this too
            self.problem(key, raw, f"must be between {minimum:g} and {maximum:g}")
        return value

    def boolean(self, key: str) -> bool:
        raw = self._raw(key)
        if raw is None:
            self._missing(key)
            return False
        if raw.lower() not in ("true", "false"):
            self.problem(key, raw, "must be true or false")
            return False
        return raw.lower() == "true"

    def string_list(self, key: str) -> tuple[str, ...]:
        raw = self._raw(key)
        if raw is None:
            self._missing(key)
            return ()
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self.problem(key, raw, "must be a list of strings (YAML list in Pulumi.<stack>.yaml)")
            return ()
        return tuple(value)

    def secret(self, key: str) -> pulumi.Output[str] | None:
        full_key = f"{self.namespace}:{key}"
        if self._raw(key) is None:
            return None
        if not is_secret(full_key):
            self.problem(
                key,
                "<hidden>",
                "is stored in plain text; it must be a Pulumi secret (remove it from the stack file and set it again)",
                secret=True,
            )
        return self.config.require_secret(key)

    def each(self, key: str, values: Sequence[T], check: Callable[[T], str | None]) -> None:
        for value in values:
            message = check(value)
            if message:
                self.problem(key, value, message)

    def range_order(self, low_key: str, low: int, high_key: str, high: int) -> None:
        """`low_key` must not exceed `high_key`."""
        if low > high:
            self.problem(low_key, low, f"must not exceed {high_key} ({high})")
