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
"""

from __future__ import annotations

import numpy as np

from acrn.errors import InputError
from acrn.eval.ap import first_claim_tp, tp_ranks, voc_ap_from_tp_ranks
from acrn.eval.ava_cap import cap_per_keyframe

PROTOCOLS = ("2018", "2019", "2020")
NMS_MIN_SCORE = -10.0  # 2018: np_box_list_ops.non_max_suppression drops scores <= -10
NMS_MAX_BOXES = 10_000  # 2018: at most this many boxes per keyframe and class
CAP_PER_KEYFRAME = 50  # 2019 and 2020


def _as_keys(*arrays: np.ndarray) -> list[np.ndarray]:
    """Integer keyframe keys; other dtypes (e.g. "video,0902" strings) are mapped to ints jointly."""
    arrays = [np.asarray(a) for a in arrays]
    if all(a.dtype.kind in "iu" for a in arrays):
        return [a.astype(np.int64, copy=False) for a in arrays]
    sizes = np.cumsum([0] + [a.size for a in arrays])
    _, inv = np.unique(np.concatenate([a.astype(str) for a in arrays]), return_inverse=True)
    return [inv[sizes[i]:sizes[i + 1]].astype(np.int64) for i in range(len(arrays))]


def _index_in(keys: np.ndarray, universe: np.ndarray) -> np.ndarray:
    """Position of each key in the sorted ``universe`` (-1 if absent); cheap when keys come in runs."""
    if keys.size == 0:
        return np.zeros(0, dtype=np.int64)
    heads = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    hk = keys[heads]
    pos = np.searchsorted(universe, hk).clip(0, max(universe.size - 1, 0))
    found = universe[pos] == hk if universe.size else np.zeros(hk.size, dtype=bool)
    pos = np.where(found, pos, -1)
    return np.repeat(pos, np.diff(np.concatenate([heads, [keys.size]])))


def box_iou_official(det: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Row-wise IoU of paired boxes, x1,y1,x2,y2, float64, with the AVA evaluator's operation order."""
    area_d = (det[:, 3] - det[:, 1]) * (det[:, 2] - det[:, 0])
    area_g = (gt[:, 3] - gt[:, 1]) * (gt[:, 2] - gt[:, 0])
    h = np.maximum(0.0, np.minimum(det[:, 3], gt[:, 3]) - np.maximum(det[:, 1], gt[:, 1]))
    w = np.maximum(0.0, np.minimum(det[:, 2], gt[:, 2]) - np.maximum(det[:, 0], gt[:, 0]))
    inter = h * w
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / (area_d + area_g - inter)


