"""The study's paired intervals on hand-computed examples and against a naive bootstrap loop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from acrn.study.stats import bootstrap_mean_interval, paired_difference, t975


def test_paired_t_interval_by_hand() -> None:
    # d = (1, 2, 3, 4, 5): mean 3, sd sqrt(2.5), se sqrt(2.5 / 5) = 0.70711, t_{0.975, 4} = 2.7764.
    r = paired_difference([10, 10, 10, 10, 10], [11, 12, 13, 14, 15])
    assert r.n == 5 and r.mean == 3.0 and r.sd == pytest.approx(math.sqrt(2.5))
    assert r.t_interval == pytest.approx((3 - 2.7764 * 0.707107, 3 + 2.7764 * 0.707107), abs=1e-5)
    assert r.t_interval == pytest.approx((1.03676, 4.96324), abs=1e-4)
    assert r.above_zero


def test_an_interval_that_straddles_zero() -> None:
    r = paired_difference([60.0, 62.0, 58.0], [61.0, 60.0, 59.0])  # d = (1, -2, 1): mean 0, sd sqrt(3)
    assert r.mean == 0.0 and r.t_interval == pytest.approx((-4.3027 * 1.0, 4.3027 * 1.0), abs=1e-4)
    assert not r.above_zero


def test_bootstrap_equals_a_naive_loop_and_is_degenerate_for_constant_differences() -> None:
    d = np.array([0.5, 1.5, -0.5, 2.0, 1.0])
    rng = np.random.default_rng(7)
    means = [d[rng.integers(0, len(d), size=len(d))].mean() for _ in range(2000)]
    assert bootstrap_mean_interval(d, 2000, seed=7) == pytest.approx(tuple(np.quantile(means, [0.025, 0.975])))
    assert bootstrap_mean_interval(np.full(6, 2.5)) == (2.5, 2.5)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="two or more seeds"):
        paired_difference([1.0], [2.0])
    with pytest.raises(ValueError, match="equal-length"):
        paired_difference([1.0, 2.0], [2.0])
    assert t975(4) == 2.7764 and t975(100) == pytest.approx(1.96, abs=1e-3)
