"""The ``relational`` preset (issue #17): the relation is needed by construction, and the generator's
controls prove it (swap flips the truth but not the actor's pixels; presence, label mix and distance
are as meta.json says; the crop-only input removes the deciding entity)."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from acrn.errors import InputError
from acrn.synth import PRESETS, crop_only, resolve_preset
from acrn.synth.controls import box_mask
from acrn.synth.render import render
from acrn.synth.stats import clip_frames, labelled_keyframes
from acrn.synth.world import simulate

FLIP = {"catch": "throw", "throw": "catch", "give": "receive", "receive": "give"}
STRIDE, INPUT_H = 16, 112  # Mixed_4f stride, the demo recipe's input height


@pytest.fixture(scope="module")
def sims24():
    p = resolve_preset("relational", 24)
    return [simulate(p, 5, i, f"v{i}") for i in range(p.videos)]


def _gap(a, b) -> float:
    # written out again here (not acrn.synth.stats.box_gap) so that the test checks the statistic
    dx = max(b[0] - a[2], a[0] - b[2], 0.0)
    dy = max(b[1] - a[3], a[1] - b[3], 0.0)
    return float(np.hypot(dx, dy))


@pytest.mark.parametrize("which", [0, 1])
def test_reversing_an_entity_flips_its_pair_and_keeps_every_actors_pixels(which):
    p = resolve_preset("relational", 2)
    checked = flipped = 0
    for i in range(2):
        sim, rev = simulate(p, 1, i, "v"), simulate(p, 1, i, "v", reverse=(which,))
        frames, frames_rev = render(sim, p.clutter, p.noise, 1), render(rev, p.clutter, p.noise, 1)
        assert not np.array_equal(frames, frames_rev)  # the entity did move differently
        target = ("obj", which)
        for k, _ in labelled_keyframes(sim):
            for a, b in zip(sim.actors, rev.actors, strict=True):
                want = FLIP[a.rel[k]] if a.rel_ref == target else a.rel[k]
                assert b.rel[k] == want, (i, k, a.pid)
                flipped += a.rel_ref == target
                idx = clip_frames(sim, k)
                assert np.array_equal(a.box[idx], b.box[idx])
                mask = box_mask(np.concatenate([a.box[idx], a.box[k][None]]), p.height, p.width)
                assert np.array_equal(frames[idx][:, mask], frames_rev[idx][:, mask]), (i, k, a.pid)
                checked += 1
    assert flipped >= 2 * 2 * 3 and checked >= 2 * 3 * 4  # 2 actors x 2 videos x >= 3 labelled key frames


def test_every_clip_has_both_entity_types_and_four_differing_labels(sims24):
    n_keyframes = 0
    for sim in sims24:
        kinds = sorted(o.kind for o in sim.objects)
        assert kinds == ["ball", "package"]  # the two deciding types, in every clip, once each
        frames = list(labelled_keyframes(sim))
        assert len(frames) >= 1  # odd seconds 1, 3, 5, 7 minus excluded key frames
        for k, actors in frames:
            assert sorted(a.rel[k] for a in actors) == ["catch", "give", "receive", "throw"]
        n_keyframes += len(frames)
    assert n_keyframes >= 24 * 3
    solos = [a.pose for s in sims24 for a in s.actors if a.rel_ref is None]
    assert len(solos) >= 24 and len(set(solos)) == 4  # the actor-only classes stay


def test_meta_reports_the_measured_statistics(tmp_path, capsys):
    from acrn.cli import synth_cmd

    parser = argparse.ArgumentParser(prog="acrn")
    synth_cmd.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["synth", "--out", str(tmp_path / "r"), "--preset", "relational", "--videos", "6",
                              "--seed", "4", "--workers", "0"])
    assert args.func(args) == 0
    printed = json.loads(capsys.readouterr().out.split("\n", 1)[1])["relational_stats"]
    meta = json.loads((tmp_path / "r" / "meta.json").read_text())
    st = meta["relational_stats"]
    assert printed == st
    p = resolve_preset("relational", 6)
    gaps, keyframes = [], 0
    for i in range(6):
        sim = simulate(p, 4, i, "v")
        for t in sim.timestamps:
            k = sim.keyframe_index(t)
            labelled = [a for a in sim.actors if a.rel[k] is not None and t not in sim.glitch]
            keyframes += bool(labelled)
            gaps += [_gap(a.box[k], sim.objects[a.rel_ref[1]].box[k]) for a in labelled]
    gaps = np.asarray(gaps) * INPUT_H / p.height
    assert st["labelled_actor_keyframes"] == len(gaps) == 4 * keyframes and keyframes >= 18
    assert st["keyframes_with_differing_relational_labels"] == keyframes and st["clip_level_rule_accuracy"] == 0.25
    assert st["entity_presence"] == {"ball": 1.0, "package": 1.0}
    assert st["gap_input_px"]["min"] == pytest.approx(gaps.min(), abs=0.01)
    assert st["gap_input_px"]["median"] == pytest.approx(np.median(gaps), abs=0.01)
    assert st["gap_cells"]["min"] == pytest.approx(gaps.min() / STRIDE, abs=0.01)
    assert st["gap_cells"]["median"] == pytest.approx(np.median(gaps) / STRIDE, abs=0.01)
    assert st["gap_cells"]["min"] >= 2.0 and st["entity_touches_actor_box_in_clip"] == 0
    assert st["entity_touches_other_actor_box_in_clip"] == 0


def test_distance_holds_over_more_videos(sims24):
    from acrn.synth import relational_stats

    st = relational_stats(sims24)
    assert st["videos_with_differing_relational_labels"] == 24
    assert 2.0 <= st["gap_cells"]["min"] < st["gap_cells"]["median"] < 3.2
    assert st["entity_touches_actor_box_in_clip"] == st["entity_touches_other_actor_box_in_clip"] == 0


def test_crop_only_removes_the_deciding_entity_and_keeps_the_actor():
    p = resolve_preset("relational", 1)
    sim = simulate(p, 2, 0, "v")
    frames = render(sim, p.clutter, p.noise, 2)
    k, actors = next(labelled_keyframes(sim))
    a = actors[0]
    idx = clip_frames(sim, k)
    clip = frames[idx]
    out = crop_only(clip, a.box[k])
    fill = np.round(clip.reshape(-1, 3).mean(0)).astype(np.uint8)
    keep = box_mask(a.box[k], p.height, p.width)
    assert out.shape == clip.shape and out.dtype == np.uint8
    assert np.array_equal(out[:, keep], clip[:, keep]) and 0.02 < keep.mean() < 0.1
    assert (out[:, ~keep] == fill).all()
    ent = sim.objects[a.rel_ref[1]].box[idx]
    inner = np.stack([box_mask(np.array([b[0] + 1, b[1] + 1, b[2] - 1, b[3] - 1]), p.height, p.width) for b in ent])
    before, after = clip[inner], out[inner]  # [pixels, 3] of the entity over the clip's frames
    assert len(before) > 50 * len(idx) and np.abs(before.astype(int) - fill).max() > 40
    assert (after == fill).all()
    with pytest.raises(ValueError, match="uint8"):
        crop_only(clip.astype(np.float32), a.box[k])


def test_classic_presets_keep_their_identity_and_relational_rejects_follow():
    for name in ("tiny", "demo", "wide", "full"):
        assert PRESETS[name].layout == "classic"
        assert "layout" not in PRESETS[name].params() and "pair_dist" not in PRESETS[name].params()
    assert PRESETS["relational"].params()["layout"] == "relational"
    with pytest.raises(InputError, match="follow"):
        resolve_preset("relational", classes=("stand", "catch", "throw", "give", "receive", "follow", "lead"))
    with pytest.raises(InputError, match="layout"):
        resolve_preset("tiny", layout="grid")
