"""Person-detector recall and precision against hand-labelled boxes (with "ignore" regions).

The matching is the PASCAL VOC / COCO rule at one IoU threshold: detections in descending score order,
each takes the unmatched counted ground-truth box it overlaps most (IoU >= ``iou``); a detection left
over that overlaps an ignored box by that much is neither a true nor a false positive; every other
leftover is a false positive. Ignored boxes are never misses.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from acrn.ops import box_iou


@dataclass
class FrameMatch:
    """One frame: ``hit[i]`` of counted ground truth ``i``; ``tp``/``fp`` counts of the detections."""

    hit: list[bool]
    tp: int
    fp: int


def match_frame(dets: Tensor, scores: Tensor, gt: Tensor, ignore: Tensor, iou: float = 0.5) -> FrameMatch:
    """Match ``dets`` ``Tensor[N, 4]`` (``scores`` ``Tensor[N]``) to ``gt`` ``Tensor[G, 4]``; ``ignore``
    ``Tensor[G]`` bool marks ignored ground truth (boxes in one convention, xyxy pixels)."""
    counted = gt[~ignore]
    ignored = gt[ignore]
    hit = [False] * len(counted)
    tp = fp = 0
    ov = box_iou(dets, counted) if len(dets) and len(counted) else torch.zeros(len(dets), len(counted))
    ov_ign = box_iou(dets, ignored) if len(dets) and len(ignored) else torch.zeros(len(dets), len(ignored))
    for d in torch.argsort(scores, descending=True, stable=True).tolist():
        best, best_iou = -1, iou
        for g in range(len(counted)):
            if not hit[g] and float(ov[d, g]) >= best_iou:
                best, best_iou = g, float(ov[d, g])
        if best >= 0:
            hit[best] = True
            tp += 1
        elif not (len(ignored) and float(ov_ign[d].max()) >= iou):
            fp += 1
    return FrameMatch(hit, tp, fp)


def recall_precision(matches: list[FrameMatch]) -> dict:
    """``{"recall", "precision", "persons", "found", "detections", "false_positives"}`` over frames."""
    persons = sum(len(m.hit) for m in matches)
    found = sum(sum(m.hit) for m in matches)
    tp, fp = sum(m.tp for m in matches), sum(m.fp for m in matches)
    return {"recall": found / persons if persons else float("nan"),
            "precision": tp / (tp + fp) if tp + fp else float("nan"),
            "persons": persons, "found": found, "detections": tp + fp, "false_positives": fp}
