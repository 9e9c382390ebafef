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
from acrn.eval.ap import voc_ap_from_tp_ranks
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


def _run_heads(keys: np.ndarray) -> np.ndarray:
    """Indices where a run of equal keys starts."""
    return np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]])) if keys.size else np.zeros(0, np.int64)


def _index_in(keys: np.ndarray, universe: np.ndarray, heads: np.ndarray | None = None) -> np.ndarray:
    """Position of each key in the sorted ``universe`` (-1 if absent); cheap when keys come in runs
    (``heads``: :func:`_run_heads` of ``keys`` when already known)."""
    if keys.size == 0:
        return np.zeros(0, dtype=np.int64)
    heads = _run_heads(keys) if heads is None else heads
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
    gt_boxes, det_boxes = np.asarray(gt_boxes, dtype=np.float64), np.asarray(det_boxes, dtype=np.float64)
    gt_labels, det_labels = _int_labels(gt_labels), _int_labels(det_labels)
    det_scores = np.asarray(det_scores, dtype=np.float64)
    extra = [np.asarray(excluded_keys if excluded_keys is not None else [], dtype=np.asarray(gt_keys).dtype)]
    extra.append(np.asarray(gt_keyframes if gt_keyframes is not None else gt_keys))
    gk, dk, ex, allk = _as_keys(gt_keys, det_keys, *extra)
    _check("ground truth", gt_boxes, gt_labels, gk)
    _check("detections", det_boxes, det_labels, dk, det_scores)
    classes = np.unique(np.asarray(sorted(set(int(c) for c in class_ids)), dtype=np.int64))
    ncls = classes.size
    warnings: list[str] = []

    # 1. Label map filter (before anything else, as read_csv's class_whitelist). Detections stay full length
    # (no copies of 18M rows): a dropped row gets the extra class index ``ncls``, which has no ground truth.
    index_of = np.full(int(classes.max(initial=0)) + 2, ncls, np.int16 if ncls < 2**15 - 1 else np.int32)
    index_of[classes] = np.arange(ncls)  # label id -> class index; the last entry is no class
    gkeep, dci = _in_classes(gt_labels, classes), _lookup(index_of, det_labels)
    for what, out in (("ground-truth", gkeep.size - np.count_nonzero(gkeep)), ("detection", np.sum(dci == ncls))):
        if out:
            warnings.append(f"{int(out)} {what} rows with action ids outside the label map ignored")
    if protocol == "2020":
        if ex.size:
            warnings.append("protocol 2020 has no exclusions input: excluded keyframes are not applied")
        dci[_index_in(dk, np.unique(allk)) < 0] = ncls  # run-based: no sort of 18M keys
        ex = ex[:0]
    if ex.size:
        gkeep &= ~np.isin(gk, ex)
        dci[np.isin(dk, ex)] = ncls
    gk, gb, gl = _select(gkeep, gk, gt_boxes, gt_labels)

    # 2. Keyframe index space over ground truth and detections.
    dheads = _run_heads(dk)
    universe = np.unique(np.concatenate([np.unique(gk), dk[dheads]]))
    gkf, dkf = _index_in(gk, universe), _index_in(dk, universe, dheads)
    gci = index_of[gl].astype(np.int64)

    # 3. Per-keyframe cap (2019/2020) or the 2018 score floor, then degenerate boxes.
    _drop_detections(protocol, dkf, dci, ncls, det_scores, det_labels, det_boxes)
    rows = np.flatnonzero(dci < ncls) if protocol != "2018" else None  # few rows left after the cap
    dci_r, ds = (dci, det_scores) if rows is None else (dci[rows], det_scores[rows])
    dkf_r = dkf if rows is None else dkf[rows]
    dg = dkf_r.astype(np.int64 if universe.size * (ncls + 1) >= 1 << 31 else np.int32, copy=False)
    del dkf, dkf_r  # dg may be dkf itself (our own array): updated in place, no 72 MB temporaries
    dg *= ncls + 1
    dg += dci_r
    num_det = None
    if protocol == "2018":
        counts = np.bincount(dg, minlength=universe.size * (ncls + 1))  # detections per (keyframe, class)
        drop = _cap_per_group(dg, ds, NMS_MAX_BOXES, ncls + 1, counts)
        if drop.size:
            dg[drop] += ncls - dci_r[drop]
            dci_r[drop] = ncls
        num_det = np.minimum(counts, NMS_MAX_BOXES).reshape(-1, ncls + 1).sum(0)[:ncls]  # what the cap keeps

    gg = gkf.astype(np.int64) * (ncls + 1) + gci
    tp = _match(gg, gb, dg, det_boxes, rows, ds, universe.size * (ncls + 1), iou_threshold)
    num_gt = np.bincount(gci, minlength=ncls)
    num_det = np.bincount(dci_r, minlength=ncls + 1)[:ncls] if num_det is None else num_det
    num_tp = np.bincount(dci_r[tp], minlength=ncls + 1)[:ncls]
    ranks = tp_ranks_by_class(dci_r, ds, tp, ncls)
    aps = [voc_ap_from_tp_ranks(ranks[c], int(num_gt[c])) for c in range(ncls)]
    return _result(f"ava-{protocol}", iou_threshold, classes, aps, num_gt, num_tp, num_det, class_names, warnings)


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


