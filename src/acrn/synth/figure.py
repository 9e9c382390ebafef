"""Articulated stick figures: joint positions per frame for each kind of motion.

A figure is 11 joints (head centre, neck, hip, two elbows, two hands, two knees, two feet) drawn as
thick segments plus a head disc. Angles are measured from straight down, positive towards the side the
figure faces, so the same parameters draw a left- or right-facing figure.
"""

from __future__ import annotations

import numpy as np

HEAD, NECK, HIP, ELB_A, HAND_A, ELB_B, HAND_B, KNEE_A, FOOT_A, KNEE_B, FOOT_B = range(11)
NUM_JOINTS = 11
# segments drawn as limbs: (from, to); arm A is drawn last (in front)
SEGMENTS = ((NECK, HIP), (HIP, KNEE_B), (KNEE_B, FOOT_B), (NECK, ELB_B), (ELB_B, HAND_B),
            (HIP, KNEE_A), (KNEE_A, FOOT_A), (NECK, ELB_A), (ELB_A, HAND_A))
HEAD_R = 0.1  # head radius, fraction of the figure height
MOTIONS = ("stand", "walk", "run", "jump", "ready")


def _limb(ox, oy, angle, length, facing):
    return ox + facing * length * np.sin(angle), oy + length * np.cos(angle)


def skeleton(x: np.ndarray, yg: np.ndarray, h: float, facing: np.ndarray, p: dict) -> np.ndarray:
    """Joint positions ``ndarray[T, 11, 2]`` (x, y pixels) of a figure of height ``h``.

    x, yg: foot centre and ground line per frame ``[T]``; facing: +1 (right) / -1 (left) ``[T]``;
    p: per-frame angle arrays ``[T]``: lean, lift, legs (a_up, a_low, b_up, b_low), arms
    (a_up, a_fore, b_up, b_fore) in radians.
    """
    t = len(x)
    j = np.zeros((t, NUM_JOINTS, 2))
    leg, thigh, upper, fore = 0.26 * h, 0.24 * h, 0.19 * h, 0.17 * h
    # the lower foot touches the ground line (minus the jump lift)
    reach = np.maximum(thigh * np.cos(p["leg_a_up"]) + leg * np.cos(p["leg_a_up"] - p["leg_a_low"]),
                       thigh * np.cos(p["leg_b_up"]) + leg * np.cos(p["leg_b_up"] - p["leg_b_low"]))
    hip_y = yg - p["lift"] - reach
    hip_x = x
    neck_x = hip_x + facing * 0.3 * h * np.sin(p["lean"])
    neck_y = hip_y - 0.3 * h * np.cos(p["lean"])
    j[:, HIP] = np.stack([hip_x, hip_y], 1)
    j[:, NECK] = np.stack([neck_x, neck_y], 1)
    hx = neck_x + facing * (HEAD_R + 0.02) * h * np.sin(p["lean"])
    j[:, HEAD] = np.stack([hx, neck_y - (HEAD_R + 0.02) * h * np.cos(p["lean"])], 1)
    for up, low, ki, fi in (("leg_a_up", "leg_a_low", KNEE_A, FOOT_A), ("leg_b_up", "leg_b_low", KNEE_B, FOOT_B)):
        kx, ky = _limb(hip_x, hip_y, p[up], thigh, facing)
        fx, fy = _limb(kx, ky, p[up] - p[low], leg, facing)
        j[:, ki] = np.stack([kx, ky], 1)
        j[:, fi] = np.stack([fx, fy], 1)
    sy = neck_y + 0.04 * h
    for up, lo, ei, hi in (("arm_a_up", "arm_a_fore", ELB_A, HAND_A), ("arm_b_up", "arm_b_fore", ELB_B, HAND_B)):
        ex, ey = _limb(neck_x, sy, p[up], upper, facing)
        hx2, hy2 = _limb(ex, ey, p[lo], fore, facing)
        j[:, ei] = np.stack([ex, ey], 1)
        j[:, hi] = np.stack([hx2, hy2], 1)
    return j


