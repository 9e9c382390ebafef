"""Average-precision arithmetic shared by the AVA and ACT protocols, and the two matching rules.

Ordering rule used everywhere in acrn.eval (documented tie-break): detections are processed by score,
descending; equal scores keep their input order (``np.argsort(-score, kind="stable")``). The official
evaluators use numpy's unstable sort, so their order of equal scores is unspecified.
"""

from __future__ import annotations

import numpy as np


def stable_desc_order(scores: np.ndarray) -> np.ndarray:
    """Indices sorting ``scores`` descending, ties in input order."""
    return np.argsort(-np.asarray(scores), kind="stable")


def voc_ap_from_tp_ranks(tp_ranks: np.ndarray, num_gt: int) -> float:
    """VOC all-point interpolated AP, bit-equal to the AVA evaluator's ``compute_average_precision``.

    Args:
        tp_ranks: int[T] 1-based positions (in the score-ordered detection list of one class) of the true
            positives, increasing. False positives only matter through these positions: precision at TP k is
            ``k / rank_k`` and recall changes only at TPs, so the official arrays compressed to TP positions
            give the same terms in the same order.
        num_gt: number of ground-truth boxes of the class; 0 gives NaN (class left out of the mean).
    """
    if num_gt == 0:
        return float("nan")
    ranks = np.asarray(tp_ranks, dtype=np.int64)
    if ranks.size == 0:
        return 0.0
    k = np.arange(1, ranks.size + 1, dtype=np.int64)
    precision = np.concatenate([[0.0], k.astype(float) / ranks, [0.0]])
    recall = np.concatenate([[0.0], k.astype(float) / num_gt, [1.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # monotone envelope, as the official loop
    idx = np.where(recall[1:] != recall[:-1])[0] + 1
    return float(np.sum((recall[idx] - recall[idx - 1]) * precision[idx]))


def act_pr_curve(tp_sorted: np.ndarray, num_gt: int) -> np.ndarray:
    """ACT's float32 precision/recall table ``pr`` (row 0 = precision 1, recall 0).

    Args:
        tp_sorted: bool[N] true-positive flags in processing order.
        num_gt: ground-truth count of the label (ACT's ``tp + fn``); must be > 0 when N > 0.
    Returns:
        float32[N+1, 2] columns (precision, recall).
    """
    tp = np.cumsum(np.asarray(tp_sorted, dtype=np.int64))
    n = np.arange(1, tp.size + 1, dtype=np.int64)
    pr = np.empty((tp.size + 1, 2), dtype=np.float32)
    pr[0] = (1.0, 0.0)
    if tp.size:
        pr[1:, 0] = tp / n  # float64 division then float32 storage, as ACT
        pr[1:, 1] = tp / num_gt
    return pr


def act_ap(pr: np.ndarray) -> float:
    """ACT ``pr_to_ap``: trapezoid area under the raw PR curve, in float32."""
    prdif = pr[1:, 1] - pr[:-1, 1]
    prsum = pr[1:, 0] + pr[:-1, 0]
    return float(np.sum(prdif * prsum * np.float32(0.5)))


def first_claim_tp(order_gt: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """AVA matching without fall-back, vectorised.

    Each detection (already in processing order) has taken its best ground truth ``order_gt[i]`` (global
    GT index); it is a TP when that IoU passed (``ok[i]``) and no earlier detection claimed the same GT.
    Since only TPs claim, "first passing detection per GT" is exactly the sequential rule.
    Returns bool[N].
    """
    tp = np.zeros(ok.shape[0], dtype=bool)
    cand = np.flatnonzero(ok)
    if cand.size:
        _, first = np.unique(order_gt[cand], return_index=True)
        tp[cand[first]] = True
    return tp


def greedy_removal_tp(ious: list[np.ndarray], threshold: float) -> np.ndarray:
    """ACT matching of one group with several ground truths: best *remaining* GT, removed when matched.

    Args:
        ious: per detection (in processing order) float[M] IoUs with the group's M ground truths.
    Returns:
        bool[N] TP flags.
    """
    if not ious:
        return np.zeros(0, dtype=bool)
    mat = np.array(ious, dtype=float)
    tp = np.zeros(mat.shape[0], dtype=bool)
    free = np.ones(mat.shape[1], dtype=bool)
    for i in np.flatnonzero((mat >= threshold).any(axis=1)):  # others can never match nor remove
        row = np.where(free, mat[i], -np.inf)
        j = int(np.argmax(row))
        if row[j] >= threshold:
            tp[i] = True
            free[j] = False
    return tp


def tp_ranks(cls: np.ndarray, scores: np.ndarray, tp: np.ndarray, ncls: int) -> list[np.ndarray]:
    """Per class, the increasing 1-based positions of its TPs in the order (score desc, index asc).

    The position of a TP is 1 + the number of detections of its class scoring higher (from one sorted
    copy of the class's scores, no argsort of millions of rows) + those with an equal score and a smaller
    index (counted on the few tied rows only).
    """
    out = [np.zeros(0, dtype=np.int64) for _ in range(ncls)]
    tpi = np.flatnonzero(tp)
    if tpi.size == 0:
        return out
    by_class = np.argsort(cls.astype(np.int16 if ncls < 2**15 else np.int64), kind="stable")
    bounds = np.searchsorted(cls[by_class], np.arange(ncls + 1))
    tcls = cls[tpi]
    for c in np.flatnonzero(np.bincount(tcls, minlength=ncls)):  # = np.unique(tcls), without importing np.ma
        t = tpi[tcls == c]
        t = t[np.lexsort((t, -scores[t]))]  # TPs in processing order
        members = by_class[bounds[c]:bounds[c + 1]]
        s = scores[members]
        ss = np.sort(s)
        st = scores[t]
        right = np.searchsorted(ss, st, side="right")
        ahead = members.size - right  # strictly higher scores
        tied = right - np.searchsorted(ss, st, side="left") > 1
        if tied.any():  # equal scores: earlier input index goes first
            vals = np.unique(st[tied])
            pos = np.searchsorted(vals, s).clip(0, vals.size - 1)
            tm = members[vals[pos] == s]  # members sharing a score with a tied TP, ascending index
            sid = np.searchsorted(vals, scores[tm])
            comp = np.sort(sid * (cls.size + 1) + tm)
            tsid = np.searchsorted(vals, st[tied])
            lo = np.searchsorted(comp, tsid * (cls.size + 1))
            ahead[tied] += np.searchsorted(comp, tsid * (cls.size + 1) + t[tied]) - lo
        out[int(c)] = ahead + 1
    return out
