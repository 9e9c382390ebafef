"""Tubes as flat arrays, ACT's spatio-temporal IoU (``iou3dt``) for many pairs at once, and tube NMS."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from acrn.errors import InputError


def iou_plus1(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of paired x1,y1,x2,y2 boxes with ACT's inclusive-pixel (+1) areas, float64[N]."""
    w = np.maximum(0.0, np.minimum(a[:, 2] + 1, b[:, 2] + 1) - np.maximum(a[:, 0], b[:, 0]))
    h = np.maximum(0.0, np.minimum(a[:, 3] + 1, b[:, 3] + 1) - np.maximum(a[:, 1], b[:, 1]))
    inter = w * h
    area_a = (a[:, 2] - a[:, 0] + 1) * (a[:, 3] - a[:, 1] + 1)
    area_b = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / (area_a + area_b - inter)


@dataclass
class Tubes:
    """T tubes: video int[T], label int[T], score float[T], start (first frame) int[T], length int[T],
    offset int[T] into ``boxes`` float64[R, 4] (x1,y1,x2,y2 pixels, one row per frame from start; frames a tube
    skips are NaN rows and count as IoU 0; R >= sum(length): :meth:`take` keeps all rows, may be a strided view)."""

    video: np.ndarray
    label: np.ndarray
    score: np.ndarray
    start: np.ndarray
    length: np.ndarray
    offset: np.ndarray
    boxes: np.ndarray

    @property
    def size(self) -> int:
        return int(self.video.size)

    @staticmethod
    def from_list(items: list[tuple[int, int, float, np.ndarray]], source: str = "tubes") -> Tubes:
        """``items``: (video index, label, score, float[n, 5] rows frame, x1, y1, x2, y2)."""
        arrays = []
        for k, (_, _, _, arr) in enumerate(items):
            a = np.asarray(arr, dtype=np.float64)
            if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] < 5:
                raise InputError(f"{source}: tube {k} must have rows [frame, x1, y1, x2, y2], got shape {a.shape}")
            arrays.append(a[:, :5])
        counts = np.array([a.shape[0] for a in arrays], dtype=np.int64)
        rows = np.concatenate(arrays) if arrays else np.zeros((0, 5))
        return Tubes.from_rows(np.array([it[0] for it in items], np.int64), np.array([it[1] for it in items], np.int64),
                               np.array([it[2] for it in items], np.float64), counts, rows, source)

    @staticmethod
    def from_rows(video: np.ndarray, label: np.ndarray, score: np.ndarray, counts: np.ndarray, rows: np.ndarray,
                  source: str = "tubes") -> Tubes:
        """T tubes from their rows concatenated: ``counts`` int[T] (each > 0) rows of ``rows`` float64[R, 5]
        (frame, x1, y1, x2, y2, any frame order) per tube. Frames a tube skips become NaN rows.

        In the usual case (each tube's frames consecutive and in order) ``boxes`` is a view of ``rows``."""
        nt = counts.size
        if nt == 0:
            z = np.zeros(0, np.int64)
            return Tubes(z, z, np.zeros(0), z, z, z, np.zeros((0, 4)))
        heads = np.concatenate([[0], np.cumsum(counts)[:-1]])
        video, label, score = np.asarray(video, np.int64), np.asarray(label, np.int64), np.asarray(score, np.float64)
        if _consecutive(rows[:, 0], heads):  # two passes over the frames instead of a dozen, no copy of the boxes
            return Tubes(video, label, score, rows[heads, 0].astype(np.int64), np.asarray(counts, np.int64),
                         heads.astype(np.int64), rows[:, 1:5])
        tube = np.repeat(np.arange(nt), counts)
        fr = rows[:, 0].astype(np.int64)
        f0, f1 = np.minimum.reduceat(fr, heads), np.maximum.reduceat(fr, heads)
        length = f1 - f0 + 1
        offset = np.concatenate([[0], np.cumsum(length)[:-1]])
        pos = offset[tube] + fr - f0[tube]
        hits = np.bincount(pos, minlength=int(length.sum()))
        if hits.max(initial=0) > 1:
            k = int(tube[np.argmax(hits[pos] > 1)])
            raise InputError(f"{source}: tube {k} (video {int(video[k])}) lists a frame twice")
        if length.sum() == pos.size and (np.diff(pos) == 1).all():  # frames in order, none skipped: no NaN rows
            boxes = rows[:, 1:5].copy()  # (frames given as non-integers: not the view of the usual case)
        else:
            boxes = np.full((int(length.sum()), 4), np.nan)
            boxes[pos] = rows[:, 1:5]
        return Tubes(video, label, score, f0, length, offset, boxes)

    @staticmethod
    def from_gt(gt: dict, videos: list[str]) -> Tubes:
        items = [(vi, lab, 0.0, t) for vi, v in enumerate(videos)
                 for lab, tubes in sorted(gt["gttubes"].get(v, {}).items()) for t in tubes]
        return Tubes.from_list(items, "ground truth")

    def take(self, idx: np.ndarray) -> Tubes:
        """Tubes ``idx`` (the same ``boxes``: a view, no rows copied; only their offsets are taken)."""
        idx = np.asarray(idx, dtype=np.int64)
        return Tubes(self.video[idx], self.label[idx], self.score[idx], self.start[idx], self.length[idx],
                     self.offset[idx], self.boxes)


