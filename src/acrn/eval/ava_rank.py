"""Per-class ranks of the true positives in the order (score desc, index asc), without a full sort.

Used by the AVA protocol (:mod:`acrn.eval.ava`) on up to 18M detections: bucket histograms give the rank
of most rows; only rows sharing a bucket with a true positive are put in exact order.
"""

from __future__ import annotations

import numpy as np


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
