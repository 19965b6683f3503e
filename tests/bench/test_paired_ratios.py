"""The observability benchmark's figure: ratios to `none` taken within each round."""

from __future__ import annotations

import pytest

from bench.observability import paired_ratios


def test_ratios_pair_each_round_with_the_same_rounds_baseline() -> None:
    """The machine slows down between rounds; within each round `all` serves 90% of `none` but
    for one outlier. Pairing sees 0.9; the ratio of the medians (49/70) would say 0.7."""
    ratios = paired_ratios({"none": [100.0, 50.0, 70.0], "all": [90.0, 45.0, 49.0]}, "none")
    median, low, high = ratios["all"]
    assert median == pytest.approx(0.9)
    assert (low, high) == (pytest.approx(0.8), pytest.approx(0.9))
    assert ratios["none"] == (1.0, 1.0, 1.0)


def test_a_single_round_is_its_own_median_and_quartiles() -> None:
    assert paired_ratios({"none": [200.0], "all": [180.0]}, "none")["all"] == pytest.approx((0.9, 0.9, 0.9))


def test_rounds_must_match() -> None:
    with pytest.raises(ValueError):
        paired_ratios({"none": [1.0, 2.0], "all": [1.0]}, "none")
