"""The study's numbers from run results: paired differences, tables, goals; and the run plan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from acrn.study.jobs import StudyJob, load_result, plan, save_result
from acrn.study.summary import summarise

CLASSES = [{"id": 1, "name": "stand", "kind": "pose"}, {"id": 2, "name": "catch", "kind": "relational"},
           {"id": 3, "name": "throw", "kind": "relational"}]
CHANCE = {"twin_blind": {"mean": 0.5}, "entity_blind": {"mean": 0.25}}


def _result(head: str, seed: int, frames: int, stand: float, rel: float, crop: bool = False) -> dict:
    job = StudyJob(head, frames, seed, crop_only=crop)
    pc = {"1": stand, "2": rel, "3": rel}
    metrics = {"frame_mAP": (stand + 2 * rel) / 3, "per_class": pc, "video_mAP": {"0.5": rel},
               "train_seconds": 1.0, "eval_seconds": 1.0}
    if head == "acrn":
        metrics["pointing"] = {"hits": 3, "trials": 4, "hit_rate": 0.75, "chance": 0.1}
    return {"job": {"head": head, "frames": frames, "seed": seed}, "model": job.model, "metrics": metrics}


def test_paired_difference_tables_and_goals() -> None:
    base_rel, acrn_rel = [0.50, 0.60, 0.70], [0.60, 0.66, 0.83]  # differences 0.10, 0.06, 0.13
    results = []
    for s in range(3):
        results += [_result("none", s, 8, 0.9, base_rel[s]), _result("acrn", s, 8, 0.9, acrn_rel[s]),
                    _result("santoro", s, 8, 0.9, base_rel[s] + 0.01), _result("none", s, 8, 0.9, 0.3, crop=True),
                    _result("none", s, 1, 0.5, 0.4), _result("acrn", s, 1, 0.5, 0.45)]
    out = summarise(results, CLASSES, 8, CHANCE)
    rel = out["paired"]["relational"]
    assert rel["mean"] == pytest.approx((0.10 + 0.06 + 0.13) / 3)
    assert rel["seeds"] == [0, 1, 2] and rel["above_zero"]
    # frame-AP moves by 2/3 of the relational difference (2 of 3 classes), actor-only not at all
    assert out["paired"]["frame_mAP"]["mean"] == pytest.approx(rel["mean"] * 2 / 3)
    assert out["paired"]["actor_only"]["mean"] == pytest.approx(0.0)
    assert out["heads"]["Santoro RN"]["vs_base"]["frame_mAP"]["mean"] == pytest.approx(0.01 * 2 / 3)
    assert out["crop_only"]["mean"] == pytest.approx(0.3)
    assert out["table_1b"]["1"]["difference"]["mean"] == pytest.approx(0.05 * 2 / 3)
    assert out["pointing"] == {"hit_rate": 0.75, "hits": 9, "trials": 12, "chance": pytest.approx(0.1),
                               "per_seed": {0: 0.75, 1: 0.75, 2: 0.75}}
    # by hand: relational d = .10, .06, .13: sd .0351, t(2) = 4.303, lower end .0967 - .0872 > 0; overall 2/3 of
    # it (+6.4, sd 2.3 points); no Resize+Concat run, so no Table 1a order row
    assert [(g["goal"].split(" ")[0], g["met"]) for g in out["goals"]] == [
        ("ACRN", True), ("ACRN", True), ("seed-to-seed", True), ("pointing", True), ("crop-only", True)]
    assert out["goals"][2]["measured"] == pytest.approx(0.0351 * 2 / 3, abs=1e-4)
    worse = summarise([r for r in results if not (r["model"] == "ACRN" and r["job"]["seed"] == 2)]
                      + [_result("acrn", 2, 8, 0.9, 0.60)], CLASSES, 8, CHANCE)
    assert not worse["paired"]["relational"]["above_zero"] and not worse["goals"][0]["met"]
    json.dumps(out)  # everything JSON-able


def test_plan_is_seed_major_and_pairs_every_head() -> None:
    jobs = plan([0, 1], ["none", "acrn"], 8, [1, 4], crop_only=True)
    assert [j.tag for j in jobs[:5]] == ["none-T8-seed0", "acrn-T8-seed0", "none-T8-crop-seed0", "none-T1-seed0",
                                         "acrn-T1-seed0"]
    assert len(jobs) == 2 * (2 + 1 + 4) and {j.seed for j in jobs[7:]} == {1}
    assert [j.video_ap for j in jobs[:3]] == [True, True, False]
    side = plan([0, 1, 2], ["none", "resize_concat", "acrn"], 8, [1], crop_only=True, side_seeds=1)
    assert [j.tag for j in side] == ["none-T8-seed0", "acrn-T8-seed0", "resize_concat-T8-seed0", "none-T8-crop-seed0",
                                     "none-T1-seed0", "acrn-T1-seed0", "none-T8-seed1", "acrn-T8-seed1",
                                     "none-T8-seed2", "acrn-T8-seed2"]


def test_results_are_reused_only_with_their_fingerprint(tmp_path: Path) -> None:
    save_result(tmp_path, {"fingerprint": "abc", "metrics": {}})
    assert load_result(tmp_path, "abc") == {"fingerprint": "abc", "metrics": {}}
    assert load_result(tmp_path, "other") is None
    (tmp_path / "result.json").write_text("{trunc")
    assert load_result(tmp_path, "abc") is None
    assert not list(tmp_path.glob("*.tmp"))
