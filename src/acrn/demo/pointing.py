"""The pointing game for relation heatmaps (paper section 4.4, measured instead of eyeballed).

For every ground-truth actor on a test key frame that carries a relational label ``c`` (catch, throw,
follow, lead, ...) the synthetic benchmark records the box of the *deciding entity* (the ball, the
other walker). A relational action counts as *correctly detected* when a detection overlaps the actor
with IoU >= 0.5 and scores ``c`` at least ``min_score``. Its class-``c`` relation heatmap, at the
relation map's own resolution (no interpolation), *hits* when the cell holding the peak intersects the
deciding entity's box. The chance level (a peak at a uniformly random cell) is reported alongside.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import torch

from acrn.errors import InputError
from acrn.models.postprocess import contrastive_heatmaps
from acrn.ops import box_iou
from acrn.structures import Detections


@dataclass(frozen=True)
class Relation:
    """One (actor, key frame, relational label) of the synthetic benchmark, boxes normalised."""

    video: str
    timestamp: int
    person: int
    action_id: int
    entity: tuple[float, float, float, float]


def read_relations(path: str | Path) -> dict[tuple[str, int], list[Relation]]:
    """``{split}_relations.csv`` -> relations per ``(video, timestamp)``."""
    out: dict[tuple[str, int], list[Relation]] = defaultdict(list)
    with open(path, newline="") as f:
        for line, row in enumerate(csv.reader(f), 1):
            if not row:
                continue
            if len(row) != 8:
                raise InputError(f"{path}, line {line}: expected 8 columns "
                                 f"(video,timestamp,person,action,x1,y1,x2,y2), got {len(row)}")
            try:
                rel = Relation(row[0], int(row[1]), int(row[2]), int(row[3]),
                               tuple(float(v) for v in row[4:8]))  # type: ignore[arg-type]
            except ValueError:
                raise InputError(f"{path}, line {line}: non-numeric field in {row}") from None
            out[(rel.video, rel.timestamp)].append(rel)
    return dict(out)


def cell_boxes(h: int, w: int, orig_size: tuple[int, int]) -> torch.Tensor:
    """The ``h * w`` cells of a relation map as boxes ``Tensor[h*w, 4]`` in original-frame pixels.

    At test time the network input is the whole frame resized (no crop, no flip, one clip per batch so
    no padding), so the map's cells tile the original frame evenly.
    """
    oh, ow = orig_size
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                            indexing="ij")
    return torch.stack([xs * ow / w, ys * oh / h, (xs + 1) * ow / w, (ys + 1) * oh / h], -1).reshape(-1, 4)


def _intersects(cells: torch.Tensor, box: torch.Tensor) -> torch.Tensor:
    return (cells[:, 0] < box[2]) & (cells[:, 2] > box[0]) & (cells[:, 1] < box[3]) & (cells[:, 3] > box[1])


@dataclass
class PointingResult:
    hits: int = 0
    trials: int = 0
    chance: float = 0.0  # mean fraction of cells that intersect the entity box
    missed_detections: int = 0  # relational GT actors with no correct detection

    @property
    def rate(self) -> float | None:
        return self.hits / self.trials if self.trials else None

    def as_dict(self) -> dict:
        return {"hit_rate": self.rate, "hits": self.hits, "trials": self.trials,
                "chance": self.chance / self.trials if self.trials else None,
                "not_detected": self.missed_detections}


def pointing_game(dets: list[Detections | None], gt: dict[tuple[str, int], list[tuple[int, list[float]]]],
                  relations: dict[tuple[str, int], list[Relation]], class_ids: list[int], min_score: float = 0.5,
                  iou_threshold: float = 0.5, contrastive: bool = True) -> PointingResult:
    """Score heatmaps of test-time ``dets`` (each with ``heatmaps`` ``Tensor[N, C, h, w]``) against the entities.

    ``gt[(video, ts)]`` lists ``(person_id, box normalised)`` (see :func:`gt_people`). ``contrastive``
    scores :func:`~acrn.models.postprocess.contrastive_heatmaps` (class CAM minus the mean over classes);
    ``False`` scores the plain CAM of section 4.4.
    """
    res = PointingResult()
    index = {cid: i for i, cid in enumerate(class_ids)}
    for d in dets:
        if d is None:
            continue
        key = (str(d.meta["video"]), int(d.meta["timestamp"]))
        rels = relations.get(key, [])
        if not rels:
            continue
        oh, ow = (float(v) for v in d.meta["orig_size"])
        scale = torch.tensor([ow, oh, ow, oh])
        people = {pid: torch.tensor(b, dtype=torch.float32) * scale for pid, b in gt.get(key, [])}
        for rel in rels:
            if rel.person not in people or rel.action_id not in index:
                continue
            c = index[rel.action_id]
            best = _correct_detection(d, people[rel.person], c, min_score, iou_threshold)
            if best is None or d.heatmaps is None:
                res.missed_detections += 1
                continue
            heat = contrastive_heatmaps(d.heatmaps[best])[c] if contrastive else d.heatmaps[best, c]
            h, w = heat.shape
            cells = cell_boxes(h, w, (int(oh), int(ow)))
            entity = torch.tensor(rel.entity, dtype=torch.float32) * scale
            inside = _intersects(cells, entity)
            res.trials += 1
            res.hits += int(inside[int(torch.argmax(heat))])
            res.chance += float(inside.float().mean())
    return res


def _correct_detection(d: Detections, actor: torch.Tensor, c: int, min_score: float, iou: float) -> int | None:
    """Index of the highest-scoring detection for class ``c`` on ``actor`` (IoU >= ``iou``), if any."""
    if not len(d):
        return None
    ious = box_iou(d.boxes.float(), actor[None])[:, 0]
    ok = (ious >= iou) & (d.scores[:, c] >= min_score)
    if not bool(ok.any()):
        return None
    scores = torch.where(ok, d.scores[:, c], torch.full_like(d.scores[:, c], -1.0))
    return int(torch.argmax(scores))


def _gt_rows(csv_path: str | Path):
    """``(video, timestamp, box normalised, action id, person id)`` per row of an AVA-format GT CSV."""
    with open(csv_path, newline="") as f:
        for line, row in enumerate(csv.reader(f), 1):
            if len(row) < 8:
                continue
            try:
                yield row[0], int(row[1]), [float(v) for v in row[2:6]], int(row[6]), int(row[7])
            except ValueError:
                raise InputError(f"{csv_path}, line {line}: non-numeric field in {row}") from None


def gt_people(csv_path: str | Path) -> dict[tuple[str, int], list[tuple[int, list[float]]]]:
    """``(person_id, normalised box)`` per key frame from an AVA-format ground-truth CSV."""
    out: dict[tuple[str, int], dict[int, list[float]]] = defaultdict(dict)
    for video, ts, box, _, person in _gt_rows(csv_path):
        out[(video, ts)][person] = box
    return {k: sorted(v.items()) for k, v in out.items()}


def gt_actions(csv_path: str | Path) -> dict[tuple[tuple[str, int], int], set[int]]:
    """Action ids per ``((video, timestamp), person_id)`` from an AVA-format ground-truth CSV."""
    out: dict[tuple[tuple[str, int], int], set[int]] = defaultdict(set)
    for video, ts, _, action, person in _gt_rows(csv_path):
        out[((video, ts), person)].add(action)
    return dict(out)


__all__ = ["PointingResult", "Relation", "cell_boxes", "gt_actions", "gt_people", "pointing_game", "read_relations"]