def _consecutive(frames: np.ndarray, heads: np.ndarray) -> bool:
    """Whether the frames (float64[R], tubes starting at ``heads``) of every tube are consecutive integers in
    order: then the general path's int64 frames equal these values and it would keep every row as is."""
    f0 = frames[heads]
    if not ((f0 == np.floor(f0)) & (np.abs(f0) < 2.0 ** 52)).all():
        return False
    step = np.diff(frames)
    step[heads[1:] - 1] = 1.0  # a tube's first frame may be anything
    return bool((step == 1.0).all())


def _ramp(rep: np.ndarray) -> np.ndarray:
    ends = np.cumsum(rep)
    return np.arange(int(rep.sum())) - np.repeat(ends - rep, rep)


def pair_tube_iou(a: Tubes, ia: np.ndarray, b: Tubes, ib: np.ndarray, block: int = 1 << 13) -> np.ndarray:
    """ACT ``iou3dt(a[ia[p]], b[ib[p]])`` for every pair p: temporal IoU x mean per-frame IoU (+1 areas)
    over the temporal intersection; 0 without temporal overlap. float64[P].

    Only the frames of the temporal intersection are read. Pairs are taken by intersection length n, about
    ``block`` frames at a time: each pair's n rows are contiguous in ``boxes``, so they are gathered as whole
    memory runs of a sliding-window view (no index array per frame) and the temporaries stay in cache.
    """
    out = np.zeros(ia.size)
    sa, sb = a.start[ia], b.start[ib]
    ea, eb = sa + a.length[ia] - 1, sb + b.length[ib] - 1
    tmin, tmax = np.maximum(sa, sb), np.minimum(ea, eb)
    ok = np.flatnonzero(tmax >= tmin)
    if ok.size == 0:
        return out
    n = tmax[ok] - tmin[ok] + 1
    first_a = a.offset[ia[ok]] + tmin[ok] - sa[ok]
    first_b = b.offset[ib[ok]] + tmin[ok] - sb[ok]
    by_n = np.argsort(n, kind="stable")
    widths, heads = np.unique(n[by_n], return_index=True)
    spatial = np.empty(ok.size)
    for w, lo, hi in zip(widths.tolist(), heads.tolist(), [*heads[1:].tolist(), ok.size], strict=True):
        (wa, ka), (wb, kb) = _windows(a.boxes, w), _windows(b.boxes, w)
        step = max(1, block // w)
        for s in range(lo, hi, step):
            p = by_n[s:min(s + step, hi)]
            spatial[p] = _mean_frame_iou(wa[first_a[p]], wb[first_b[p]], ka, kb)
    union = np.maximum(ea[ok], eb[ok]) - np.minimum(sa[ok], sb[ok]) + 1
    out[ok] = spatial * (n / union)
    return out


def _windows(boxes: np.ndarray, w: int) -> tuple[np.ndarray, int]:
    """Read-only view [R - w + 1, (w - 1) k + 4] of ``boxes`` float64[R, 4] whose window i is the memory from
    row i to row i + w - 1 (k: the row stride in float64s), so gathering windows copies contiguous runs;
    coordinate c of the window's rows is every k-th value from c. Boxes of other layouts are copied first."""
    if boxes.strides[1] != 8 or boxes.strides[0] % 8 or boxes.strides[0] < 32:
        boxes = np.ascontiguousarray(boxes)
    k = boxes.strides[0] // 8
    r = boxes.shape[0]
    return np.lib.stride_tricks.as_strided(boxes, (r - w + 1, (w - 1) * k + 4), (boxes.strides[0], 8),
                                           writeable=False), k


def _mean_frame_iou(ga: np.ndarray, gb: np.ndarray, k: int, kb: int) -> np.ndarray:
    """Mean over frames of :func:`iou_plus1` for paired runs of boxes: windows ``ga`` (row stride ``k``) and
    ``gb`` (``kb``) of :func:`_windows`, gathered, n rows each; NaN frame IoUs (skipped frames) count as 0.
    float64[P].

    The same operations in the same order as :func:`iou_plus1` and the same per-run sums (``reduceat`` over
    n contiguous values), so the values are bit for bit those of the frame-by-frame computation. A run's sum
    is finite exactly when all its IoUs are: only runs whose sum is not get the NaN (and inf) replacement."""
    p = ga.shape[0]
    ax1, ay1, ax2, ay2 = (ga[:, c::k] for c in range(4))
    bx1, by1, bx2, by2 = (gb[:, c::kb] for c in range(4))
    n = ax1.shape[1]
    area_a = (ax2 - ax1 + 1) * (ay2 - ay1 + 1)
    area_b = (bx2 - bx1 + 1) * (by2 - by1 + 1)
    w = np.minimum(ax2 + 1, bx2 + 1)
    w -= np.maximum(ax1, bx1)
    np.maximum(0.0, w, out=w)
    h = np.minimum(ay2 + 1, by2 + 1)
    h -= np.maximum(ay1, by1)
    np.maximum(0.0, h, out=h)
    w *= h  # intersection
    area_a += area_b
    area_a -= w
    with np.errstate(divide="ignore", invalid="ignore"):
        w /= area_a
    seg = np.arange(0, p * n, n)
    sums = np.add.reduceat(w.ravel(), seg) if p else np.zeros(0)
    bad = np.flatnonzero(~np.isfinite(sums))
    if bad.size:
        sums[bad] = np.add.reduceat(np.nan_to_num(w[bad], nan=0.0).ravel(), seg[:bad.size])
    return sums / n


def tube_nms(tubes: Tubes, threshold: float) -> np.ndarray:
    """ACT ``nms3dt`` per (video, label): keep the best tube, drop others with IoU > threshold, repeat.

    Returns kept indices ordered by video, label, then score descending (ties: input order), the order in
    which ACT appends them to its detection list.
    """
    if tubes.size == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((np.arange(tubes.size), -tubes.score, tubes.label, tubes.video))
    grp = np.concatenate([[0], np.cumsum((np.diff(tubes.video[order]) != 0) | (np.diff(tubes.label[order]) != 0))])
    gsize = np.bincount(grp)
    gstart = np.concatenate([[0], np.cumsum(gsize)[:-1]])
    rank = np.arange(order.size) - gstart[grp]  # position of each sorted tube inside its group
    partners = gsize[grp] - 1 - rank
    pa = np.repeat(np.arange(order.size), partners)
    pb = pa + 1 + _ramp(partners)
    alive = np.ones(order.size, dtype=bool)
    by_rank = np.argsort(rank[pa], kind="stable")
    bounds = np.searchsorted(rank[pa][by_rank], np.arange(int(gsize.max()) + 1))
    for r in range(int(gsize.max())):
        sel = by_rank[bounds[r]:bounds[r + 1]]
        sel = sel[alive[pa[sel]] & alive[pb[sel]]]  # IoUs only where they can still suppress something
        iou = pair_tube_iou(tubes, order[pa[sel]], tubes, order[pb[sel]])
        alive[pb[sel[iou > threshold]]] = False
    return order[alive]
