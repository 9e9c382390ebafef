"""ACT-protocol frame-AP and video-AP (JHMDB-21, UCF101-24), equal to ACT's ``frameAP``/``videoAP``.

Rules (shared/specs/formats-and-metrics.md): boxes in pixels with +1 areas; detections (float32, as ACT's
arrays) processed by score descending, ties in input order; each takes the best *remaining* ground truth
of its key and removes it when IoU >= threshold (so a second detection can fall back to another GT);
trapezoid AP from (recall 0, precision 1) in float32; mAP = plain mean over all labels (a label without
ground truth counts as 0, where ACT would divide by zero if it has detections). Video-AP first applies
tube NMS at 0.3 per (video, label), with spatio-temporal IoU = temporal IoU (inclusive frame counts) x
mean per-frame IoU over the temporal intersection.
"""

from __future__ import annotations

import numpy as np

from acrn.errors import InputError
from acrn.eval.ap import act_ap, act_pr_curve, first_claim_tp, greedy_removal_tp, tp_ranks
from acrn.eval.tube_iou import Tubes, iou_plus1, pair_tube_iou, tube_nms

VIDEO_NMS = 0.3


def split_videos(gt: dict, split: int) -> list[str]:
    """ACT's ``test_videos[split - 1]``; without that key, every video of ``gttubes``."""
    if "test_videos" not in gt:
        return sorted(gt["gttubes"])
    tv = gt["test_videos"]
    if not 1 <= split <= len(tv):
        raise InputError(f"split {split} does not exist: the ground truth has {len(tv)} test split(s)")
    return [str(v) for v in tv[split - 1]]


def gt_frame_boxes(gt: dict, videos: list[str]) -> tuple[np.ndarray, ...]:
    """All GT boxes of the split: (video_index, frame, label, boxes float64[M,4]) in ACT's insertion order."""
    vid, frame, label, boxes = [], [], [], []
    for vi, v in enumerate(videos):
        for lab, tubes in sorted(gt["gttubes"].get(v, {}).items()):
            for t in tubes:
                vid.append(np.full(t.shape[0], vi))
                frame.append(t[:, 0].astype(np.int64))
                label.append(np.full(t.shape[0], lab))
                boxes.append(t[:, 1:5])
    if not vid:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4))
    return (np.concatenate(vid).astype(np.int64), np.concatenate(frame), np.concatenate(label).astype(np.int64),
            np.concatenate(boxes))


def _match_groups(det_group: np.ndarray, det_score: np.ndarray, pairs_det: np.ndarray, pairs_gt: np.ndarray,
                  pairs_iou: np.ndarray, gt_per_group: np.ndarray, threshold: float) -> np.ndarray:
    """TP flags with ACT's remove-on-match rule. Pairs list (det, gt, iou) within groups; bool[D].

    Only detections that appear in a pair can be TPs, so only they are ordered (score desc, index asc).
    """
    tp = np.zeros(det_group.size, dtype=bool)
    if pairs_det.size == 0:
        return tp
    involved = np.flatnonzero(np.bincount(pairs_det, minlength=det_group.size))  # = np.unique (without np.ma)
    by_rank = involved[np.lexsort((involved, -det_score[involved]))]  # rank -> detection index
    rank = np.empty(det_group.size, dtype=np.int64)
    rank[by_rank] = np.arange(by_rank.size)
    single = gt_per_group[det_group[pairs_det]] == 1
    # one GT in the group: the first passing detection takes it (fall-back cannot matter)
    s = np.flatnonzero(single)
    s = s[np.argsort(rank[pairs_det[s]], kind="stable")]
    tp[pairs_det[s]] = first_claim_tp(pairs_gt[s], pairs_iou[s] >= threshold)
    multi = np.flatnonzero(~single)
    if multi.size:
        o = multi[np.lexsort((pairs_gt[multi], rank[pairs_det[multi]], det_group[pairs_det[multi]]))]
        grp = det_group[pairs_det[o]]
        for seg in np.split(np.arange(o.size), np.flatnonzero(np.diff(grp)) + 1):
            p = o[seg]
            dets, inv = np.unique(rank[pairs_det[p]], return_inverse=True)
            gts, ginv = np.unique(pairs_gt[p], return_inverse=True)
            mat = np.full((dets.size, gts.size), -np.inf)
            mat[inv, ginv] = pairs_iou[p]
            hit = greedy_removal_tp(list(mat), threshold)
            tp[by_rank[dets[hit]]] = True
    return tp


