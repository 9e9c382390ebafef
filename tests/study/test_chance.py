"""Chance levels of the relational classes: ranking AP by hand and against a naive enumeration."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from acrn.study.chance import ranking_ap, relational_chance

CLASSES = [{"id": 1, "name": "stand", "kind": "pose", "pair": None},
           {"id": 2, "name": "catch", "kind": "relational", "pair": "throw"},
           {"id": 3, "name": "throw", "kind": "relational", "pair": "catch"},
           {"id": 4, "name": "give", "kind": "relational", "pair": "receive"},
           {"id": 5, "name": "receive", "kind": "relational", "pair": "give"}]


def test_ranking_ap_by_hand() -> None:
    # positives at ranks 1 and 3: precision 1/1 and 2/3
    assert ranking_ap(np.array([0.9, 0.8, 0.7, 0.6]), np.array([1, 0, 1, 0], bool)) == pytest.approx(5 / 6)
    assert ranking_ap(np.array([0.1, 0.9]), np.array([True, False])) == pytest.approx(0.5)
    assert np.isnan(ranking_ap(np.array([0.5]), np.array([False])))


def _write(root: Path, frames: int) -> None:
    """Per key frame: a pass (catch 0, throw 1), a hand-over (give 2, receive 3), a solo stander (4)."""
    ann = root / "annotations"
    ann.mkdir(parents=True)
    rows = []
    for t in range(1, frames + 1):
        for person, action in enumerate((2, 3, 4, 5)):
            rows += [f"v,{t:04d},0.1,0.1,0.2,0.9,1,{person}", f"v,{t:04d},0.1,0.1,0.2,0.9,{action},{person}"]
        rows.append(f"v,{t:04d},0.5,0.1,0.6,0.9,1,4")
    rows.append(f"v,{frames + 1:04d},0.1,0.1,0.2,0.9,2,0")  # an excluded key frame: not counted
    (ann / "test.csv").write_text("\n".join(rows) + "\n")
    (ann / "test_excluded_timestamps.csv").write_text(f"v,{frames + 1:04d}\n")


def _expected_random_ap(n: int, pos: int) -> float:
    """Mean AP over every ordering of ``n`` tied items of which ``pos`` are positive (naive)."""
    aps = [ranking_ap(-np.arange(n, dtype=float), np.array([i in p for i in range(n)]))
           for p in itertools.combinations(range(n), pos)]
    return float(np.mean(aps))


def test_levels_equal_a_naive_enumeration(tmp_path: Path) -> None:
    _write(tmp_path, frames=2)  # 10 actors: 2 per relational class, 4 per pair type, 8 in an exchange
    out = relational_chance(tmp_path, CLASSES, draws=4000)
    # twin-blind: the 4 actors of the class's pair type are tied on top, 2 of them positive
    assert out["twin_blind"]["catch"] == pytest.approx(_expected_random_ap(4, 2), abs=0.01)
    # entity-blind: the 8 exchange actors are tied on top, 2 of them positive
    assert out["entity_blind"]["give"] == pytest.approx(_expected_random_ap(8, 2), abs=0.01)
    assert out["twin_blind"]["mean"] > out["entity_blind"]["mean"]
