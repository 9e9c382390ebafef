"""Stage 3 of ``acrn detect``: :class:`~acrn.detect.persons.PersonFrames` -> :class:`Tracks`.

Person boxes are linked across the looked-at frames into tracks, so that the actors of a key frame
carry stable ids and each actor's box comes from its track. Linking is greedy by IoU (the pair of live
track and detection with the highest IoU first, one detection per track); a track's IoU with a
detection is the better of its last box's and of that box moved at the track's mean velocity over its
last 5 detections (a constant-velocity guess keeps fast walkers matched; taking the better of the two
keeps jittery boxes of people who stand still matched too).
A track survives ``max_gap`` looked-at frames without a detection; between two of its detections
its box is linearly interpolated, so a person missed on a key frame still has a box there. Tracks
with fewer than ``min_hits`` detections (flickering false positives) are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from acrn.detect.persons import PersonFrames
from acrn.ops import box_iou


@dataclass
class Track:
    """One person over time: ``frames`` sorted 0-based indices, ``boxes`` ``Tensor[L, 4]`` xyxy original
    pixels and ``scores`` ``Tensor[L]`` on those frames (detections only, no interpolated boxes)."""

    id: int
    frames: list[int]
    boxes: Tensor
    scores: Tensor

    @property
    def first(self) -> int:
        return self.frames[0]

    @property
    def last(self) -> int:
        return self.frames[-1]

    def box_at(self, index: int) -> tuple[Tensor, float] | None:
        """``(Tensor[4], score)`` at frame ``index``: the detection there, linear interpolation between the
        two detections around it, or ``None`` outside ``[first, last]``."""
        if not self.first <= index <= self.last:
            return None
        j = _bisect(self.frames, index)
        if self.frames[j] == index:
            return self.boxes[j], float(self.scores[j])
        a, b = self.frames[j - 1], self.frames[j]
        w = (index - a) / (b - a)
        box = self.boxes[j - 1] * (1 - w) + self.boxes[j] * w
        return box, float(min(self.scores[j - 1], self.scores[j]))


def _bisect(xs: list[int], x: int) -> int:
    lo, hi = 0, len(xs)
    while lo < hi:
        mid = (lo + hi) // 2
        if xs[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@dataclass
class Tracks:
    """The tracks of one video, ids ``0, 1, ...`` in order of first appearance."""

    tracks: list[Track]

    def __len__(self) -> int:
        return len(self.tracks)

    def at(self, index: int) -> tuple[list[int], Tensor, Tensor]:
        """Tracks present at frame ``index``: ``(ids, Tensor[K, 4] boxes, Tensor[K] scores)``, by id."""
        ids, boxes, scores = [], [], []
        for t in self.tracks:
            got = t.box_at(index)
            if got is not None:
                ids.append(t.id)
                boxes.append(got[0])
                scores.append(got[1])
        if not ids:
            return [], torch.zeros(0, 4), torch.zeros(0)
        return ids, torch.stack(boxes), torch.tensor(scores, dtype=torch.float32)


def link_tracks(persons: PersonFrames, iou_threshold: float = 0.3, max_gap: int = 20,
                min_hits: int = 3) -> Tracks:
    """Link ``persons`` into :class:`Tracks` (see the module docstring).

    Args:
        iou_threshold: least IoU between a track's predicted box and a detection to continue it.
        max_gap: looked-at frames a track may go undetected before it ends.
        min_hits: fewest detections a kept track has (clamped to the number of looked-at frames, so a
            proposals file with one box per key frame still gives tracks).
    """
    live: list[dict] = []  # {"frames", "boxes", "scores", "miss"}
    done: list[dict] = []
    for idx, boxes, scores in zip(persons.indices, persons.boxes, persons.scores):
        iou = torch.zeros(len(live), len(boxes))
        if live and len(boxes):  # the better of: where the person was, where their motion takes them
            last = torch.stack([t["boxes"][-1] for t in live])
            moved = torch.stack([_predict(t, idx) for t in live])
            iou = torch.maximum(box_iou(last, boxes), box_iou(moved, boxes))
        matched_t, matched_d = set(), set()
        if iou.numel():
            order = torch.argsort(iou.flatten(), descending=True, stable=True).tolist()
            for flat in order:
                ti, di = divmod(flat, iou.shape[1])
                if float(iou[ti, di]) < iou_threshold:
                    break
                if ti in matched_t or di in matched_d:
                    continue
                matched_t.add(ti)
                matched_d.add(di)
                _extend(live[ti], idx, boxes[di], scores[di])
        for ti, t in enumerate(live):
            if ti not in matched_t:
                t["miss"] += 1
        done += [t for t in live if t["miss"] > max_gap]
        live = [t for t in live if t["miss"] <= max_gap]
        for di in range(len(boxes)):
            if di not in matched_d:
                live.append({"frames": [], "boxes": [], "scores": [], "miss": 0})
                _extend(live[-1], idx, boxes[di], scores[di])
    need = max(1, min(min_hits, len(persons.indices)))
    kept = sorted((t for t in done + live if len(t["frames"]) >= need), key=lambda t: (t["frames"][0], t["frames"]))
    return Tracks([Track(i, t["frames"], torch.stack(t["boxes"]), torch.stack(t["scores"]))
                   for i, t in enumerate(kept)])


def _extend(t: dict, idx: int, box: Tensor, score: Tensor) -> None:
    t["frames"].append(idx)
    t["boxes"].append(box.float())
    t["scores"].append(score.float())
    t["miss"] = 0


def _predict(t: dict, idx: int, window: int = 5) -> Tensor:
    """The track's box at frame ``idx`` moved at its mean velocity over the last ``window`` detections
    (one step's velocity follows detector jitter: measured on demo.mp4 it split tracks more than it joined)."""
    if len(t["frames"]) < 2:
        return t["boxes"][-1]
    j = max(0, len(t["frames"]) - 1 - window)
    (fa, fb), (ba, bb) = (t["frames"][j], t["frames"][-1]), (t["boxes"][j], t["boxes"][-1])
    return bb + (bb - ba) / (fb - fa) * (idx - fb)