def _curves(labels: np.ndarray, scores: np.ndarray, tp: np.ndarray, num_gt: np.ndarray, nlab: int,
            warnings: list[str], what: str) -> list[float]:
    ranks = tp_ranks(labels, scores, tp, nlab)
    ndet = np.bincount(labels, minlength=nlab)
    aps = []
    for c in range(nlab):
        if num_gt[c] == 0:
            if ndet[c]:
                warnings.append(f"{what}: label {c} has {int(ndet[c])} detections but no ground truth in this "
                                "split (ACT divides by zero here); counted as AP 0")
            aps.append(0.0)
            continue
        flags = np.zeros(int(ndet[c]), dtype=bool)
        flags[ranks[c] - 1] = True
        aps.append(act_ap(act_pr_curve(flags, int(num_gt[c]))))
    return aps


def act_frame_ap(gt: dict, videos: list[str], det_video: np.ndarray, det_frame: np.ndarray, det_label: np.ndarray,
                 det_score: np.ndarray, det_boxes: np.ndarray, iou_threshold: float = 0.5) -> dict:
    """ACT frame-AP. Detections: video index into ``videos`` int[N], 1-based frame int[N], label index int[N],
    score float[N], boxes float[N, 4] pixels x1,y1,x2,y2. Returns per-label AP (fraction, not %) and counts."""
    nlab = len(gt["labels"])
    warnings: list[str] = []
    dv, df, dl = (np.asarray(x, dtype=np.int64) for x in (det_video, det_frame, det_label))  # (no copy if int64)
    ds = np.asarray(det_score, dtype=np.float32).astype(np.float64)  # ACT holds detections in float32
    db = np.asarray(det_boxes, dtype=np.float32).reshape(-1, 4)  # (to float64 for the candidate pairs only)
    if dl.size and (dl.min() < 0 or dl.max() >= nlab):
        raise InputError(f"detection label {int(dl[(dl < 0) | (dl >= nlab)][0])} outside 0..{nlab - 1}")
    gv, gf, gl, gb = gt_frame_boxes(gt, videos)
    fmax = int(max(gf.max(initial=0), df.max(initial=0))) + 1
    if dv.size and (dv.min() < 0 or dv.max() >= len(videos)):
        raise InputError(f"detection video index outside 0..{len(videos) - 1}")
    fmin = int(min(gf.min(initial=0), df.min(initial=0)))
    gkey = (gv * (fmax - fmin) + gf - fmin) * nlab + gl
    dkey = (dv * (fmax - fmin) + df - fmin) * nlab + dl
    ukeys, ginv = np.unique(gkey, return_inverse=True)
    gorder = np.argsort(ginv, kind="stable")
    counts = np.bincount(ginv, minlength=ukeys.size)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    span = len(videos) * (fmax - fmin) * nlab
    if span <= 1 << 25:  # dense key -> group table: O(1) per detection
        lookup = np.full(span, -1, dtype=np.int64)
        lookup[ukeys] = np.arange(ukeys.size)
        group = lookup[dkey]
    else:
        pos = np.searchsorted(ukeys, dkey).clip(0, max(ukeys.size - 1, 0))
        group = np.where(ukeys[pos] == dkey, pos, -1) if ukeys.size else np.full(dkey.size, -1)
    has = group >= 0
    cand = np.flatnonzero(has)
    rep = counts[group[cand]]
    pd = np.repeat(cand, rep)
    pg = gorder[np.repeat(starts[group[cand]], rep) + _ramp(rep)]
    piou = iou_plus1(db[pd].astype(np.float64), gb[pg])
    tp = _match_groups(np.where(has, group, 0), ds, pd, pg, piou, counts, iou_threshold)
    num_gt = np.bincount(gl, minlength=nlab)
    aps = _curves(dl, ds, tp, num_gt, nlab, warnings, "frame-AP")
    return {"mAP": float(np.mean(aps)) if aps else None, "per_class": {str(c): aps[c] for c in range(nlab)},
            "num_gt": {str(c): int(num_gt[c]) for c in range(nlab)},
            "num_tp": {str(c): int(x) for c, x in enumerate(np.bincount(dl[tp], minlength=nlab))},
            "num_det": {str(c): int(x) for c, x in enumerate(np.bincount(dl, minlength=nlab))},
            "warnings": warnings}


