"""Paired comparisons over seeds: mean difference with a paired-t and a bootstrap 95 % interval.

Every head is trained on the same data order from the same starting weights for each seed, so the
per-seed difference ``d_s = ACRN_s - Base_s`` removes what the seeds share; the question is whether the
mean of ``d`` is above 0. Two intervals are reported: Student's t on the ``n`` paired differences
(exact when the differences are normal) and the percentile bootstrap of their mean (no normality, but
too narrow for very few seeds: with 5 seeds it can only take 5**5 distinct resamples).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Two-sided 95 % quantiles t_{0.975, df} of Student's t for df = 1..30 (standard tables); larger df use
# the normal quantile 1.95996, which is within 0.02 of t for df > 30.
_T975 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010, 2.1788,
         2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687, 2.0639,
         2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423)


def t975(df: int) -> float:
    """Two-sided 95 % Student-t quantile for ``df >= 1`` degrees of freedom."""
    if df < 1:
        raise ValueError(f"a t interval needs df >= 1 (two or more seeds), got df={df}")
    return _T975[df - 1] if df <= len(_T975) else 1.959964


@dataclass(frozen=True)
class PairedDifference:
    """``mean`` of ``b - a`` over seeds, its standard deviation ``sd`` (n - 1), and 95 % intervals."""

    n: int
    mean: float
    sd: float
    t_interval: tuple[float, float]
    bootstrap_interval: tuple[float, float]

    @property
    def above_zero(self) -> bool:
        """Both intervals lie above 0."""
        return self.t_interval[0] > 0 and self.bootstrap_interval[0] > 0

    def as_dict(self) -> dict:
        return {"n": self.n, "mean": self.mean, "sd": self.sd, "t_interval": list(self.t_interval),
                "bootstrap_interval": list(self.bootstrap_interval), "above_zero": self.above_zero}


def paired_difference(a: Sequence[float], b: Sequence[float], resamples: int = 10_000,
                      seed: int = 0) -> PairedDifference:
    """The paired difference ``b - a`` (e.g. ``a`` = Base-Model, ``b`` = ACRN, one value per seed)."""
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"paired results need two equal-length lists, got {x.shape} and {y.shape}")
    if len(x) < 2:
        raise ValueError("a paired interval needs results of two or more seeds")
    d = y - x
    n, mean, sd = len(d), float(d.mean()), float(d.std(ddof=1))
    half = t975(n - 1) * sd / math.sqrt(n)
    return PairedDifference(n, mean, sd, (mean - half, mean + half), bootstrap_mean_interval(d, resamples, seed))


def bootstrap_mean_interval(d: np.ndarray, resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """Percentile 95 % interval of the mean of ``d`` over ``resamples`` resamples with replacement."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(d), size=(resamples, len(d)))
    means = d[idx].mean(axis=1)
    lo, hi = np.quantile(means, [0.025, 0.975])
    return float(lo), float(hi)
