"""Chance levels of the relational classes: what a model that cannot see the deciding entity can reach.

The crop-only control (issue #17) must be "near chance" on catch/throw/give/receive. Two levels,
measured on the test ground truth (every annotated actor of every non-excluded key frame, scored
as if it were detected exactly, so only the ranking matters):

- **twin-blind**: the model knows which actors belong to a pass and which to a hand-over (an upper
  bound for a model that sees both entities' actors but not the entity), but not who throws and who
  catches: the class and its twin get the same score;
- **entity-blind**: the model knows which actors take part in an exchange, nothing more (what the
  actor's own pixels say at a key frame: the same "ready" stance in every pair).

Tied scores are broken at random; each level is the mean AP over ``draws`` tie-breaks, AP being the
mean precision at each positive (the non-interpolated AP of the ranking).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from acrn.demo.pointing import gt_actions


def ranking_ap(scores: np.ndarray, positive: np.ndarray) -> float:
    """Non-interpolated AP of ``scores`` (higher first) for boolean ``positive``."""
    order = np.argsort(-scores, kind="stable")
    hits = positive[order].astype(np.float64)
    if not hits.sum():
        return float("nan")
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / hits.sum())


def excluded_keyframes(path: Path) -> set[tuple[str, int]]:
    if not path.is_file():
        return set()
    rows = [line.strip().split(",") for line in path.read_text().splitlines() if line.strip()]
    return {(r[0], int(r[1])) for r in rows}


def relational_chance(root: Path, classes: list[dict], split: str = "test", draws: int = 100,
                      seed: int = 0) -> dict[str, dict[str, float]]:
    """``{"twin_blind": {...}, "entity_blind": {...}}``: per relational class name and ``"mean"``."""
    ann = Path(root) / "annotations"
    excluded = excluded_keyframes(ann / f"{split}_excluded_timestamps.csv")
    actions = {k: v for k, v in gt_actions(ann / f"{split}.csv").items() if k[0] not in excluded}
    labels = list(actions.values())
    rel = {c["id"]: c for c in classes if c["kind"] == "relational"}
    by_name = {c["name"]: c["id"] for c in classes}
    twin = {cid: by_name[c["pair"]] for cid, c in rel.items()}
    in_exchange = np.array([bool(s & set(rel)) for s in labels])
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, float]] = {"twin_blind": {}, "entity_blind": {}}
    for cid, c in rel.items():
        positive = np.array([cid in s for s in labels])
        same_pair = np.array([bool(s & {cid, twin[cid]}) for s in labels])
        for level, known in (("twin_blind", same_pair), ("entity_blind", in_exchange)):
            aps = [ranking_ap(known + rng.uniform(0, 0.5, len(labels)), positive) for _ in range(draws)]
            out[level][c["name"]] = float(np.mean(aps))
    for level in out:
        out[level]["mean"] = float(np.mean([out[level][c["name"]] for c in rel.values()]))
    return out