def _ramp(rep: np.ndarray) -> np.ndarray:
    """[0..r0-1, 0..r1-1, ...] for repeat counts ``rep``."""
    total = int(rep.sum())
    ends = np.cumsum(rep)
    return np.arange(total) - np.repeat(ends - rep, rep)


def act_video_ap(gt: dict, videos: list[str], tubes: Tubes, thresholds=(0.2, 0.5, 0.75),
                 nms_threshold: float = VIDEO_NMS) -> dict:
    """ACT video-AP at each threshold (one tube NMS, IoUs computed once). ``tubes.video`` indexes ``videos``.

    A threshold given as the string "0.5:0.95" adds the mean over 0.5, 0.55, ..., 0.95.
    """
    nlab = len(gt["labels"])
    warnings: list[str] = []
    ths, ranged = _thresholds(thresholds)
    keep = tube_nms(tubes, nms_threshold)
    det = tubes.take(keep)
    gtubes = Tubes.from_gt(gt, videos)
    nd = det.size
    gkey = gtubes.video * nlab + gtubes.label
    dkey = det.video * nlab + det.label
    ukeys, ginv = np.unique(gkey, return_inverse=True)
    counts = np.bincount(ginv, minlength=ukeys.size)
    gorder = np.argsort(ginv, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.searchsorted(ukeys, dkey).clip(0, max(ukeys.size - 1, 0))
    has = ukeys[pos] == dkey if ukeys.size else np.zeros(nd, bool)
    cand = np.flatnonzero(has)
    rep = counts[pos[cand]]
    pd = np.repeat(cand, rep)
    pg = gorder[np.repeat(starts[pos[cand]], rep) + _ramp(rep)]
    piou = pair_tube_iou(gtubes, pg, det, pd)  # ACT: iou3dt(gt, det)
    scores = det.score.astype(np.float64)
    num_gt = np.bincount(gtubes.label, minlength=nlab)
    out_map, out_cls = {}, {}
    for th in ths:
        tp = _match_groups(np.where(has, pos, 0), scores, pd, pg, piou, counts, th)
        aps = _curves(det.label, scores, tp, num_gt, nlab, warnings if th == ths[0] else [], "video-AP")
        out_map[_fmt(th)] = float(np.mean(aps)) if aps else None
        out_cls[_fmt(th)] = {str(c): aps[c] for c in range(nlab)}
    if ranged:
        out_map["0.5:0.95"] = float(np.mean([out_map[_fmt(t)] for t in np.arange(10) * 0.05 + 0.5]))
    return {"video_mAP": out_map, "video_per_class": out_cls, "video_num_gt": {str(c): int(num_gt[c])
            for c in range(nlab)}, "num_tubes_after_nms": int(nd), "warnings": warnings}


def _fmt(th: float) -> str:
    return f"{th:g}"


def _thresholds(thresholds) -> tuple[list[float], bool]:
    ths, ranged = [], False
    for t in thresholds:
        if isinstance(t, str) and t.strip() == "0.5:0.95":
            ranged = True
            ths += [round(0.5 + 0.05 * i, 2) for i in range(10)]
        else:
            try:
                v = float(t)
            except (TypeError, ValueError):
                raise InputError(f"video IoU threshold must be a number or 0.5:0.95, got {t!r}") from None
            if not 0.0 <= v <= 1.0:
                raise InputError(f"video IoU threshold must be in [0, 1], got {v}")
            ths.append(v)
    return sorted(set(ths), key=ths.index), ranged
