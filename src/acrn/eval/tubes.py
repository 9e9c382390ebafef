"""Linking per-frame detections into action tubes (Gkioxari & Malik, "Finding action tubes", CVPR 2015).

For one video and one class, a tube picks one detection per frame maximising the energy
``sum_t s(d_t) + lambda * sum_t IoU(d_t, d_t+1)`` (Viterbi over frames that still hold detections); its
detections are then removed and the next tube is linked, until frames run out. Frames without any
detection are bridged (the IoU term links across the gap) and filled in the output by linear
interpolation, so every tube covers consecutive frames, which ACT's ``iou3dt`` assumes. The tube score is
the mean detection score. Optional temporal trimming keeps the contiguous span maximising
``sum_t (s_t - trim)`` and drops the tube if that sum is not positive.
"""

from __future__ import annotations

import numpy as np

from acrn.eval.tube_iou import Tubes, iou_plus1


def _pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """float64[A, B] IoU (+1 areas) between boxes a[A, 4] and b[B, 4]."""
    ia = np.repeat(np.arange(a.shape[0]), b.shape[0])
    ib = np.tile(np.arange(b.shape[0]), a.shape[0])
    return np.nan_to_num(iou_plus1(a[ia], b[ib]).reshape(a.shape[0], b.shape[0]))


def _viterbi(boxes: list[np.ndarray], scores: list[np.ndarray], iou_weight: float) -> list[int]:
    """Best path through consecutive (non-empty) frames: one box index per frame."""
    value = scores[0].copy()
    back = []
    for t in range(1, len(boxes)):
        m = value[:, None] + iou_weight * _pairwise_iou(boxes[t - 1], boxes[t])
        arg = np.argmax(m, axis=0)
        back.append(arg)
        value = scores[t] + m[arg, np.arange(m.shape[1])]
    path = [int(np.argmax(value))]
    for arg in reversed(back):
        path.append(int(arg[path[-1]]))
    return path[::-1]


def _trim(scores: np.ndarray, threshold: float) -> tuple[int, int] | None:
    """Kadane: [start, end) maximising sum(scores - threshold); None if no positive span."""
    best, best_span, run, start = 0.0, None, 0.0, 0
    for i, s in enumerate(scores - threshold):
        if run <= 0:
            run, start = 0.0, i
        run += s
        if run > best:
            best, best_span = run, (start, i + 1)
    return best_span


def link_class(frame: np.ndarray, boxes: np.ndarray, scores: np.ndarray, *, iou_weight: float = 1.0,
               max_tubes: int | None = None, trim: float | None = None) -> list[dict]:
    """Link one video's detections of one class.

    Args:
        frame: int[N] frame numbers; boxes: float[N, 4] x1,y1,x2,y2; scores: float[N] class scores.
    Returns:
        tubes, best first: {"score": float, "boxes": float64[n, 5] rows frame, x1, y1, x2, y2 on consecutive
        frames}.
    """
    frame = np.asarray(frame, np.int64)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64)
    order = np.lexsort((np.arange(frame.size), frame))
    _, first = np.unique(frame[order], return_index=True)
    per_frame = np.split(order, first[1:])
    alive = [np.ones(p.size, bool) for p in per_frame]
    tubes = []
    while max_tubes is None or len(tubes) < max_tubes:
        active = [t for t in range(len(per_frame)) if alive[t].any()]
        if not active:
            break
        idx = [per_frame[t][alive[t]] for t in active]
        path = _viterbi([boxes[i] for i in idx], [scores[i] for i in idx], iou_weight)
        chosen = np.array([i[p] for i, p in zip(idx, path, strict=True)])
        for t, p in zip(active, path, strict=True):
            alive[t][np.flatnonzero(alive[t])[p]] = False
        tube = _fill_gaps(frame[chosen], boxes[chosen])
        s = scores[chosen]
        if trim is not None:
            span = _trim(s, trim)
            if span is None:
                continue
            lo, hi = frame[chosen][span[0]], frame[chosen][span[1] - 1]
            tube = tube[(tube[:, 0] >= lo) & (tube[:, 0] <= hi)]
            s = s[span[0]:span[1]]
        tubes.append({"score": float(s.mean()), "boxes": tube})
    tubes.sort(key=lambda t: -t["score"])
    return tubes


def _fill_gaps(frames: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Rows frame, x1..y2 on every frame from first to last; missing frames linearly interpolated."""
    full = np.arange(frames[0], frames[-1] + 1)
    cols = [np.interp(full, frames, boxes[:, k]) for k in range(4)]
    return np.column_stack([full.astype(np.float64)] + cols)


def link_tubes(video: np.ndarray, frame: np.ndarray, label: np.ndarray, score: np.ndarray, boxes: np.ndarray,
               *, iou_weight: float = 1.0, max_tubes: int | None = None, trim: float | None = None,
               top_k: int | None = None) -> dict[int, list[dict]]:
    """Link frame detections of many videos and classes.

    Args:
        video, frame, label: int[N]; score: float[N]; boxes: float[N, 4] pixels.
        top_k: keep only the k best detections per (video, frame, label) before linking.
    Returns:
        {video index: [{"label": int, "score": float, "boxes": float64[n, 5]}]}, per video best first.
    """
    video, frame, label = (np.asarray(x, np.int64) for x in (video, frame, label))
    score, boxes = np.asarray(score, np.float64), np.asarray(boxes, np.float64).reshape(-1, 4)
    order = np.lexsort((np.arange(video.size), -score, frame, label, video))
    if top_k is not None and order.size:
        key = np.stack([video[order], label[order], frame[order]], 1)
        new = np.concatenate([[True], (key[1:] != key[:-1]).any(1)])
        rank = np.arange(order.size) - np.maximum.accumulate(np.where(new, np.arange(order.size), 0))
        order = order[rank < top_k]
    out: dict[int, list[dict]] = {}
    vl = np.stack([video[order], label[order]], 1)
    cuts = np.flatnonzero((vl[1:] != vl[:-1]).any(1)) + 1
    for seg in np.split(order, cuts):
        if seg.size == 0:
            continue
        v, c = int(video[seg[0]]), int(label[seg[0]])
        for t in link_class(frame[seg], boxes[seg], score[seg], iou_weight=iou_weight, max_tubes=max_tubes,
                            trim=trim):
            out.setdefault(v, []).append({"label": c, **t})
    for v in out:
        out[v].sort(key=lambda t: -t["score"])
    return out


def linked_to_tubes(linked: dict[int, list[dict]]) -> Tubes:
    """The output of :func:`link_tubes` as :class:`~acrn.eval.tube_iou.Tubes` for :func:`act_video_ap`."""
    return Tubes.from_list([(v, t["label"], t["score"], t["boxes"]) for v in sorted(linked) for t in linked[v]],
                           "linked tubes")