def _check(name: str, boxes: np.ndarray, labels: np.ndarray, keys: np.ndarray, scores=None) -> None:
    n = keys.shape[0]
    if boxes.shape != (n, 4) or labels.shape != (n,) or (scores is not None and scores.shape != (n,)):
        raise InputError(f"{name}: expected keys[N], boxes[N,4], labels[N]{', scores[N]' if scores is not None else ''}"
                         f", got {keys.shape}, {boxes.shape}, {labels.shape}")
    if not np.isfinite(boxes).all():
        raise InputError(f"{name}: boxes must be finite numbers")
    if scores is not None and not np.isfinite(scores).all():
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
    gt_boxes, det_boxes = np.asarray(gt_boxes, dtype=np.float64), np.asarray(det_boxes, dtype=np.float64)
    gt_labels = np.asarray(gt_labels).astype(np.int64, copy=False)
    det_labels = np.asarray(det_labels).astype(np.int64, copy=False)
    det_scores = np.asarray(det_scores, dtype=np.float64)
    extra = [np.asarray(excluded_keys if excluded_keys is not None else [], dtype=np.asarray(gt_keys).dtype)]
    extra.append(np.asarray(gt_keyframes if gt_keyframes is not None else gt_keys))
    gk, dk, ex, allk = _as_keys(gt_keys, det_keys, *extra)
    _check("ground truth", gt_boxes, gt_labels, gk)
    _check("detections", det_boxes, det_labels, dk, det_scores)
    classes = np.unique(np.asarray(sorted(set(int(c) for c in class_ids)), dtype=np.int64))
    warnings: list[str] = []

    # 1. Label map filter (before anything else, as read_csv's class_whitelist).
    gkeep, dkeep = _in_classes(gt_labels, classes), _in_classes(det_labels, classes)
    for what, keep in (("ground-truth", gkeep), ("detection", dkeep)):
        if not keep.all():
            warnings.append(f"{int((~keep).sum())} {what} rows with action ids outside the label map ignored")
    if protocol == "2020":
        if ex.size:
            warnings.append("protocol 2020 has no exclusions input: excluded keyframes are not applied")
        dkeep &= np.isin(dk, np.unique(allk))
        ex = ex[:0]
    if ex.size:
        gkeep &= ~np.isin(gk, ex)
        dkeep &= ~np.isin(dk, ex)
    gk, gb, gl = _select(gkeep, gk, gt_boxes, gt_labels)
    # Detections are carried as row indices into the caller's arrays; boxes are gathered only where a
    # ground truth of the same keyframe and class exists.
    rows = np.arange(dk.size) if dkeep.all() else np.flatnonzero(dkeep)
    dk, dl, ds = _select(dkeep, dk, det_labels, det_scores)

    # 2. Keyframe index space over ground truth and detections.
    universe = np.unique(np.concatenate([np.unique(gk), dk[np.r_[True, dk[1:] != dk[:-1]]] if dk.size else dk]))
    gkf, dkf = _index_in(gk, universe), _index_in(dk, universe)

    # 3. Per-keyframe cap (2019/2020, exact heap semantics), then degenerate boxes dropped (all revisions).
    if protocol != "2018":
        keep = cap_per_keyframe(dkf, ds, dl, det_boxes, CAP_PER_KEYFRAME, rows)
    else:
        keep = ds > NMS_MIN_SCORE
    valid = (det_boxes[:, 0] < det_boxes[:, 2]) & (det_boxes[:, 1] < det_boxes[:, 3])
    keep &= valid[rows]
    rows, dkf, dl, ds = _select(keep, rows, dkf, dl, ds)
    index_of = np.zeros(int(classes.max(initial=0)) + 1, dtype=np.int64)  # label id -> class index
    index_of[classes] = np.arange(classes.size)
    gci, dci = index_of[gl], index_of[dl]
    ncls = classes.size
    dg = dkf * ncls + dci  # (keyframe, class) group of each detection
    if protocol == "2018":
        sel = _cap_per_group(dg, ds, NMS_MAX_BOXES)
        if sel.size < dg.size:
            rows, dg, dci, ds = rows[sel], dg[sel], dci[sel], ds[sel]

    tp = _match(gkf * ncls + gci, gb, dg, det_boxes, rows, ds, universe.size * ncls, iou_threshold)
    num_gt = np.bincount(gci, minlength=ncls)
    num_det = np.bincount(dci, minlength=ncls)
    num_tp = np.bincount(dci[tp], minlength=ncls)
    ranks = tp_ranks(dci, ds, tp, ncls)
    aps = [voc_ap_from_tp_ranks(ranks[c], int(num_gt[c])) for c in range(ncls)]
    return _result(f"ava-{protocol}", iou_threshold, classes, aps, num_gt, num_tp, num_det, class_names, warnings)


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


def _cap_per_group(groups: np.ndarray, scores: np.ndarray, cap: int) -> np.ndarray:
    """Indices kept when each group keeps only its ``cap`` best detections (score desc, input order)."""
    counts = np.bincount(groups) if groups.size else np.zeros(0, np.int64)
    if counts.size == 0 or counts.max() <= cap:
        return np.arange(groups.size)
    keep = np.ones(groups.size, dtype=bool)
    for g in np.flatnonzero(counts > cap):
        idx = np.flatnonzero(groups == g)
        keep[idx[np.argsort(-scores[idx], kind="stable")[cap:]]] = False
    return np.flatnonzero(keep)


def _match(gg: np.ndarray, gb: np.ndarray, dg: np.ndarray, boxes: np.ndarray, rows: np.ndarray, ds: np.ndarray,
           ngroups: int, iou_threshold: float) -> np.ndarray:
    """TP flags of detections, AVA rule (best GT of the group, no fall-back), bool[D]."""
    tp = np.zeros(dg.size, dtype=bool)
    if gg.size == 0 or dg.size == 0:
        return tp
    gorder = np.argsort(gg, kind="stable")  # GT of a group in input order: argmax takes the first on ties
    counts = np.bincount(gg, minlength=ngroups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    cand = np.flatnonzero(counts[dg] > 0)  # detections in groups with no GT are FPs
    if cand.size == 0:
        return tp
    o = np.argsort(-ds[cand], kind="stable")
    cand = cand[o[np.argsort(dg[cand[o]], kind="stable")]]  # by group, then score desc, then input order
    g = dg[cand]
    cboxes = boxes[rows[cand]]
    best_iou = np.full(cand.size, -np.inf)
    best_gt = np.zeros(cand.size, dtype=np.int64)
    for j in range(int(counts[g].max())):
        has = counts[g] > j
        sel = np.flatnonzero(has)
        gi = gorder[starts[g[sel]] + j]
        iou = box_iou_official(cboxes[sel], gb[gi])
        # np.argmax semantics: the first maximum wins, and the first NaN beats everything
        prev = best_iou[sel]
        better = (iou > prev) | (np.isnan(iou) & ~np.isnan(prev)) if j else np.ones(sel.size, dtype=bool)
        best_iou[sel[better]] = iou[better]
        best_gt[sel[better]] = gi[better]
    ok = best_iou >= iou_threshold
    tp[cand] = first_claim_tp(best_gt, ok)
    return tp


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
