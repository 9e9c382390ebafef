"""Scene simulation: actors, balls, packages and distractors over time, with per-frame labels.

One video is a set of *groups* on two depth layers: a relational pair (pass: catch/throw with a ball;
handover: give/receive with a package; walkers: follow/lead) or a solo actor (stand, walk, run, jump,
optionally waving). Every position is decided here, with the video's own random generator, before any
pixel is drawn, so the labels and the deciding entity of each label are exact.

Coordinates are image pixels (x right, y down) before camera jitter; ``Actor.box`` and ``Obj.box``
add the jitter so they are the boxes of the rendered frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from acrn.synth import figure
from acrn.synth.presets import HOLD_S, LABEL_MARGIN_S, LEG_S, PHASE_JITTER_S, Preset

BALL_COLORS = ((255, 140, 0), (255, 255, 255), (250, 230, 30), (230, 30, 30), (30, 200, 255))
PACKAGE_COLORS = ((200, 140, 60), (60, 110, 230), (240, 240, 240), (40, 190, 90))
GROUPS = {"pass": ("catch", "throw", "ball"), "handover": ("receive", "give", "package"),
          "follow": ("follow", "lead", None)}


@dataclass
class Look:
    shirt: tuple
    pants: tuple
    skin: tuple
    height: float
    thick: float


@dataclass
class Actor:
    """One person track. ``rel[i]`` is the relational label at frame i (or None) and ``rel_box[i]`` the
    box of its deciding entity (NaN where ``rel[i]`` is None)."""

    pid: int
    look: Look
    pose: str
    wave: bool
    joints: np.ndarray  # [T, 11, 2]
    facing: np.ndarray  # [T] +1 / -1
    rel: list = field(default_factory=list)
    rel_ref: tuple | None = None  # ("obj", j) or ("actor", j)
    box: np.ndarray | None = None  # [T, 4] image pixels, xyxy
    rel_box: np.ndarray | None = None  # [T, 4]


@dataclass
class Obj:
    kind: str  # "ball" | "package"
    color: tuple
    size: float  # radius (ball) or half side (package)
    pos: np.ndarray  # [T, 2] centre
    role: str  # "play" | "distractor"
    box: np.ndarray | None = None


@dataclass
class VideoSim:
    vid: str
    index: int
    fps: int
    width: int
    height: int
    frames: int
    actors: list
    objects: list
    offset: np.ndarray  # [T, 2] integer camera jitter (dx, dy)
    glitch: list  # key-frame timestamps rendered corrupted (AVA "excluded")
    timestamps: list  # key-frame timestamps (integer seconds)

    def keyframe_index(self, t: int) -> int:
        """0-based frame index of key frame ``t`` (synthetic rule: round(t * fps))."""
        return int(round(t * self.fps))


def _look(rng: np.random.Generator, h_img: int) -> Look:
    hue = rng.uniform(0, 180)
    shirt = _hsv(hue, rng.uniform(150, 255), rng.uniform(150, 255))
    pants = _hsv(rng.uniform(0, 180), rng.uniform(40, 200), rng.uniform(40, 120))
    skin = _hsv(rng.uniform(5, 20), rng.uniform(60, 160), rng.uniform(150, 240))
    h = rng.uniform(0.27, 0.33) * h_img
    return Look(shirt, pants, skin, h, max(1.0, 0.075 * h))


def _hsv(h: float, s: float, v: float) -> tuple:
    import cv2

    px = np.array([[[h, s, v]]], dtype=np.uint8)
    return tuple(int(c) for c in cv2.cvtColor(px, cv2.COLOR_HSV2RGB)[0, 0])


def _bounce_path(x0: float, v: float, d0: int, n: int, fps: int, lo: float, hi: float):
    """Positions and headings of a walker going back and forth in [lo, hi] at speed v (px/s)."""
    x, d = np.empty(n), np.empty(n)
    cur, dirn = x0, d0
    for i in range(n):
        x[i], d[i] = cur, dirn
        cur += dirn * v / fps
        if not lo <= cur <= hi:
            dirn = -dirn
            cur = min(max(cur, lo), hi)
    return x, d


class _Builder:
    """Accumulates actors and objects of one video; each ``add_*`` samples one group."""

    def __init__(self, p: Preset, rng: np.random.Generator):
        self.p, self.rng = p, rng
        self.n = p.seconds * p.fps
        self.s = np.arange(self.n) / p.fps
        self.actors: list[Actor] = []
        self.objects: list[Obj] = []
        self.spots: dict[int, list] = {0: [], 1: []}  # occupied x spans per layer
        self.grounds = (0.62, 0.95)  # ground line of each depth layer, fraction of the height

    def ground(self, layer: int) -> np.ndarray:
        base = self.grounds[layer] * self.p.height + self.rng.uniform(-0.015, 0.015) * self.p.height
        return np.full(self.n, base)

    def _actor(self, look, pose, wave, x, yg, facing, motion, contact=None) -> Actor:
        prm = figure.motion_params(motion, self.s, self.rng, look.height, wave=wave, contact=contact)
        joints = figure.skeleton(x, yg, look.height, facing, prm)
        a = Actor(len(self.actors), look, pose, wave, joints, facing, rel=[None] * self.n)
        self.actors.append(a)
        return a

    def _free_x(self, layer: int, width: float) -> float:
        w = self.p.width
        lo, hi = 0.1 * w, 0.9 * w - width
        x = self.rng.uniform(lo, max(lo, hi))
        for _ in range(20):
            if all(x + width < a or x > b for a, b in self.spots[layer]):
                break
            x = self.rng.uniform(lo, max(lo, hi))
        self.spots[layer].append((x - 0.06 * w, x + width + 0.06 * w))
        return x

    def add_solo(self, layer: int, pose: str, wave: bool, span: tuple | None = None) -> None:
        """One actor-only actor; ``span`` (x lo, hi in pixels) confines its feet, else the whole frame."""
        w, look = self.p.width, _look(self.rng, self.p.height)
        yg = self.ground(layer)
        d0 = int(self.rng.choice([-1, 1]))
        if pose in ("walk", "run"):
            v = self.rng.uniform(0.06, 0.1) * w if pose == "walk" else self.rng.uniform(0.2, 0.3) * w
            lo, hi = (0.1 * w, 0.9 * w) if span is None else span
            x0 = self.rng.uniform(0.15, 0.85) * w if span is None else self.rng.uniform(lo, hi)
            x, facing = _bounce_path(x0, v, d0, self.n, self.p.fps, lo, hi)
        else:
            x0 = self._free_x(layer, 0.0) if span is None else self.rng.uniform(*span)
            x, facing = np.full(self.n, x0), np.full(self.n, float(d0))
        self._actor(look, pose, wave, x, yg, facing, pose)

    def add_exchange(self, layer: int, group: str, dist: float | None = None, xa: float | None = None,
                     reverse: bool = False) -> list[Actor]:
        """Two standing actors pass a ball (catch/throw) or a package (give/receive) back and forth.

        Contacts happen at even seconds (+- jitter); each leg takes LEG_S. The object rests in the hand
        for HOLD_S around a contact and the arms reach out only then, symmetrically in time. ``dist``
        and ``xa`` (pixels) fix the pair's spacing and left actor; ``reverse`` hands the object to the
        other actor first, which reverses its motion and swaps the two relational labels at every key
        frame while every random draw (and so every pixel away from the object and the contacts) stays.
        """
        recv, send, kind = GROUPS[group]
        w, p, rng = self.p.width, self.p, self.rng
        if dist is None:
            dist = rng.uniform(0.55, 0.72) * w if kind == "ball" else rng.uniform(0.46, 0.56) * w
        xa = self._free_x(layer, dist) if xa is None else xa
        yg = self.ground(layer)
        phi = rng.uniform(-PHASE_JITTER_S, PHASE_JITTER_S)
        first = int(rng.integers(2))
        if reverse:
            first = 1 - first
        contacts = np.arange(-2, p.seconds // 2 + 3) * LEG_S + phi
        holder = (np.arange(len(contacts)) + first) % 2
        members = []
        for m, (x, face) in enumerate(((xa, 1.0), (xa + dist, -1.0))):
            own = contacts[holder == m]
            near = np.abs(self.s[:, None] - own[None, :]).min(1)
            contact = np.clip(1 - near / HOLD_S, 0, 1)
            members.append(self._actor(_look(rng, p.height), "stand", False, np.full(self.n, x), yg,
                                       np.full(self.n, face), "ready", contact=contact))
        size = (0.035 if kind == "ball" else 0.03) * w * p.object_scale
        color = BALL_COLORS[rng.integers(len(BALL_COLORS))] if kind == "ball" else \
            PACKAGE_COLORS[rng.integers(len(PACKAGE_COLORS))]
        rest = [m.joints[:, figure.HAND_A].mean(0) + np.array([m.facing[0] * size * 0.8, 0.0]) for m in members]
        pos = np.zeros((self.n, 2))
        apex = 0.12 * p.height if kind == "ball" else 0.0
        k = np.floor((self.s - phi) / LEG_S).astype(int) + 2  # index into contacts
        for i in range(self.n):
            c0, c1 = contacts[k[i]], contacts[k[i] + 1]
            a, b = holder[k[i]], holder[k[i] + 1]
            dt0, dt1 = self.s[i] - c0, c1 - self.s[i]
            x = np.clip((dt0 - HOLD_S) / (LEG_S - 2 * HOLD_S), 0.0, 1.0)
            # quick off the hand and into the other, slower mid-way: the object clears the boxes early
            u = x + 0.6 * np.sin(2 * np.pi * x) / (2 * np.pi)
            pos[i] = rest[a] + u * (rest[b] - rest[a]) - np.array([0.0, 4 * apex * u * (1 - u)])
            if min(dt0, dt1) >= LABEL_MARGIN_S:
                members[a].rel[i], members[b].rel[i] = send, recv
        j = len(self.objects)
        self.objects.append(Obj(kind, color, size, pos, "play"))
        for m in members:
            m.rel_ref = ("obj", j)
        return members

    def add_walkers(self, layer: int) -> None:
        """Two actors walk the same way at the same speed, one behind the other; they turn together
        every 4 s (at even seconds +- jitter), which swaps who follows and who leads."""
        w, p, rng = self.p.width, self.p, self.rng
        v, gap = rng.uniform(0.06, 0.1) * w, rng.uniform(0.26, 0.34) * w
        turns = np.arange(4, p.seconds, 4) + rng.uniform(-PHASE_JITTER_S, PHASE_JITTER_S, len(range(4, p.seconds, 4)))
        d0 = int(rng.choice([-1, 1]))
        heading = d0 * (-1.0) ** (self.s[:, None] >= turns[None, :]).sum(1)
        xa = np.concatenate([[0.0], np.cumsum(heading[:-1] * v / p.fps)])
        lo, hi = 0.1 * w - xa.min(), 0.9 * w - gap - xa.max()
        xa = xa + (rng.uniform(lo, hi) if hi > lo else 0.5 * (lo + hi))
        yg = self.ground(layer)
        a = self._actor(_look(rng, p.height), "walk", False, xa, yg, heading, "walk")
        b = self._actor(_look(rng, p.height), "walk", False, xa + gap, yg, heading, "walk")
        near = np.abs(self.s[:, None] - turns[None, :]).min(1) if len(turns) else np.full(self.n, np.inf)
        for i in range(self.n):
            if near[i] >= LABEL_MARGIN_S:
                lead, foll = (b, a) if heading[i] > 0 else (a, b)
                lead.rel[i], foll.rel[i] = "lead", "follow"
        a.rel_ref, b.rel_ref = ("actor", b.pid), ("actor", a.pid)

    def add_distractor(self) -> None:
        w, h, rng = self.p.width, self.p.height, self.rng
        kind = "ball" if rng.random() < 0.5 else "package"
        size = (0.035 if kind == "ball" else 0.03) * w * self.p.object_scale
        colors = BALL_COLORS if kind == "ball" else PACKAGE_COLORS
        ang, speed = rng.uniform(0, 2 * np.pi), rng.uniform(0.1, 0.25) * w
        lo, hi = np.array([size, 0.15 * h]), np.array([w - size, h - size])
        cur = rng.uniform(lo, hi)
        vel = speed * np.array([np.cos(ang), np.sin(ang)]) / self.p.fps
        pos = np.empty((self.n, 2))
        for i in range(self.n):
            pos[i] = cur
            cur = cur + vel
            out = (cur < lo) | (cur > hi)
            vel = np.where(out, -vel, vel)
            cur = np.clip(cur, lo, hi)
        self.objects.append(Obj(kind, colors[rng.integers(len(colors))], size, pos, "distractor"))


def _plan(p: Preset, rng: np.random.Generator, index: int) -> tuple[list, list]:
    """Choose the groups of one video: (group names, solo poses with wave flags).

    Pair types take turns by video index (passes twice as often: they are labelled on every other key
    frame only), which keeps the relational classes balanced even in small presets.
    """
    n_act = int(rng.choice([1, 2, 3], p=np.asarray(p.actor_weights) / sum(p.actor_weights)))
    cycle = [g for g in ("pass", "follow", "handover", "pass") if GROUPS[g][0] in p.classes]
    chosen = []
    if n_act >= 2 and cycle and rng.random() < p.group_prob:
        chosen.append(cycle[index % len(cycle)])
        n_act -= 2
    poses = [c for c in ("stand", "walk", "run", "jump") if c in p.classes]
    solos = []
    for _ in range(n_act):
        pose = poses[rng.integers(len(poses))]
        wave = "wave" in p.classes and pose in ("stand", "walk") and rng.random() < p.wave_prob
        solos.append((pose, bool(wave)))
    return chosen, solos


def simulate(p: Preset, seed: int, index: int, vid: str, reverse: tuple = ()) -> VideoSim:
    """Simulate video ``index`` of a dataset: every track, label and deciding-entity box.

    ``reverse``: indices (in creation order) of the ball/package exchanges whose object is handed the
    other way round (``_Builder.add_exchange``): the swap control of issue #17. Empty for the dataset.
    """
    rng = np.random.default_rng([seed, index, 0])
    b = _Builder(p, rng)
    if p.layout == "relational":
        from acrn.synth.relational import build_relational

        build_relational(b, reverse)
        return finish_video(p, b, rng, index, vid)
    groups, solos = _plan(p, rng, index)
    layer = int(rng.integers(2))
    for g in groups:
        if g == "follow":
            b.add_walkers(layer)
        else:
            b.add_exchange(layer, g, reverse=0 in reverse)
    for i, (pose, wave) in enumerate(solos):
        b.add_solo((layer + 1 + i) % 2 if groups else (layer + i) % 2, pose, wave)
    for _ in range(p.distractors):
        b.add_distractor()
    return finish_video(p, b, rng, index, vid)


def finish_video(p: Preset, b: _Builder, rng: np.random.Generator, index: int, vid: str) -> VideoSim:
    """Camera jitter, key frames and boxes of a video whose actors and objects ``b`` holds."""
    amp = 0.01 * p.jitter * p.width
    f1, f2 = rng.uniform(0.3, 1.5, 2)
    ph = rng.uniform(0, 2 * np.pi, 2)
    off = amp * np.stack([np.sin(2 * np.pi * f1 * b.s + ph[0]), np.sin(2 * np.pi * f2 * b.s + ph[1])], 1)
    off = np.round(off + rng.normal(0, 0.2 * amp + 1e-9, off.shape)).astype(int)
    stamps = list(range(1, p.seconds))
    glitch = [t for t in stamps if rng.random() < p.exclude_prob]
    sim = VideoSim(vid, index, p.fps, p.width, p.height, b.n, b.actors, b.objects, off, glitch, stamps)
    _finish_boxes(sim)
    return sim


def _clip(box: np.ndarray, w: int, h: int) -> np.ndarray:
    return np.clip(box, 0, [w, h, w, h])


def _finish_boxes(sim: VideoSim) -> None:
    """Image-space boxes (with camera jitter) of every actor, object and deciding entity."""
    shift = np.concatenate([sim.offset, sim.offset], 1).astype(float)
    for o in sim.objects:
        o.box = _clip(np.concatenate([o.pos - o.size, o.pos + o.size], 1) + shift, sim.width, sim.height)
    for a in sim.actors:
        a.box = _clip(figure.figure_boxes(a.joints, a.look.height, a.look.thick) + shift, sim.width, sim.height)
    for a in sim.actors:
        a.rel_box = np.full((sim.frames, 4), np.nan)
        if a.rel_ref is None:
            continue
        kind, j = a.rel_ref
        ref = sim.objects[j].box if kind == "obj" else sim.actors[j].box
        has = np.array([r is not None for r in a.rel])
        a.rel_box[has] = ref[has]
