"""Generator statistics of a synthetic dataset: the issue #17 principles, measured on the simulation.

For the labelled relational actor key frames (excluded key frames left out, as in the ground truth):

- how often each deciding entity type is present in a clip (presence should be no cue);
- how many labelled key frames have >= 2 actors with different relational labels, and the accuracy of
  the best *clip-level* rule (one relational label for every actor of the key frame);
- the gap between the actor's box and its deciding entity's box at the key frame, in pixels of the
  video, in pixels at the recipe's input height and in cells of a feature map of the given stride;
- how often the deciding entity touches the actor's box, or any actor's outside its pair, within the
  recommended clip.

Everything is computed from ``VideoSim`` boxes and labels (no pixels), so it is exact and cheap.
"""

from __future__ import annotations

import numpy as np

from acrn.synth.presets import CROP_AMBIGUOUS_S
from acrn.synth.world import VideoSim

INPUT_HEIGHT = 112  # the demo recipe's test_short_side (src/acrn/demo/recipe.yaml)
STRIDE = 16  # Mixed_4f's stride in S3D-G


def box_gap(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two xyxy boxes (0 when they touch or overlap)."""
    dx = max(b[0] - a[2], a[0] - b[2], 0.0)
    dy = max(b[1] - a[3], a[1] - b[3], 0.0)
    return float(np.hypot(dx, dy))


def overlaps(a: np.ndarray, b: np.ndarray) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def entity_kind(sim: VideoSim, ref: tuple) -> str:
    """Type of a deciding entity: "ball", "package" or "walker" (the other actor of a follow pair)."""
    return sim.objects[ref[1]].kind if ref[0] == "obj" else "walker"


def entity_box(sim: VideoSim, ref: tuple) -> np.ndarray:
    """``float[T, 4]`` boxes of a deciding entity over the video."""
    return sim.objects[ref[1]].box if ref[0] == "obj" else sim.actors[ref[1]].box


def clip_frames(sim: VideoSim, k: int) -> np.ndarray:
    """Frame indices within +-CROP_AMBIGUOUS_S of key frame index ``k`` (clipped to the video)."""
    r = int(np.floor(CROP_AMBIGUOUS_S * sim.fps))
    return np.arange(max(0, k - r), min(sim.frames, k + r + 1))


def labelled_keyframes(sim: VideoSim):
    """Yield (key-frame index, [actors with a relational label there]) for non-excluded key frames."""
    for t in sim.timestamps:
        if t in sim.glitch:
            continue
        k = sim.keyframe_index(t)
        actors = [a for a in sim.actors if a.rel[k] is not None]
        if actors:
            yield k, actors


def _summary(x: np.ndarray, scale: float = 1.0) -> dict:
    if not len(x):
        return {}
    q = np.percentile(np.asarray(x) * scale, [0, 10, 50, 90, 100])
    return {k: round(float(v), 2) for k, v in zip(("min", "p10", "median", "p90", "max"), q, strict=True)}


def _presence(sims: list[VideoSim]) -> tuple[dict, dict]:
    """(share of videos showing each deciding type, share in which that type decides some label)."""
    shown, decides = [], []
    for sim in sims:
        kinds = {o.kind for o in sim.objects}
        refs = {entity_kind(sim, a.rel_ref) for a in sim.actors if a.rel_ref is not None}
        shown.append(kinds | ({"walker"} if "walker" in refs else set()))
        decides.append(refs)
    types = sorted(set().union(*decides)) if decides else []
    n = max(1, len(sims))
    return ({t: round(sum(t in s for s in shown) / n, 4) for t in types},
            {t: round(sum(t in s for s in decides) / n, 4) for t in types})


def relational_stats(sims: list[VideoSim], input_height: int = INPUT_HEIGHT, stride: int = STRIDE) -> dict:
    """The statistics listed in the module docstring, JSON-able (written to meta.json)."""
    gaps, touch, other, differ, clip_acc, distinct, per_video = [], 0, 0, 0, [], [], []
    for sim in sims:
        video_differs = False
        for k, actors in labelled_keyframes(sim):
            labels = [a.rel[k] for a in actors]
            counts = np.unique(labels, return_counts=True)[1]
            distinct.append(len(counts))
            clip_acc.append(counts.max() / len(labels))
            if len(counts) >= 2:
                differ += 1
                video_differs = True
            for a in actors:
                ent = entity_box(sim, a.rel_ref)
                gaps.append(box_gap(a.box[k], ent[k]))
                touch += any(overlaps(ent[i], a.box[k]) or overlaps(ent[i], a.box[i]) for i in clip_frames(sim, k))
                # any other actor (not the pair) whose box the entity enters: its crop would show the entity
                other += sum(any(overlaps(ent[i], b.box[i]) for i in clip_frames(sim, k)) for b in sim.actors
                             if b.pid != a.pid and b.rel_ref != a.rel_ref and ("actor", b.pid) != a.rel_ref
                             and ("actor", a.pid) != b.rel_ref)
        per_video.append(video_differs)
    height = sims[0].height if sims else input_height
    shown, decides = _presence(sims)
    gaps = np.asarray(gaps)
    return {
        "videos": len(sims),
        "actors_per_video": _summary(np.array([len(s.actors) for s in sims])),
        "entity_presence": shown,
        "deciding_entity_presence": decides,
        "labelled_keyframes": len(clip_acc),
        "labelled_actor_keyframes": int(len(gaps)),
        "keyframes_with_differing_relational_labels": differ,
        "videos_with_differing_relational_labels": int(sum(per_video)),
        "distinct_relational_labels_per_keyframe": _summary(np.asarray(distinct)),
        # accuracy of the best rule that gives every actor of a key frame the same relational label
        "clip_level_rule_accuracy": round(float(np.mean(clip_acc)), 4) if clip_acc else None,
        "gap_px": _summary(gaps),
        "gap_input_px": _summary(gaps, input_height / height),
        "gap_cells": _summary(gaps, input_height / height / stride),
        "gap_definition": f"euclidean gap between the actor's and its deciding entity's key-frame boxes; input_px at "
                          f"{input_height}-px input height, cells of stride {stride} (Mixed_4f)",
        "entity_touches_actor_box_in_clip": int(touch),
        "entity_touches_other_actor_box_in_clip": int(other),
    }
