"""The 2019/2020 AVA evaluator's per-keyframe cap, reproduced exactly without a heap per row.

The official ``read_csv`` keeps a min-heap of tuples ``(score, action_id, y1, x1, y2, x2)`` per keyframe:
the first ``cap`` rows are pushed; a later row replaces the heap minimum only when its score is strictly
greater than the minimum's score. Let ``s*`` be the ``cap``-th highest score of the keyframe. Then every
row scoring above ``s*`` is kept, every row below is dropped, and which rows scoring exactly ``s*`` survive
depends on arrival order:

* rows of the first ``cap`` (the fill phase) scoring below ``s*`` are "slots" ``b``;
* each later row scoring >= ``s*`` first consumes a slot (a tie row then enters the heap);
* with no slot left, a later tie row is rejected and a later row above ``s*`` evicts the smallest tuple
  among the tie rows in the heap.
"""

from __future__ import annotations

import numpy as np


def cap_per_keyframe(keyframe: np.ndarray, scores: np.ndarray, labels: np.ndarray, boxes: np.ndarray,
                     cap: int, rows: np.ndarray | None = None) -> np.ndarray:
    """bool[N] mask of rows the official per-keyframe cap keeps; rows are in file order.

    Args:
        keyframe: int[N] keyframe index per row. scores: float[N]. labels: int[N] action ids.
        boxes: float[M, 4] x1, y1, x2, y2 (only used to break exact ties like the heap's tuples); row i's
            box is ``boxes[rows[i]]`` when ``rows`` (int[N]) is given, else ``boxes[i]``.
    """
    keep = np.ones(keyframe.size, dtype=bool)
    if keyframe.size == 0:
        return keep
    counts = np.bincount(keyframe)
    if counts.max() <= cap:
        return keep
    grouped = np.all(keyframe[1:] >= keyframe[:-1])
    order = np.arange(keyframe.size) if grouped else np.argsort(keyframe, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])
    over = np.flatnonzero(counts > cap)
    if grouped and over.size > 1 and counts[over].min() == counts[over].max():
        over = _equal_groups(keep, scores, starts[over], int(counts[over[0]]), cap, over)
    for g in over:
        idx = order[starts[g]:starts[g + 1]]  # this keyframe's rows, file order
        keep[idx] = _heap_survivors(idx, scores[idx], labels, boxes, cap, rows)
    return keep


def _equal_groups(keep: np.ndarray, scores: np.ndarray, first: np.ndarray, n: int, cap: int,
                  groups: np.ndarray) -> np.ndarray:
    """Keyframes of ``n`` contiguous rows each (from ``first``, int[G]) at once: one partition of a [G, n]
    score matrix gives every ``s*``; where the rows scoring >= s* are exactly ``cap`` they are the survivors
    whatever the arrival order (no ambiguous tie). Updates ``keep``; returns the groups left for the heap."""
    rows = first[:, None] + np.arange(n)  # [G, n]
    s = scores[rows]
    s_star = np.partition(s, n - cap, axis=1)[:, n - cap]
    above, tie = s > s_star[:, None], s == s_star[:, None]
    clean = above.sum(1) + tie.sum(1) == cap
    keep[rows] = above | (tie & clean[:, None])
    return groups[~clean]


def _heap_survivors(idx: np.ndarray, s: np.ndarray, labels: np.ndarray, boxes: np.ndarray, cap: int,
                    rows: np.ndarray | None) -> np.ndarray:
    n = s.size
    s_star = np.partition(s, n - cap)[n - cap]
    keep = s > s_star
    tie = s == s_star
    if int(keep.sum()) + int(tie.sum()) == cap:
        return keep | tie
    slots = int(np.count_nonzero(s[:cap] < s_star))
    in_heap = set(np.flatnonzero(tie[:cap]).tolist())
    for i in np.flatnonzero(s[cap:] >= s_star) + cap:
        if slots:
            slots -= 1
            if tie[i]:
                in_heap.add(int(i))
        elif not tie[i]:
            r = idx[sorted(in_heap)]
            b = boxes[r if rows is None else rows[r]]
            tuples = [(int(labels[k]), *b[i, [1, 0, 3, 2]].tolist()) for i, k in enumerate(r)]
            in_heap.discard(sorted(in_heap)[min(range(len(tuples)), key=tuples.__getitem__)])
    if in_heap:
        keep[np.fromiter(in_heap, dtype=np.int64)] = True
    return keep
