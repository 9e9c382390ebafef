"""Probes of the relational design: actor-crop features, a ridge classifier, and the hand rule."""

from __future__ import annotations

import cv2
import numpy as np

from acrn.synth.presets import CROP_AMBIGUOUS_S, resolve_preset
from acrn.synth.render import render
from acrn.synth.world import simulate

CROP = 12  # crop side after resizing
# the session fixture's knobs: more key frames and excluded key frames than the tiny preset
TINY_KNOBS = {"videos": 8, "seconds": 5, "exclude_prob": 0.15}


def dataset(n_videos: int, seed: int = 0, **knobs):
    """Simulated and rendered videos (in memory) of a small relational-rich preset."""
    knobs = {"seconds": 8, "actor_weights": (0.1, 0.5, 0.4), "group_prob": 1.0} | knobs
    p = resolve_preset("tiny", n_videos, **knobs)
    out = []
    for i in range(p.videos):
        sim = simulate(p, seed, i, f"v{i}")
        out.append((sim, render(sim, p.clutter, p.noise, seed)))
    return p, out


def clip_indices(sim, k: int) -> np.ndarray:
    """Frames of a clip centred on key frame index k that spans +-CROP_AMBIGUOUS_S."""
    r = int(np.floor(CROP_AMBIGUOUS_S * sim.fps))
    return np.clip(np.arange(k - r, k + r), 0, sim.frames - 1)


def crop_features(frames: np.ndarray, boxes: np.ndarray, idx: np.ndarray, key_box: np.ndarray) -> np.ndarray:
    """Actor-only features of one clip: the key-frame box cropped from every clip frame (as an ROI
    pooling of the key-frame box does), resized, in temporal order; plus their temporal mean, std and
    mean absolute difference, and the actor's own box motion over the clip."""
    x1, y1, x2, y2 = np.round(key_box).astype(int)
    x2, y2 = max(x2, x1 + 1), max(y2, y1 + 1)
    seq = np.stack([cv2.resize(frames[i, y1:y2, x1:x2], (CROP, CROP), interpolation=cv2.INTER_AREA)
                    for i in idx]).astype(np.float32) / 255.0  # [T, 8, 8, 3]
    gray = seq.mean(-1)
    h = max(key_box[3] - key_box[1], 1.0)
    motion = (boxes[idx] - key_box) / h  # [T, 4]
    return np.concatenate([gray.ravel(), seq.mean(0).ravel(), seq.std(0).ravel(),
                           np.abs(np.diff(gray, axis=0)).mean(0).ravel(), motion.ravel(),
                           [h / frames.shape[1], (key_box[2] - key_box[0]) / h]])


def actor_samples(data, classes: tuple[str, ...], attr: str = "pose"):
    """(features, class index, video index) of every actor key frame whose ``attr`` is in ``classes``
    (``attr="wave"`` gives 0/1 labels for standing and walking actors)."""
    feats, labels, groups = [], [], []
    for vi, (sim, frames) in enumerate(data):
        for t in sim.timestamps:
            k = sim.keyframe_index(t)
            for a in sim.actors:
                if a.pose not in classes:
                    continue
                feats.append(crop_features(frames, a.box, clip_indices(sim, k), a.box[k]))
                labels.append(int(a.wave) if attr == "wave" else classes.index(a.pose))
                groups.append(vi)
    return np.array(feats), np.array(labels), np.array(groups)


def relational_samples(data, pair: tuple[str, str]):
    """(features, labels 0/1, video index, rule prediction) for every labelled key frame of a pair."""
    feats, labels, groups, rule = [], [], [], []
    for vi, (sim, frames) in enumerate(data):
        for t in sim.timestamps:
            k = sim.keyframe_index(t)
            for a in sim.actors:
                if a.rel[k] not in pair:
                    continue
                feats.append(crop_features(frames, a.box, clip_indices(sim, k), a.box[k]))
                labels.append(pair.index(a.rel[k]))
                groups.append(vi)
                rule.append(pair.index(rule_label(sim, a, k, pair)))
    return np.array(feats), np.array(labels), np.array(groups), np.array(rule)


def rule_label(sim, a, k: int, pair: tuple[str, str]) -> str:
    """A hand rule reading only the deciding entity's position and motion relative to the actor.

    Objects (ball, package): coming closer over the next frames = catch/receive, else throw/give.
    The other walker: ahead of the actor in its direction of motion = follow, else lead.
    """
    kind, j = a.rel_ref
    ent = sim.objects[j].box if kind == "obj" else sim.actors[j].box
    c = lambda b: 0.5 * (b[..., :2] + b[..., 2:])  # noqa: E731
    k0, k1 = max(k - 3, 0), min(k + 3, sim.frames - 1)
    if kind == "obj":
        closer = np.linalg.norm(c(ent[k1]) - c(a.box[k1])) < np.linalg.norm(c(ent[k]) - c(a.box[k]))
        return pair[0] if closer else pair[1]  # pairs are (catch, throw), (receive, give)
    # the pair walks together: their mean displacement is the heading
    heading = np.sign(c(a.box[k1])[0] - c(a.box[k0])[0] + c(ent[k1])[0] - c(ent[k0])[0])
    ahead = np.sign(c(ent[k])[0] - c(a.box[k])[0]) == heading
    return "follow" if ahead else "lead"


def ridge_fit_predict(xtr, ytr, xte, n_classes: int, lam: float = 10.0) -> np.ndarray:
    """One-vs-rest ridge regression classifier on standardised features (closed form)."""
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    a, b = (xtr - mu) / sd, (xte - mu) / sd
    a1 = np.concatenate([a, np.ones((len(a), 1))], 1)
    b1 = np.concatenate([b, np.ones((len(b), 1))], 1)
    y = np.eye(n_classes)[ytr]
    # dual form: features outnumber samples
    alpha = np.linalg.solve(a1 @ a1.T + lam * np.eye(len(a1)), y)
    return (b1 @ (a1.T @ alpha)).argmax(1)


def grouped_cv_accuracy(x, y, groups, n_classes: int, folds: int = 4, lam: float = 10.0) -> tuple[float, int]:
    """Held-out accuracy with whole videos held out (k-fold over videos); returns (accuracy, n)."""
    fold = np.unique(groups, return_inverse=True)[1] % folds  # video ranks, not ids (ids cycle pair types)
    correct = 0
    for f in range(folds):
        tr, te = fold != f, fold == f
        correct += int((ridge_fit_predict(x[tr], y[tr], x[te], n_classes, lam) == y[te]).sum())
    return correct / len(y), len(y)