def _cap_per_group(groups: np.ndarray, scores: np.ndarray, cap: int, stride: int, counts: np.ndarray) -> np.ndarray:
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


def _match(gg: np.ndarray, gb: np.ndarray, dg: np.ndarray, boxes: np.ndarray, rows: np.ndarray | None,
           ds: np.ndarray, ngroups: int, iou_threshold: float) -> np.ndarray:
    """TP flags of detections, AVA rule (best GT of the group, no fall-back), bool[D].

    Detection i's box is ``boxes[rows[i]]`` (``boxes[i]`` when ``rows`` is None).
    """
    tp = np.zeros(dg.size, dtype=bool)
    if gg.size == 0 or dg.size == 0:
        return tp
    gorder = np.argsort(gg, kind="stable")  # GT of a group in input order: argmax takes the first on ties
    counts = np.bincount(gg, minlength=ngroups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    cand = np.flatnonzero((counts > 0)[dg])  # detections in groups with no GT are FPs
    if cand.size == 0:
        return tp
    g = dg[cand]
    cg = counts[g]
    # boxes as contiguous columns [4, C] (np.take of rows is ~3x faster than fancy indexing), areas once
    d = np.take(boxes, cand if rows is None else rows[cand], axis=0).T.copy()
    gcols = np.ascontiguousarray(gb.T)
    area_d, area_g = _area(d), _area(gcols)
    best_gt = gorder[starts[g]]  # j = 0: every candidate's first GT
    best_iou = _iou_columns(d, area_d, np.take(gcols, best_gt, axis=1), area_g[best_gt])
    for j in range(1, int(cg.max())):
        sel = np.flatnonzero(cg > j)
        gi = gorder[starts[g[sel]] + j]
        iou = _iou_columns(np.take(d, sel, axis=1), area_d[sel], np.take(gcols, gi, axis=1), area_g[gi])
        # np.argmax semantics: the first maximum wins, and the first NaN beats everything
        prev = best_iou[sel]
        better = (iou > prev) | (np.isnan(iou) & ~np.isnan(prev))
        best_iou[sel[better]] = iou[better]
        best_gt[sel[better]] = gi[better]
    # The best GT does not depend on which GTs are still free (no fall-back), so the TP of a GT is the
    # first passing detection in processing order: highest score, then lowest index.
    ok = np.flatnonzero(best_iou >= iou_threshold)
    if ok.size:
        det, gt = cand[ok], best_gt[ok]
        order = np.lexsort((det, -ds[det], gt))
        first = np.concatenate([[True], gt[order][1:] != gt[order][:-1]])
        tp[det[order[first]]] = True
    return tp


def tp_ranks_by_class(cls: np.ndarray, scores: np.ndarray, tp: np.ndarray, ncls: int) -> list[np.ndarray]:
    """Per class ``c < ncls``, the increasing 1-based positions of its TPs in the order (score desc, index asc).

    Equal to :func:`acrn.eval.ap.tp_ranks` without sorting millions of scores. A bucket
    ``b(s) = floor((s - min) * (K - 1) / (max - min))`` is non-decreasing in s (each rounding step is
    monotone), so a class member in a higher bucket than a TP's scores higher than it, and one in a lower
    bucket scores lower: one histogram of (class, bucket) counts those. Only the members sharing a bucket
    with some TP are put in exact order (:func:`_exact_order`). Rows of class ``ncls`` (at most) are ignored.
    """
    out = [np.zeros(0, dtype=np.int64) for _ in range(ncls)]
    tpi = np.flatnonzero(tp)
    tpi = tpi[cls[tpi] < ncls]
    if tpi.size == 0:
        return out
    nb = 1 << _BUCKET_BITS
    lo, scale = _bucket_scale(scores, nb)
    comp = np.empty(cls.size, np.int32 if (ncls + 1) * nb < 1 << 31 else np.int64)  # (class, bucket) id
    for a in range(0, cls.size, _ROWS_PER_STEP):  # in steps: small temporaries, reused by malloc
        part = comp[a:a + _ROWS_PER_STEP]
        np.copyto(part, _buckets(scores[a:a + part.size], lo, scale), casting="unsafe")  # floor (y >= 0)
        part += cls[a:a + part.size].astype(comp.dtype) * comp.dtype.type(nb)
    hist = np.bincount(comp, minlength=(ncls + 1) * nb).reshape(ncls + 1, nb)
    higher = (np.cumsum(hist[:, ::-1], axis=1)[:, ::-1] - hist).ravel()  # members in higher buckets
    shared = np.zeros(hist.size, dtype=bool)
    shared[comp[tpi]] = True
    cand = np.flatnonzero(shared[comp])  # members sharing a bucket with a TP, increasing index
    cc = comp[cand]
    del comp
    rows, cc = _exact_order(cand, cc, scores, lo, scale)
    heads = np.flatnonzero(np.concatenate([[True], cc[1:] != cc[:-1]]))
    pos = np.arange(rows.size) - np.repeat(heads, np.diff(np.append(heads, rows.size)))  # rank inside bucket
    is_tp = tp[rows]
    ranks, tcls = higher[cc[is_tp]] + pos[is_tp] + 1, cc[is_tp] // nb
    ranks = ranks[np.lexsort((ranks, tcls))]  # by class, then rank (ranks of a class are distinct)
    bounds = np.searchsorted(np.sort(tcls), np.arange(ncls + 1))
    return [ranks[bounds[c]:bounds[c + 1]].astype(np.int64) for c in range(ncls)]


_ROWS_PER_STEP = 1 << 20
_BUCKET_BITS = 14  # K = 16384 buckets per class: a 61 x K histogram, ~20 members per bucket at AVA scale
_FINE_BITS_MAX = 40


def _bucket_scale(scores: np.ndarray, nb: int) -> tuple[float, float]:
    """(min, (K - 1) / (max - min)); scale 0 (one bucket: exact, only slower) when the range is not usable."""
    lo, hi = float(scores.min()), float(scores.max())
    with np.errstate(over="ignore", divide="ignore"):
        scale = (nb - 1) / (hi - lo) if hi > lo else 0.0
    return lo, (scale if np.isfinite(hi - lo) and np.isfinite(scale) else 0.0)


def _buckets(s: np.ndarray, lo: float, scale: float) -> np.ndarray:
    """float64 (s - lo) * scale in [0, K): its floor is the bucket; the same operations everywhere."""
    if scale == 0.0:
        return np.zeros(s.shape)
    y = np.subtract(s, lo)
    return np.multiply(y, scale, out=y)


def _exact_order(cand: np.ndarray, cc: np.ndarray, scores: np.ndarray, lo: float,
                 scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``cand`` (increasing) and their bucket ids ``cc`` sorted by (bucket id, score desc, row).

    One sort of packed int64 keys (bucket id, complement of a finer bucket ``floor(y * 2**f)`` from the
    same arithmetic, row); the few fine buckets holding several score values are then reordered exactly.
    A lexsort by (score, bucket id) when no fine bits fit or the range gave a single bucket.
    """
    cs = scores[cand]
    idx_bits, cc_bits = int(cand[-1]).bit_length(), int(cc.max()).bit_length()
    fine = min(_FINE_BITS_MAX, 63 - idx_bits - cc_bits)
    if fine >= 8 and scale != 0.0:
        y = _buckets(cs, lo, scale)
        sub = (y * 2.0 ** fine).astype(np.int64) - (y.astype(np.int64) << fine)  # in [0, 2**fine)
        key = (cc.astype(np.int64) << (fine + idx_bits)) | (((1 << fine) - 1 - sub) << idx_bits) | cand
        key.sort()  # distinct keys (the row is part of them): no stability needed
        rows = key & ((1 << idx_bits) - 1)
        k = key >> idx_bits
        _order_fine_runs(rows, k, scores[rows])
        return rows, k >> fine
    order = np.lexsort((-cs, cc))  # stable: equal (bucket, score) keep increasing rows
    return cand[order], cc[order]


def _order_fine_runs(rows: np.ndarray, k: np.ndarray, s: np.ndarray) -> None:
    """Reorder in place, by (score desc, row), the runs of equal fine key ``k`` that hold several scores."""
    same = k[1:] == k[:-1]
    bad = same & (s[1:] != s[:-1])
    if not bad.any():
        return
    run = np.cumsum(np.concatenate([[True], ~same]))  # run id per position
    mark = np.zeros(int(run[-1]) + 1, dtype=bool)
    mark[run[1:][bad]] = True
    pos = np.flatnonzero(mark[run])  # positions of the mixed runs (each run contiguous)
    rows[pos] = rows[pos[np.lexsort((rows[pos], -s[pos], run[pos]))]]


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
