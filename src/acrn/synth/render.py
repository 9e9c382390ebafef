"""Drawing a simulated video with OpenCV: textured background, clutter, figures, objects, noise.

All drawing is anti-aliased with 4 bits of sub-pixel precision so slow motion stays smooth at 64-128
pixel frames. Frames are RGB ``uint8`` arrays ``[T, H, W, 3]``.
"""

from __future__ import annotations

import cv2
import numpy as np

from acrn.synth import figure
from acrn.synth.world import Actor, Obj, VideoSim

_SHIFT = 4
_ONE = 1 << _SHIFT


def _pt(xy) -> tuple[int, int]:
    return int(round(xy[0] * _ONE)), int(round(xy[1] * _ONE))


def background(rng: np.random.Generator, w: int, h: int, clutter: int, margin: int) -> np.ndarray:
    """A static canvas ``[h + 2m, w + 2m, 3]``: sky/ground gradient, low-frequency texture, clutter."""
    hh, ww = h + 2 * margin, w + 2 * margin
    # muted colours: a grey level plus a small tint, so the saturated figures and objects stand out
    sky = rng.uniform(110, 200) + rng.normal(0, 18, 3)
    ground = rng.uniform(60, 150) + rng.normal(0, 18, 3)
    horizon = rng.uniform(0.3, 0.5) * hh
    y = np.arange(hh)[:, None, None]
    mix = np.clip((y - horizon) / (0.15 * hh) + 0.5, 0, 1)
    img = (1 - mix) * sky + mix * ground + np.zeros((1, ww, 1))
    # blotches mostly in brightness, a little in colour
    coarse = (rng.normal(0, 18, (6, 6, 1)) + rng.normal(0, 6, (6, 6, 3))).astype(np.float32)
    img += cv2.resize(coarse, (ww, hh), interpolation=cv2.INTER_CUBIC)
    img += rng.normal(0, 5, img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    unit = max(2.0, 0.05 * w)
    for _ in range(clutter):
        color = tuple(int(c) for c in np.clip(img[int(rng.uniform(0, hh)), int(rng.uniform(0, ww))]
                                              + rng.normal(0, 35, 3), 0, 255))
        cx, cy = rng.uniform(0, ww), rng.uniform(0.2 * hh, hh)
        shape = rng.integers(3)
        if shape == 0:
            sw, sh = rng.uniform(1, 4, 2) * unit
            cv2.rectangle(img, _pt((cx, cy)), _pt((cx + sw, cy + sh)), color, -1, cv2.LINE_AA, _SHIFT)
        elif shape == 1:
            cv2.circle(img, _pt((cx, cy)), int(rng.uniform(0.5, 2.0) * unit * _ONE), color, -1, cv2.LINE_AA, _SHIFT)
        else:
            ex, ey = cx + rng.uniform(-4, 4) * unit, cy + rng.uniform(-2, 2) * unit
            cv2.line(img, _pt((cx, cy)), _pt((ex, ey)), color, max(1, int(0.3 * unit)), cv2.LINE_AA, _SHIFT)
    return img


def draw_actor(img: np.ndarray, a: Actor, i: int, off) -> None:
    j = a.joints[i] + off
    th = max(1, int(round(a.look.thick)))
    colors = {figure.HIP: a.look.pants, figure.KNEE_A: a.look.pants, figure.KNEE_B: a.look.pants}
    for s, e in figure.SEGMENTS:
        color = a.look.pants if s in colors or e in colors else a.look.shirt
        cv2.line(img, _pt(j[s]), _pt(j[e]), color, th, cv2.LINE_AA, _SHIFT)
    r = figure.HEAD_R * a.look.height
    cv2.circle(img, _pt(j[figure.HEAD]), int(r * _ONE), a.look.skin, -1, cv2.LINE_AA, _SHIFT)
    # a dark eye on the facing side: the figure's heading is visible in a single frame
    eye = j[figure.HEAD] + np.array([a.facing[i] * 0.45 * r, -0.15 * r])
    cv2.circle(img, _pt(eye), int(max(0.6, 0.28 * r) * _ONE), (20, 20, 20), -1, cv2.LINE_AA, _SHIFT)


def draw_object(img: np.ndarray, o: Obj, i: int, off) -> None:
    c = o.pos[i] + off
    dark = tuple(int(0.45 * v) for v in o.color)
    if o.kind == "ball":
        cv2.circle(img, _pt(c), int(o.size * _ONE), o.color, -1, cv2.LINE_AA, _SHIFT)
        cv2.circle(img, _pt(c), int(o.size * _ONE), dark, 1, cv2.LINE_AA, _SHIFT)
    else:
        p1, p2 = c - o.size, c + o.size
        cv2.rectangle(img, _pt(p1), _pt(p2), o.color, -1, cv2.LINE_AA, _SHIFT)
        cv2.rectangle(img, _pt(p1), _pt(p2), dark, 1, cv2.LINE_AA, _SHIFT)
        cv2.line(img, _pt((c[0], p1[1])), _pt((c[0], p2[1])), dark, 1, cv2.LINE_AA, _SHIFT)


def render(sim: VideoSim, clutter: int, noise: float, seed: int) -> np.ndarray:
    """All frames of ``sim`` as ``ndarray[T, H, W, 3]`` uint8 RGB (deterministic for ``seed``)."""
    rng = np.random.default_rng([seed, sim.index, 1])
    w, h = sim.width, sim.height
    margin = int(np.abs(sim.offset).max()) + 1
    bg = background(rng, w, h, clutter, margin)
    order = sorted(range(len(sim.actors)), key=lambda k: sim.actors[k].joints[:, figure.FOOT_A, 1].mean())
    glitch = {sim.keyframe_index(t) for t in sim.glitch}
    out = np.empty((sim.frames, h, w, 3), np.uint8)
    sigma = 255.0 * noise
    for i in range(sim.frames):
        dx, dy = sim.offset[i]
        # moving the crop window by -offset moves the static background by +offset like the entities
        img = bg[margin - dy:margin - dy + h, margin - dx:margin - dx + w].copy()
        off = np.array([dx, dy], float)
        for k in order:
            draw_actor(img, sim.actors[k], i, off)
        for o in sim.objects:
            draw_object(img, o, i, off)
        if i in glitch:
            img = cv2.GaussianBlur(img, (0, 0), 2.5)
            img[int(rng.uniform(0, h - 2)):, :, :] //= 3
            frame_sigma = max(sigma, 50.0)
        else:
            frame_sigma = sigma
        if frame_sigma > 0:
            noisy = img.astype(np.float32) + rng.standard_normal(img.shape, dtype=np.float32) * frame_sigma
            img = np.clip(noisy, 0, 255).astype(np.uint8)
        out[i] = img
    return out
