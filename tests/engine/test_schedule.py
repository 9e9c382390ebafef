"""The learning-rate schedule of section 4.1: linear warm-up, then cosine decay."""

from __future__ import annotations

import math

import pytest

from acrn.config import load_config
from acrn.engine.schedule import build_schedule, lr_at

PAPER = dict(base_lr=1e-3, warmup_start_lr=1e-5, warmup_steps=40_000, max_steps=200_000, final_lr=0.0)


def test_paper_corners() -> None:
    lr = lambda s: lr_at(s, **PAPER)  # noqa: E731
    assert lr(0) == pytest.approx(1e-5, abs=1e-15)  # first step
    assert lr(40_000) == pytest.approx(1e-3, abs=1e-15)  # end of warm-up
    assert lr(199_999) == pytest.approx(0.0, abs=1e-15)  # last step
    # Linear in the middle of the warm-up, half-way point of the cosine exactly between.
    assert lr(20_000) == pytest.approx((1e-5 + 1e-3) / 2, rel=1e-12)
    mid = 40_000 + (199_999 - 40_000) / 2
    assert lr_at(int(mid), **PAPER) == pytest.approx(0.5e-3, rel=1e-4)
    # Hand-computed cosine point: a quarter of the decay -> base * (1 + cos(pi/4)) / 2.
    quarter = 40_000 + (199_999 - 40_000) // 4
    p = (quarter - 40_000) / (199_999 - 40_000)
    assert lr(quarter) == pytest.approx(1e-3 * 0.5 * (1 + math.cos(math.pi * p)), rel=1e-12)


def test_shape_monotone() -> None:
    vals = [lr_at(s, **PAPER) for s in range(0, 200_000, 997)]
    peak = vals.index(max(vals))
    assert all(a < b for a, b in zip(vals[:peak], vals[1:peak + 1]))
    assert all(a >= b for a, b in zip(vals[peak:], vals[peak + 1:]))
    assert lr_at(10**7, **PAPER) == pytest.approx(0.0, abs=1e-15)  # past the end: last value


def test_final_lr_constant_and_step() -> None:
    kw = dict(PAPER, final_lr=1e-6)
    assert lr_at(199_999, **kw) == pytest.approx(1e-6, rel=1e-12)
    assert lr_at(150_000, **dict(kw, schedule="constant")) == 1e-3
    step = dict(kw, schedule="step", warmup_steps=0, max_steps=91)
    assert [lr_at(s, **step) for s in (0, 59, 60, 79, 80, 90)] == pytest.approx(
        [1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-5])


def test_no_warmup_and_from_config() -> None:
    assert lr_at(0, **dict(PAPER, warmup_steps=0)) == pytest.approx(1e-3)
    cfg = load_config(None, ["solver.max_steps=101", "solver.warmup_steps=20", "solver.base_lr=0.1",
                             "solver.warmup_start_lr=0.001", "solver.final_lr=0.0"])
    lr = build_schedule(cfg.solver)
    assert (lr(0), lr(20), lr(100)) == pytest.approx((0.001, 0.1, 0.0), abs=1e-15)
    with pytest.raises(ValueError):
        lr(-1)
