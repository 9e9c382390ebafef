"""Naive references written straight from the official algorithms (per keyframe loops, heap, full sorts).

Used only by tests to check the vectorised evaluators; the tie order is the documented stable one.
"""

from __future__ import annotations

import heapq
from collections import defaultdict

import numpy as np


def ref_ava(gt_rows, det_rows, class_ids, protocol="2018", excluded=(), gt_keyframes=None):
    """gt_rows: (key, x1, y1, x2, y2, label); det_rows: (key, x1, y1, x2, y2, label, score). Returns per-class AP."""
    classes = set(class_ids)
    gt = defaultdict(list)
    for k, x1, y1, x2, y2, lab in gt_rows:
        if lab in classes:
            gt[k].append(([y1, x1, y2, x2], lab))
    entries = defaultdict(list)
    for i, (k, x1, y1, x2, y2, lab, s) in enumerate(det_rows):
        if lab not in classes:
            continue
        if protocol == "2018":
            entries[k].append((s, lab, y1, x1, y2, x2, i))
            continue
        item = (s, lab, y1, x1, y2, x2)
        if len(entries[k]) < 50:
            heapq.heappush(entries[k], item + (i,))
        elif s > entries[k][0][0]:
            heapq.heapreplace(entries[k], item + (i,))
    excluded = set(excluded) if protocol != "2020" else set()
    allkeys = set(gt_keyframes) if gt_keyframes is not None else {r[0] for r in gt_rows}
    scores, tps = defaultdict(list), defaultdict(list)
    num_gt = defaultdict(int)
    for k, items in gt.items():
        if k not in excluded:
            for _, lab in items:
                num_gt[lab] += 1
    for k, items in entries.items():
        if k in excluded or (protocol == "2020" and k not in allkeys):
            continue
        items = sorted(items, key=lambda t: (-t[0], t[6]))
        for c in classes:
            dets = [t for t in items if t[1] == c and t[2] < t[4] and t[3] < t[5]]
            if protocol == "2018":
                dets = [t for t in dets if t[0] > -10][:10000]
            g = [b for b, lab in gt.get(k, []) if lab == c] if k not in excluded else []
            taken = [False] * len(g)
            for t in dets:
                ious = [_iou([t[2], t[3], t[4], t[5]], b) for b in g]
                ok = False
                if g:
                    j = int(np.argmax(ious))
                    if ious[j] >= 0.5 and not taken[j]:
                        taken[j] = ok = True
                scores[c].append((t[0], t[6]))
                tps[c].append(ok)
    out = {}
    for c in sorted(classes):
        if num_gt[c] == 0:
            out[c] = float("nan")
            continue
        order = sorted(range(len(scores[c])), key=lambda i: (-scores[c][i][0], scores[c][i][1]))
        tp = np.array([tps[c][i] for i in order], dtype=int)
        if tp.size == 0:
            out[c] = 0.0
            continue
        ctp, cfp = np.cumsum(tp), np.cumsum(1 - tp)
        prec = ctp.astype(float) / (ctp + cfp)
        rec = ctp.astype(float) / num_gt[c]
        rec = np.concatenate([[0], rec, [1]])
        prec = np.concatenate([[0], prec, [0]])
        for i in range(len(prec) - 2, -1, -1):
            prec[i] = max(prec[i], prec[i + 1])
        idx = np.where(rec[1:] != rec[:-1])[0] + 1
        out[c] = float(np.sum((rec[idx] - rec[idx - 1]) * prec[idx]))
    return out


def _iou(a, b):
    """y1, x1, y2, x2 boxes, AVA formula."""
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    h = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    w = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = h * w
    return inter / (area_a + area_b - inter)
