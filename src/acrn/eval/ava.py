"""AVA frame-AP at IoU 0.5, equal to ActivityNet's ``get_ava_performance.py`` at its three revisions.

Protocols (what changes a number, see shared/specs/formats-and-metrics.md):

* ``"2018"`` (AVA v2.1, the paper era): excluded keyframes skipped; detections on keyframes without
  ground truth are false positives; per keyframe and class only scores > -10 and the 10,000 best boxes.
* ``"2019"``: as 2018 but only the 50 best rows per keyframe (across classes) and no per-class cap.
* ``"2020"`` (head): as 2019, no exclusions file; detections on keyframes absent from the ground truth
  file are ignored (a keyframe is "present" if any row names it, even one with an unlisted action).

Common to all: rows whose action is not in the label map are dropped first; detections with
x1 >= x2 or y1 >= y2 are dropped (not FPs); boxes are not clipped; IoU without +1; each detection, by
score, takes its highest-IoU ground truth of its keyframe and class (first on ties) and is a TP if that
IoU >= 0.5 and that GT is still free (no fall-back); VOC all-point AP; mAP = mean over label-map classes
with ground truth. Ties: score descending then input order (see :mod:`acrn.eval.ap`).

Detections may be given in segments (:class:`AvaAccumulator`): every rule above acts within one keyframe
except the final ranking, so a segment holding all rows of its keyframes is evaluated on its own and only
(class, score) of the kept rows and each ground truth's best claimant are carried over. Memory then grows
with the kept rows (all of them for 2018, 50 per keyframe for 2019/2020), not with the file.
"""

from __future__ import annotations

import numpy as np

from acrn.errors import InputError
from acrn.eval.ap import voc_ap_from_tp_ranks
from acrn.eval.ava_cap import cap_per_keyframe
from acrn.eval.ava_match import GtGroups, as_keys, box_iou_official, cap_per_group, index_in, match_segment, run_heads
from acrn.eval.ava_rank import tp_ranks_by_class

__all__ = ["AvaAccumulator", "PROTOCOLS", "box_iou_official", "evaluate_ava", "tp_ranks_by_class"]

PROTOCOLS = ("2018", "2019", "2020")
NMS_MIN_SCORE = -10.0  # 2018: np_box_list_ops.non_max_suppression drops scores <= -10
NMS_MAX_BOXES = 10_000  # 2018: at most this many boxes per keyframe and class
CAP_PER_KEYFRAME = 50  # 2019 and 2020
SEGMENT_ROWS = 1 << 19  # detections per segment when the keys come grouped by keyframe (in-memory API)


def _check(name: str, boxes: np.ndarray, labels: np.ndarray, keys: np.ndarray, scores=None) -> None:
    n = keys.shape[0]
    if boxes.shape != (n, 4) or labels.shape != (n,) or (scores is not None and scores.shape != (n,)):
        raise InputError(f"{name}: expected keys[N], boxes[N,4], labels[N]{', scores[N]' if scores is not None else ''}"
                         f", got {keys.shape}, {boxes.shape}, {labels.shape}")
    # one pass, no [N, 4] temporary: the sum of finite boxes is finite unless it overflows (then min/max decide)
    if boxes.size and not np.isfinite(boxes.sum()) and not (np.isfinite(boxes.min()) and np.isfinite(boxes.max())):
        raise InputError(f"{name}: boxes must be finite numbers")
    if scores is not None and scores.size and not np.isfinite(scores.max()):
        raise InputError(f"{name}: scores must be finite (found NaN or infinity)")



