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
    offset int[T] into ``boxes`` float64[sum(length), 4] (x1,y1,x2,y2 pixels, one row per frame from start;
    frames a tube skips are NaN rows and count as IoU 0)."""

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
        (frame, x1, y1, x2, y2, any frame order) per tube. Frames a tube skips become NaN rows."""
        nt = counts.size
        if nt == 0:
            z = np.zeros(0, np.int64)
            return Tubes(z, z, np.zeros(0), z, z, z, np.zeros((0, 4)))
        tube = np.repeat(np.arange(nt), counts)
        fr = rows[:, 0].astype(np.int64)
        heads = np.concatenate([[0], np.cumsum(counts)[:-1]])
        f0, f1 = np.minimum.reduceat(fr, heads), np.maximum.reduceat(fr, heads)
        length = f1 - f0 + 1
        offset = np.concatenate([[0], np.cumsum(length)[:-1]])
        pos = offset[tube] + fr - f0[tube]
        hits = np.bincount(pos, minlength=int(length.sum()))
        if hits.max(initial=0) > 1:
            k = int(tube[np.argmax(hits[pos] > 1)])
            raise InputError(f"{source}: tube {k} (video {int(video[k])}) lists a frame twice")
        if length.sum() == pos.size and (np.diff(pos) == 1).all():  # frames in order, none skipped: no NaN rows
            boxes = rows[:, 1:5].copy()  # (the usual case: a NaN fill and a scatter less)
        else:
            boxes = np.full((int(length.sum()), 4), np.nan)
            boxes[pos] = rows[:, 1:5]
        return Tubes(np.asarray(video, np.int64), np.asarray(label, np.int64), np.asarray(score, np.float64), f0,
                     length, offset, boxes)

    @staticmethod
    def from_gt(gt: dict, videos: list[str]) -> Tubes:
        items = [(vi, lab, 0.0, t) for vi, v in enumerate(videos)
                 for lab, tubes in sorted(gt["gttubes"].get(v, {}).items()) for t in tubes]
        return Tubes.from_list(items, "ground truth")

    def take(self, idx: np.ndarray) -> Tubes:
        idx = np.asarray(idx, dtype=np.int64)
        length = self.length[idx]
        rows = np.repeat(self.offset[idx], length) + _ramp(length)
        return Tubes(self.video[idx], self.label[idx], self.score[idx], self.start[idx], length,
                     np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64), self.boxes[rows])


def _ramp(rep: np.ndarray) -> np.ndarray:
    ends = np.cumsum(rep)
    return np.arange(int(rep.sum())) - np.repeat(ends - rep, rep)


def pair_tube_iou(a: Tubes, ia: np.ndarray, b: Tubes, ib: np.ndarray, block: int = 1 << 17) -> np.ndarray:
    """ACT ``iou3dt(a[ia[p]], b[ib[p]])`` for every pair p: temporal IoU x mean per-frame IoU (+1 areas)
    over the temporal intersection; 0 without temporal overlap. float64[P].

    Per-frame IoUs are computed in blocks of about ``block`` frames so the temporaries stay in cache.
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
    cum = np.cumsum(n)
    cuts = np.searchsorted(cum, np.arange(block, int(cum[-1]), block), side="right")
    spatial = np.empty(ok.size)
    for lo, hi in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [ok.size]]), strict=True):
        if hi <= lo:
            continue
        nn = n[lo:hi]
        k = _ramp(nn)
        ra = np.repeat(first_a[lo:hi], nn) + k
        rb = np.repeat(first_b[lo:hi], nn) + k
        frame_iou = np.nan_to_num(iou_plus1(a.boxes[ra], b.boxes[rb]), nan=0.0)
        seg = np.concatenate([[0], np.cumsum(nn)[:-1]])
        spatial[lo:hi] = np.add.reduceat(frame_iou, seg) / nn
    union = np.maximum(ea[ok], eb[ok]) - np.minimum(sa[ok], sb[ok]) + 1
    out[ok] = spatial * (n / union)
    return out


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
