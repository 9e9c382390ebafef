"""AVA matching pieces: keyframe keys, the official IoU, the 2018 per-group cap and the no-fall-back match."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def as_keys(*arrays: np.ndarray) -> list[np.ndarray]:
    """Integer keyframe keys; other dtypes (e.g. "video,0902" strings) are mapped to ints jointly."""
    arrays = [np.asarray(a) for a in arrays]
    if all(a.dtype.kind in "iu" for a in arrays):
        return [a.astype(np.int64, copy=False) for a in arrays]
    sizes = np.cumsum([0] + [a.size for a in arrays])
    _, inv = np.unique(np.concatenate([a.astype(str) for a in arrays]), return_inverse=True)
    return [inv[sizes[i]:sizes[i + 1]].astype(np.int64) for i in range(len(arrays))]


def run_heads(keys: np.ndarray) -> np.ndarray:
    """Indices where a run of equal keys starts."""
    return np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]])) if keys.size else np.zeros(0, np.int64)


def index_in(keys: np.ndarray, universe: np.ndarray, heads: np.ndarray | None = None) -> np.ndarray:
    """Position of each key in the sorted ``universe`` (-1 if absent); cheap when keys come in runs
    (``heads``: :func:`run_heads` of ``keys`` when already known)."""
    if keys.size == 0:
        return np.zeros(0, dtype=np.int64)
    heads = run_heads(keys) if heads is None else heads
    hk = keys[heads]
    pos = np.searchsorted(universe, hk).clip(0, max(universe.size - 1, 0))
    found = universe[pos] == hk if universe.size else np.zeros(hk.size, dtype=bool)
    pos = np.where(found, pos, -1).astype(np.int32 if universe.size < 1 << 31 else np.int64)
    return np.repeat(pos, np.diff(np.concatenate([heads, [keys.size]])))


def box_iou_official(det: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Row-wise IoU of paired boxes, x1,y1,x2,y2, float64, with the AVA evaluator's operation order."""
    d, g = np.asarray(det, np.float64).T, np.asarray(gt, np.float64).T
    return _iou_columns(d, _area(d), g, _area(g))


def _area(b: np.ndarray) -> np.ndarray:
    """Areas of boxes given as columns float64[4, N] (x1, y1, x2, y2), in the official operation order."""
    return (b[3] - b[1]) * (b[2] - b[0])


def _iou_columns(d: np.ndarray, area_d: np.ndarray, g: np.ndarray, area_g: np.ndarray) -> np.ndarray:
    """IoU of paired boxes given as columns float64[4, N] with their areas (:func:`box_iou_official`)."""
    h = np.maximum(0.0, np.minimum(d[3], g[3]) - np.maximum(d[1], g[1]))
    w = np.maximum(0.0, np.minimum(d[2], g[2]) - np.maximum(d[0], g[0]))
    inter = h * w
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / (area_d + area_g - inter)



def cap_per_group(groups: np.ndarray, scores: np.ndarray, cap: int, stride: int, counts: np.ndarray) -> np.ndarray:
    """Indices dropped when each group keeps only its ``cap`` best detections (score desc, input order).

    ``counts``: rows per group (``np.bincount(groups)``). Groups ``g`` with ``g % stride == stride - 1``
    hold dropped rows and are left alone.
    """
    over = np.flatnonzero(counts > cap)
    over = over[over % stride != stride - 1]
    drop = [np.zeros(0, np.int64)]
    for g in over:
        idx = np.flatnonzero(groups == g)
        drop.append(idx[np.argsort(-scores[idx], kind="stable")[cap:]])
    return np.concatenate(drop)



@dataclass
class GtGroups:
    """Ground truth grouped by (keyframe, class) once, for matching many detection segments.

    ``order`` int[M]: GT rows by group, input order inside a group (argmax takes the first on ties);
    ``counts`` int[G + 1] rows per group, the last group (``none``) empty: detections whose keyframe has no
    GT go there; ``starts`` int[G + 1]; ``cols`` float64[4, M] boxes as columns and their ``area`` [M].
    """

    order: np.ndarray
    counts: np.ndarray
    starts: np.ndarray
    cols: np.ndarray
    area: np.ndarray

    @property
    def none(self) -> int:
        return self.counts.size - 1

    @staticmethod
    def build(groups: np.ndarray, boxes: np.ndarray, ngroups: int) -> GtGroups:
        """``groups`` int[M] group id per GT row (< ngroups), ``boxes`` float64[M, 4] x1, y1, x2, y2."""
        counts = np.bincount(groups, minlength=ngroups + 1)
        cols = np.ascontiguousarray(np.asarray(boxes, np.float64).reshape(-1, 4).T)
        return GtGroups(np.argsort(groups, kind="stable"), counts, np.concatenate([[0], np.cumsum(counts)[:-1]]),
                        cols, _area(cols))


def match_segment(gt: GtGroups, dg: np.ndarray, boxes: np.ndarray, rows: np.ndarray, ds: np.ndarray,
                  iou_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """AVA rule (best GT of the group, no fall-back) for detections i with group ``dg[i]`` (``gt.none``: no GT),
    box ``boxes[rows[i]]`` and score ``ds[i]``. Returns (detection positions i, their GT rows) of the TPs.

    The best GT does not depend on which GTs are still free (no fall-back), so the TP of a GT is the first
    passing detection in processing order (highest score, then lowest index): one per GT.
    """
    empty = np.zeros(0, np.int64)
    cand = np.flatnonzero((gt.counts > 0)[dg])  # detections in groups with no GT are FPs
    if cand.size == 0:
        return empty, empty
    g = dg[cand]
    cg = gt.counts[g]
    # boxes as contiguous columns [4, C] (np.take of rows is ~3x faster than fancy indexing), areas once
    d = np.take(boxes, rows[cand], axis=0).T.copy()
    area_d = _area(d)
    best_gt = gt.order[gt.starts[g]]  # j = 0: every candidate's first GT
    best_iou = _iou_columns(d, area_d, np.take(gt.cols, best_gt, axis=1), gt.area[best_gt])
    for j in range(1, int(cg.max())):
        sel = np.flatnonzero(cg > j)
        gi = gt.order[gt.starts[g[sel]] + j]
        iou = _iou_columns(np.take(d, sel, axis=1), area_d[sel], np.take(gt.cols, gi, axis=1), gt.area[gi])
        # np.argmax semantics: the first maximum wins, and the first NaN beats everything
        prev = best_iou[sel]
        better = (iou > prev) | (np.isnan(iou) & ~np.isnan(prev))
        best_iou[sel[better]] = iou[better]
        best_gt[sel[better]] = gi[better]
    ok = np.flatnonzero(best_iou >= iou_threshold)
    if ok.size == 0:
        return empty, empty
    det, gti = cand[ok], best_gt[ok]
    order = np.lexsort((det, -ds[det], gti))
    first = order[np.concatenate([[True], gti[order][1:] != gti[order][:-1]])]
    return det[first].astype(np.int64), gti[first].astype(np.int64)