def evaluate_ava(gt_keys, gt_boxes, gt_labels, det_keys, det_boxes, det_labels, det_scores, class_ids, *,
                 protocol: str = "2018", excluded_keys=None, gt_keyframes=None, iou_threshold: float = 0.5,
                 class_names: dict | None = None) -> dict:
    """AVA frame-AP from arrays. Boxes are float64[N, 4] normalised x1, y1, x2, y2; labels are label-map ids.

    Args:
        gt_keys, det_keys: keyframe identifiers (ints, or strings such as ``"video,0902"``), [N].
        det_scores: float[N] finite scores.
        class_ids: label-map ids to evaluate (e.g. :data:`acrn.eval.labelmap.AVA_V21_60_CLASS_IDS`).
        excluded_keys: keyframes skipped entirely (2018/2019; ignored with a warning for 2020).
        gt_keyframes: 2020 only: every keyframe of the ground-truth file (also those without a listed
            action); default: the keys of ``gt_keys`` given here.
    Returns:
        JSON-able dict: protocol, iou, mAP, per_class {id: AP or None}, num_gt, num_tp, num_det, names,
        warnings (list of strings).
    """
    if protocol not in PROTOCOLS:
        raise InputError(f"unknown AVA protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
    extra = [np.asarray(excluded_keys if excluded_keys is not None else [], dtype=np.asarray(gt_keys).dtype)]
    extra.append(np.asarray(gt_keyframes if gt_keyframes is not None else gt_keys))
    gk, dk, ex, allk = as_keys(gt_keys, det_keys, *extra)
    acc = AvaAccumulator(gk, gt_boxes, gt_labels, class_ids, protocol=protocol, excluded_keys=ex, gt_keyframes=allk,
                         iou_threshold=iou_threshold, class_names=class_names, capacity=dk.size)
    boxes, labels = np.asarray(det_boxes, dtype=np.float64), _int_labels(det_labels)
    scores = np.asarray(det_scores, dtype=np.float64)
    _check("detections", boxes, labels, dk, scores)
    for a, b in _segments(dk):
        acc.add(dk[a:b], boxes[a:b], labels[a:b], scores[a:b])
    return acc.result()


def _segments(keys: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) row ranges of about SEGMENT_ROWS cut between keyframes; one range unless every keyframe
    is one run of rows (the per-keyframe rules need all rows of a keyframe in one segment)."""
    heads = run_heads(keys)
    if keys.size <= SEGMENT_ROWS or np.unique(keys[heads]).size != heads.size:
        return [(0, keys.size)]
    cuts = heads[np.unique(np.searchsorted(heads, np.arange(SEGMENT_ROWS, keys.size, SEGMENT_ROWS)))]
    bounds = np.unique(np.concatenate([[0], cuts, [keys.size]]))
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))


class AvaAccumulator:
    """AVA frame-AP over detections added in segments; every keyframe's rows must lie in one segment.

    Ground truth (int64 keys [M], float64 boxes [M, 4], label ids [M]) is prepared once; :meth:`add` applies
    the per-keyframe rules and the match to a segment and keeps only the class and score of its kept rows
    (``capacity``: expected kept rows, preallocated) and the best claimant of each GT; :meth:`result` ranks.
    """

    def __init__(self, gt_keys, gt_boxes, gt_labels, class_ids, *, protocol: str = "2018", excluded_keys=None,
                 gt_keyframes=None, iou_threshold: float = 0.5, class_names: dict | None = None, capacity: int = 0):
        if protocol not in PROTOCOLS:
            raise InputError(f"unknown AVA protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")
        gk = np.asarray(gt_keys, dtype=np.int64)
        gt_boxes, gt_labels = np.asarray(gt_boxes, dtype=np.float64), _int_labels(gt_labels)
        _check("ground truth", gt_boxes, gt_labels, gk)
        self.protocol, self.iou, self.names = protocol, float(iou_threshold), class_names
        self.classes = np.unique(np.asarray(sorted(set(int(c) for c in class_ids)), dtype=np.int64))
        ncls = self.ncls = self.classes.size
        # label id -> class index; the last entry (and any id outside the map) is "no class": ``ncls``
        self.index_of = np.full(int(self.classes.max(initial=0)) + 2, ncls, np.int16 if ncls < 2**15 - 1 else np.int32)
        self.index_of[self.classes] = np.arange(ncls)
        gkeep = _in_classes(gt_labels, self.classes)
        ex = np.unique(np.asarray(excluded_keys if excluded_keys is not None else [], dtype=np.int64))
        self.warnings: list[str] = []
        self.gt_outside, self.det_outside = int(gkeep.size - np.count_nonzero(gkeep)), 0
        self.allk = None
        if protocol == "2020":
            if ex.size:
                self.warnings.append("protocol 2020 has no exclusions input: excluded keyframes are not applied")
            self.allk, ex = np.unique(np.asarray(gt_keyframes if gt_keyframes is not None else gk, np.int64)), ex[:0]
        if ex.size:
            gkeep &= ~np.isin(gk, ex)
        self.ex = ex
        gk, gb, gl = _select(gkeep, gk, gt_boxes, gt_labels)
        self.universe = np.unique(gk)  # keyframes with ground truth
        gci = self.index_of[gl].astype(np.int64)
        self.gt = GtGroups.build(index_in(gk, self.universe).astype(np.int64) * (ncls + 1) + gci, gb,
                                 self.universe.size * (ncls + 1))
        self.num_gt = np.bincount(gci, minlength=ncls)
        self.claim_score = np.full(gb.shape[0], -np.inf)  # best claimant of each GT so far: score, kept row
        self.claim_row = np.full(gb.shape[0], -1, np.int64)
        self.cls = np.empty(max(capacity, 16), np.int8 if ncls < 127 else self.index_of.dtype)
        self.scores = np.empty(self.cls.size)
        self.n = 0

    def add(self, keys: np.ndarray, boxes: np.ndarray, labels: np.ndarray, scores: np.ndarray) -> None:
        """One segment: int64 keys [D] (all rows of their keyframes), float64 boxes [D, 4], label ids [D],
        float64 scores [D]."""
        ncls = self.ncls
        _check("detections", boxes, labels, keys, scores)
        dci = _lookup(self.index_of, labels)
        self.det_outside += int(np.count_nonzero(dci == ncls))
        heads = run_heads(keys)
        if self.allk is not None:
            dci[index_in(keys, self.allk, heads) < 0] = ncls  # 2020: keyframes absent from the GT file
        if self.ex.size:
            dci[np.isin(keys, self.ex)] = ncls
        seg_keys = np.unique(keys[heads])
        lkf = index_in(keys, seg_keys, heads)  # keyframe index inside the segment
        _drop_detections(self.protocol, lkf, dci, ncls, scores, labels, boxes)
        if self.protocol == "2018":
            lg = lkf.astype(np.int64 if seg_keys.size * (ncls + 1) >= 1 << 31 else np.int32) * (ncls + 1) + dci
            counts = np.bincount(lg, minlength=seg_keys.size * (ncls + 1))
            dci[cap_per_group(lg, scores, NMS_MAX_BOXES, ncls + 1, counts)] = ncls
            del lg, counts
        kept = np.flatnonzero(dci < ncls)
        kc, ks = dci[kept], scores[kept]
        gpos = index_in(seg_keys, self.universe).astype(np.int64)  # -1: keyframe without ground truth
        kg = gpos[lkf[kept]]
        dg = np.where(kg >= 0, kg * (ncls + 1) + kc, self.gt.none)
        del kg, lkf
        det, gti = match_segment(self.gt, dg, boxes, kept, ks, self.iou)
        better = ks[det] > self.claim_score[gti]  # on equal scores the earlier (lower) row keeps its claim
        self.claim_score[gti[better]] = ks[det[better]]
        self.claim_row[gti[better]] = det[better] + self.n
        self._append(kc, ks)

    def _append(self, cls: np.ndarray, scores: np.ndarray) -> None:
        end = self.n + cls.size
        if end > self.cls.size:  # beyond the expected rows: grow by half (a copy)
            size = max(end, self.cls.size * 3 // 2)
            self.cls = np.concatenate([self.cls[:self.n], np.empty(size - self.n, self.cls.dtype)])
            self.scores = np.concatenate([self.scores[:self.n], np.empty(size - self.n)])
        self.cls[self.n:end], self.scores[self.n:end] = cls, scores
        self.n = end

    def result(self) -> dict:
        """The JSON-able result of :func:`evaluate_ava`."""
        ncls, n = self.ncls, self.n
        cls, scores = self.cls[:n], self.scores[:n]
        tp = np.zeros(n, dtype=bool)
        tp[self.claim_row[self.claim_row >= 0]] = True
        num_det = np.bincount(cls, minlength=ncls)[:ncls]
        num_tp = np.bincount(cls[tp], minlength=ncls)[:ncls]
        ranks = tp_ranks_by_class(cls, scores, tp, ncls)
        aps = [voc_ap_from_tp_ranks(ranks[c], int(self.num_gt[c])) for c in range(ncls)]
        warnings = [f"{int(k)} {what} rows with action ids outside the label map ignored"
                    for what, k in (("ground-truth", self.gt_outside), ("detection", self.det_outside)) if k]
        return _result(f"ava-{self.protocol}", self.iou, self.classes, aps, self.num_gt, num_tp, num_det,
                       self.names, warnings + self.warnings)

def _drop_detections(protocol: str, dkf: np.ndarray, dci: np.ndarray, ncls: int, scores: np.ndarray,
                     labels: np.ndarray, boxes: np.ndarray) -> None:
    """Set ``dci`` (class index per detection, int[D]) to ``ncls`` for rows the protocol drops, in place.

    2019/2020: the per-keyframe cap with the official heap's semantics (on rows still kept). 2018: scores
    <= -10 (the NMS score floor). All: x1 >= x2 or y1 >= y2 (dropped, not false positives).
    """
    dkeep = dci < ncls if protocol != "2018" else None
    if dkeep is not None and dkeep.all():
        dci[~cap_per_keyframe(dkf, scores, labels, boxes, CAP_PER_KEYFRAME)] = ncls
    elif dkeep is not None:
        sel = np.flatnonzero(dkeep)
        capped = cap_per_keyframe(dkf[sel], scores[sel], labels[sel], boxes, CAP_PER_KEYFRAME, sel)
        dci[sel[~capped]] = ncls
    else:
        dci[scores <= NMS_MIN_SCORE] = ncls
    dci[(boxes[:, 0] >= boxes[:, 2]) | (boxes[:, 1] >= boxes[:, 3])] = ncls


def _int_labels(labels) -> np.ndarray:
    """Integer label ids as given (int32 rows from the CSV reader are not widened: 72 MB at AVA scale)."""
    labels = np.asarray(labels)
    return labels if labels.dtype.kind in "iu" else labels.astype(np.int64)


def _lookup(table: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """table[labels] with out-of-range labels (negative or huge ids) mapped to the table's last value."""
    if labels.size and (labels.min() < 0 or labels.max() >= table.size):
        return table[np.where((labels >= 0) & (labels < table.size), labels, table.size - 1)]
    return table[labels]


def _in_classes(labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """bool[N]: label in ``classes`` (a lookup table for the usual small non-negative ids)."""
    if labels.size and labels.min() >= 0 and labels.max() < 1 << 20:
        table = np.zeros(int(labels.max()) + 1, dtype=bool)
        table[classes[classes <= labels.max()]] = True
        return table[labels]
    return np.isin(labels, classes)


def _select(mask: np.ndarray, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """Rows where ``mask`` holds (no copy when it holds everywhere)."""
    if mask.all():
        return arrays
    idx = np.flatnonzero(mask)
    return tuple(a[idx] for a in arrays)



def _result(protocol, iou, classes, aps, num_gt, num_tp, num_det, names, warnings) -> dict:
    valid = [a for a in aps if not np.isnan(a)]
    return {
        "protocol": protocol,
        "iou": float(iou),
        "mAP": float(np.mean(valid)) if valid else None,
        "per_class": {str(int(c)): (None if np.isnan(a) else float(a)) for c, a in zip(classes, aps, strict=True)},
        "num_gt": {str(int(c)): int(n) for c, n in zip(classes, num_gt, strict=True)},
        "num_tp": {str(int(c)): int(n) for c, n in zip(classes, num_tp, strict=True)},
        "num_det": {str(int(c)): int(n) for c, n in zip(classes, num_det, strict=True)},
        "names": {str(int(c)): names.get(int(c), "") for c in classes} if names else {},
        "warnings": list(warnings),
    }
