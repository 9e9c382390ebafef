"""The relational design, proven on pixels (paper, Figure 1): for each relational twin pair the actor's
own crop is at chance, the deciding entity's position and motion give the label, and the actor-only
classes are separable from the same crop features."""

from __future__ import annotations

import numpy as np
import pytest
from synth_probe import (
    actor_samples,
    clip_indices,
    dataset,
    grouped_cv_accuracy,
    relational_samples,
)

from acrn.synth.presets import ALL_CLASSES, resolve_preset
from acrn.synth.world import simulate

PAIRS = (("catch", "throw"), ("receive", "give"), ("follow", "lead"))


@pytest.fixture(scope="module")
def relational_data():
    """160 videos of 8 s, every class, two actors forming a pair in most videos."""
    return dataset(160, seed=11, classes=ALL_CLASSES)[1]


@pytest.fixture(scope="module")
def solo_data():
    """Solo actors only, at 96 px so poses are drawn with a few more pixels."""
    return dataset(60, seed=12, group_prob=0.0, width=96, height=96)[1]


def _overlap(a, b) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def test_deciding_entity_stays_outside_the_actor_box_during_the_clip(relational_data):
    """Within +-CROP_AMBIGUOUS_S of a labelled key frame the deciding entity never overlaps the actor's
    key-frame box (what an ROI pooling of that box sees) nor its own box of that frame."""
    checked = 0
    for sim, _ in relational_data:
        for t in sim.timestamps:
            k = sim.keyframe_index(t)
            for a in sim.actors:
                if a.rel[k] is None:
                    continue
                kind, j = a.rel_ref
                ent = sim.objects[j].box if kind == "obj" else sim.actors[j].box
                for i in clip_indices(sim, k):
                    assert not _overlap(ent[i], a.box[k]) and not _overlap(ent[i], a.box[i]), (sim.vid, t, a.pid)
                checked += 1
    assert checked > 500


@pytest.mark.parametrize("pair", PAIRS)
def test_twins_are_balanced_and_the_rule_reads_them(relational_data, pair):
    _, y, _, rule = relational_samples(relational_data, pair)
    assert len(y) >= 150 and y.sum() * 2 == len(y)  # every labelled key frame labels both twins
    assert (rule == y).mean() > 0.95


@pytest.mark.parametrize("pair", PAIRS)
def test_actor_crop_classifier_is_at_chance(relational_data, pair):
    x, y, groups, _ = relational_samples(relational_data, pair)
    acc, n = grouped_cv_accuracy(x, y, groups, 2)
    sigma = np.sqrt(0.25 / n)
    print(f"{pair}: crop-only held-out accuracy {acc:.3f} on n={n} (chance 0.5, sigma {sigma:.3f})")
    assert abs(acc - 0.5) < 3 * sigma


def test_actor_only_classes_are_separable_from_the_crop(solo_data):
    x, y, groups = actor_samples(solo_data, ("stand", "walk", "run", "jump"))
    acc, n = grouped_cv_accuracy(x, y, groups, 4, lam=100.0)
    print(f"pose (4 classes): crop-only held-out accuracy {acc:.3f} on n={n} (chance 0.25)")
    assert acc > 0.85
    x, y, groups = actor_samples(solo_data, ("stand", "walk"), attr="wave")
    acc, n = grouped_cv_accuracy(x, y, groups, 2, lam=100.0)
    print(f"wave vs not: crop-only held-out accuracy {acc:.3f} on n={n} (chance 0.65, the majority)")
    assert acc > 0.8


def _object_gaps(preset: str, videos: int) -> np.ndarray:
    """Horizontal gap (px at the recipe's 112-px input height) between each labelled pass/hand-over actor's
    box and its deciding object at the key frame."""
    p = resolve_preset(preset, videos)
    gaps = []
    for i in range(videos):
        sim = simulate(p, 0, i, f"v{i}")
        for t in sim.timestamps:
            k = sim.keyframe_index(t)
            for a in sim.actors:
                if a.rel[k] is None or a.rel_ref[0] != "obj":
                    continue
                ob, ab = sim.objects[a.rel_ref[1]].box[k], a.box[k]
                gaps.append(max(ob[0] - ab[2], ab[0] - ob[2], 0.0) * 112 / p.height)
    return np.asarray(gaps)


def test_wide_preset_puts_the_deciding_object_further_from_the_actor() -> None:
    demo, wide = _object_gaps("demo", 24), _object_gaps("wide", 24)
    assert len(demo) > 50 and len(wide) > 50
    assert wide.min() >= 2 * 16 - 1  # never within two Mixed_4f cells (stride 16) of the actor's box
    assert np.median(wide) > 2.5 * np.median(demo)
