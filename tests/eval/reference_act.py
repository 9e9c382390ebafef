"""Naive ACT frameAP / videoAP / nms3dt / iou3dt written straight from ACT_utils.py (stable tie order)."""

from __future__ import annotations

import numpy as np


def area2d(b):
    return (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)


def overlap2d(b1, b2):
    xmin = np.maximum(b1[:, 0], b2[:, 0])
    ymin = np.maximum(b1[:, 1], b2[:, 1])
    xmax = np.minimum(b1[:, 2] + 1, b2[:, 2] + 1)
    ymax = np.minimum(b1[:, 3] + 1, b2[:, 3] + 1)
    return np.maximum(0, xmax - xmin) * np.maximum(0, ymax - ymin)


def iou2d(b1, b2):
    b1 = b1[None, :] if b1.ndim == 1 else b1
    b2 = b2[None, :] if b2.ndim == 1 else b2
    ov = overlap2d(b1, b2)
    return ov / (area2d(b1) + area2d(b2) - ov)


def iou3dt(b1, b2):
    tmin, tmax = max(b1[0, 0], b2[0, 0]), min(b1[-1, 0], b2[-1, 0])
    if tmax < tmin:
        return 0.0
    ti = tmax - tmin + 1
    tu = max(b1[-1, 0], b2[-1, 0]) - min(b1[0, 0], b2[0, 0]) + 1
    t1 = b1[int(np.where(b1[:, 0] == tmin)[0][0]):int(np.where(b1[:, 0] == tmax)[0][0]) + 1]
    t2 = b2[int(np.where(b2[:, 0] == tmin)[0][0]):int(np.where(b2[:, 0] == tmax)[0][0]) + 1]
    ov = overlap2d(t1[:, 1:5], t2[:, 1:5])
    return float(np.mean(ov / (area2d(t1[:, 1:5]) + area2d(t2[:, 1:5]) - ov))) * (ti / tu)


def nms3dt(tubes, overlap):
    order = sorted(range(len(tubes)), key=lambda i: (-tubes[i][1], i))
    keep = []
    while order:
        i = order.pop(0)
        keep.append(i)
        order = [j for j in order if iou3dt(tubes[j][0], tubes[i][0]) <= overlap]
    return keep


def pr_to_ap(pr):
    prdif = pr[1:, 1] - pr[:-1, 1]
    prsum = pr[1:, 0] + pr[:-1, 0]
    return np.sum(prdif * prsum * 0.5)


def _curve(n, gt_count, positive_fn):
    pr = np.empty((n + 1, 2), dtype=np.float32)
    pr[0] = (1.0, 0.0)
    fn, fp, tp = gt_count, 0, 0
    for i in range(n):
        if positive_fn(i):
            tp += 1
            fn -= 1
        else:
            fp += 1
        pr[i + 1, 0] = tp / (tp + fp)
        pr[i + 1, 1] = tp / (tp + fn)
    return pr


def ref_frame_ap(gt, vlist, alldets, th=0.5):
    """alldets float32 [N, 8]: video_index, frame, label, score, x1, y1, x2, y2."""
    aps = []
    for ilabel in range(len(gt["labels"])):
        dets = alldets[alldets[:, 2] == ilabel]
        g = {}
        for iv, v in enumerate(vlist):
            for tube in gt["gttubes"].get(v, {}).get(ilabel, []):
                for row in tube:
                    g.setdefault((iv, int(row[0])), []).append(row[1:5].tolist())
        g = {k: np.array(x) for k, x in g.items()}
        order = sorted(range(dets.shape[0]), key=lambda i: (-dets[i, 3], i))

        def positive(i, dets=dets, g=g, order=order):
            j = order[i]
            k = (int(dets[j, 0]), int(dets[j, 1]))
            if k in g:
                ious = iou2d(g[k], dets[j, 4:8])
                a = int(np.argmax(ious))
                if ious[a] >= th:
                    g[k] = np.delete(g[k], a, 0)
                    if g[k].size == 0:
                        del g[k]
                    return True
            return False

        total = sum(x.shape[0] for x in g.values())
        aps.append(float(pr_to_ap(_curve(dets.shape[0], total, positive))) if total else 0.0)
    return aps


def ref_video_ap(gt, vlist, tubes_per_video, th=0.5, nms=0.3):
    """tubes_per_video: {video: {label: [(tube float32 [n, 5+], score)]}}."""
    nl = len(gt["labels"])
    alldets = {c: [] for c in range(nl)}
    for v in vlist:
        for c in range(nl):
            lt = tubes_per_video.get(v, {}).get(c, [])
            alldets[c] += [(v, lt[i][1], lt[i][0]) for i in nms3dt(lt, nms)]
    aps = []
    for c in range(nl):
        dets = alldets[c]
        g = {v: list(gt["gttubes"][v][c]) for v in vlist if c in gt["gttubes"].get(v, {})}
        order = sorted(range(len(dets)), key=lambda i: (-dets[i][1], i))

        def positive(i, dets=dets, g=g, order=order):
            v, _, tube = dets[order[i]]
            if v in g:
                ious = [iou3dt(x, tube) for x in g[v]]
                a = int(np.argmax(ious))
                if ious[a] >= th:
                    del g[v][a]
                    if not g[v]:
                        del g[v]
                    return True
            return False

        total = sum(len(x) for x in g.values())
        aps.append(float(pr_to_ap(_curve(len(dets), total, positive))) if total else 0.0)
    return aps