def motion_params(motion: str, s: np.ndarray, rng: np.random.Generator, h: float,
                  wave: bool = False, contact: np.ndarray | None = None) -> dict:
    """Per-frame angles for one motion at times ``s`` (seconds, ``[T]``).

    ``contact`` (``[T]`` in [0, 1], for "ready") is how deep the figure is in a catch/throw: the arms
    reach out symmetrically in time around each contact, so arm motion never says which of the two
    happened (that is the point of the relational twins).
    """
    t = len(s)
    z = np.zeros(t)
    ph = rng.uniform(0, 2 * np.pi)
    sway = 0.03 * np.sin(2 * np.pi * rng.uniform(0.2, 0.5) * s + ph)
    p = {"lean": sway, "lift": z.copy()}
    if motion in ("stand", "ready"):
        spread = rng.uniform(0.08, 0.16)
        p.update(leg_a_up=z + spread, leg_a_low=z + 0.02, leg_b_up=z - spread, leg_b_low=z + 0.02)
        if motion == "stand":
            p.update(arm_a_up=z + rng.uniform(0.1, 0.25), arm_a_fore=z + rng.uniform(0.1, 0.3),
                     arm_b_up=z - rng.uniform(0.1, 0.25), arm_b_fore=z - rng.uniform(0.0, 0.2))
        else:
            c = np.zeros(t) if contact is None else contact
            p.update(arm_a_up=1.0 + 0.45 * c, arm_a_fore=1.5 + 0.2 * c,
                     arm_b_up=0.85 + 0.45 * c, arm_b_fore=1.35 + 0.2 * c)
    elif motion in ("walk", "run"):
        run = motion == "run"
        f = rng.uniform(2.6, 3.2) if run else rng.uniform(1.3, 1.8)
        q = np.sin(2 * np.pi * f * s + ph)
        amp = 0.75 if run else 0.38
        p["lean"] = (0.28 if run else 0.06) + sway
        p.update(leg_a_up=amp * q, leg_b_up=-amp * q,
                 leg_a_low=(0.9 if run else 0.3) * np.clip(-q, 0, 1) + 0.05,
                 leg_b_low=(0.9 if run else 0.3) * np.clip(q, 0, 1) + 0.05)
        arm = 0.75 if run else 0.35
        bend = 1.5 if run else 0.15
        p.update(arm_a_up=-arm * q, arm_a_fore=-arm * q + bend, arm_b_up=arm * q, arm_b_fore=arm * q + bend)
    elif motion == "jump":
        f = rng.uniform(1.0, 1.4)
        air = np.abs(np.sin(np.pi * f * s + ph))
        p["lift"] = 0.28 * h * air
        p.update(leg_a_up=0.15 + 0.9 * air, leg_a_low=0.05 + 1.6 * air,
                 leg_b_up=0.05 + 0.9 * air, leg_b_low=0.05 + 1.6 * air,
                 arm_a_up=0.3 + 2.4 * air, arm_a_fore=0.3 + 2.6 * air,
                 arm_b_up=-0.2 + 2.4 * air, arm_b_fore=-0.2 + 2.6 * air)
    else:
        raise ValueError(f"unknown motion {motion!r}; choose one of {MOTIONS}")
    if wave:
        fw = rng.uniform(1.6, 2.4)
        p["arm_a_up"] = z + 2.55
        p["arm_a_fore"] = 2.9 + 0.55 * np.sin(2 * np.pi * fw * s + rng.uniform(0, 2 * np.pi))
    return {k: np.broadcast_to(np.asarray(v, dtype=float), (t,)).copy() for k, v in p.items()}


def figure_boxes(joints: np.ndarray, h: float, thick: float) -> np.ndarray:
    """Tight boxes ``ndarray[T, 4]`` (x1, y1, x2, y2) around the limbs (half thickness) and the head."""
    r = HEAD_R * h
    half = 0.5 * thick
    lo = joints.min(1) - half
    hi = joints.max(1) + half
    head = joints[:, HEAD]
    lo = np.minimum(lo, head - r)
    hi = np.maximum(hi, head + r)
    return np.concatenate([lo, hi], 1)
