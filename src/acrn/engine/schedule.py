"""Learning-rate schedule: a pure function of the optimizer step (paper section 4.1).

The paper warms the learning rate up linearly from 1e-5 to 1e-3 over the first 40K steps, then
decays it with a cosine (SGDR, Loshchilov & Hutter). Steps are 0-based update indices: the first
update uses ``warmup_start_lr``, update ``warmup_steps`` uses ``base_lr`` and the last update
(``max_steps - 1``) uses ``final_lr``. Being a pure function of the step, the schedule needs no state
in a checkpoint beyond the step itself, which is what makes ``--resume`` exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

from acrn.config import SolverConfig

# "step" schedule: multiply by 0.1 after these fractions of the post-warm-up steps.
STEP_MILESTONES = (2 / 3, 8 / 9)


def lr_at(step: int, *, base_lr: float, warmup_start_lr: float, warmup_steps: int, max_steps: int,
          schedule: str = "cosine", final_lr: float = 0.0) -> float:
    """Learning rate of the 0-based update ``step``.

    Warm-up: linear from ``warmup_start_lr`` (step 0) to ``base_lr`` (step ``warmup_steps``).
    After warm-up, ``schedule`` is ``"cosine"`` (half cosine from ``base_lr`` at ``warmup_steps`` to
    ``final_lr`` at ``max_steps - 1``), ``"constant"`` (``base_lr``) or ``"step"`` (``base_lr``
    times 0.1 after each fraction in ``STEP_MILESTONES`` of the post-warm-up steps). Steps past the
    end keep the last value.
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if step < warmup_steps:
        return warmup_start_lr + (base_lr - warmup_start_lr) * step / warmup_steps
    decay_steps = max_steps - 1 - warmup_steps
    progress = min(1.0, (step - warmup_steps) / decay_steps) if decay_steps > 0 else 1.0
    if schedule == "constant":
        return base_lr
    if schedule == "cosine":
        return final_lr + 0.5 * (base_lr - final_lr) * (1.0 + math.cos(math.pi * progress))
    if schedule == "step":
        return base_lr * 0.1 ** sum(progress >= m for m in STEP_MILESTONES)
    raise ValueError(f"unknown schedule {schedule!r}; valid: cosine, constant, step")


def build_schedule(solver: SolverConfig) -> Callable[[int], float]:
    """``lr(step)`` from the solver config."""
    return partial(lr_at, base_lr=solver.base_lr, warmup_start_lr=solver.warmup_start_lr,
                   warmup_steps=solver.warmup_steps, max_steps=solver.max_steps,
                   schedule=solver.schedule, final_lr=solver.final_lr)
