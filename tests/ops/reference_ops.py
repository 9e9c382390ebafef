"""Naive loop references for acrn.ops, written from the definitions (torchvision's C++ kernels for
roi_align and nms). Slow on purpose: one Python step per box, bin and sample point. Also imported by
benchmarks/bench_ops.py as the baseline."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def iou_pair(a: list[float], b: list[float]) -> float:
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    w = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    h = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    inter = w * h
    union = area_a + area_b - inter
    return inter / union if union != 0 else math.nan


def box_iou(a: Tensor, b: Tensor) -> Tensor:
    al, bl = a.tolist(), b.tolist()
    return torch.tensor([[iou_pair(x, y) for y in bl] for x in al], dtype=torch.float64).reshape(len(al), len(bl))


def encode(gt: Tensor, anchors: Tensor, weights: tuple[float, ...]) -> Tensor:
    wx, wy, ww, wh = weights
    rows = []
    for g, a in zip(gt.tolist(), anchors.tolist()):
        aw, ah = a[2] - a[0], a[3] - a[1]
        gw, gh = g[2] - g[0], g[3] - g[1]
        ax, ay = a[0] + 0.5 * aw, a[1] + 0.5 * ah
        gx, gy = g[0] + 0.5 * gw, g[1] + 0.5 * gh
        rows.append([wx * (gx - ax) / aw, wy * (gy - ay) / ah, ww * math.log(gw / aw), wh * math.log(gh / ah)])
    return torch.tensor(rows, dtype=torch.float64).reshape(-1, 4)


def decode(deltas: Tensor, anchors: Tensor, weights: tuple[float, ...], clamp: float) -> Tensor:
    wx, wy, ww, wh = weights
    out = []
    for d_row, a in zip(deltas.tolist(), anchors.tolist()):
        aw, ah = a[2] - a[0], a[3] - a[1]
        ax, ay = a[0] + 0.5 * aw, a[1] + 0.5 * ah
        row = []
        for j in range(0, len(d_row), 4):
            dx, dy = d_row[j] / wx, d_row[j + 1] / wy
            dw, dh = min(d_row[j + 2] / ww, clamp), min(d_row[j + 3] / wh, clamp)
            cx, cy = dx * aw + ax, dy * ah + ay
            w, h = math.exp(dw) * aw, math.exp(dh) * ah
            row += [cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h]
        out.append(row)
    return torch.tensor(out, dtype=torch.float64).reshape(deltas.shape)


def nms(boxes: Tensor, scores: Tensor, thr: float, idxs: Tensor | None = None) -> list[int]:
    """Greedy NMS; ties in score visited by increasing index; with idxs, only same-class boxes suppress."""
    bl, sl = boxes.tolist(), scores.tolist()
    cl = idxs.tolist() if idxs is not None else [0] * len(bl)
    order = sorted(range(len(bl)), key=lambda i: (-sl[i], i))
    dropped = [False] * len(bl)
    keep = []
    for n, i in enumerate(order):
        if dropped[i]:
            continue
        keep.append(i)
        for j in order[n + 1 :]:
            if not dropped[j] and cl[j] == cl[i] and iou_pair(bl[i], bl[j]) > thr:
                dropped[j] = True
    return keep


def bilinear(fmap: Tensor, y: float, x: float) -> Tensor:
    """torchvision's bilinear_interpolate on Tensor[C, H, W] -> Tensor[C]."""
    _, height, width = fmap.shape
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return fmap.new_zeros(fmap.shape[0])
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_high = y_low = height - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_high = x_low = width - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1.0 - ly, 1.0 - lx
    return (
        hy * hx * fmap[:, y_low, x_low]
        + hy * lx * fmap[:, y_low, x_high]
        + ly * hx * fmap[:, y_high, x_low]
        + ly * lx * fmap[:, y_high, x_high]
    )


def roi_align(inp: Tensor, rois: Tensor, out_hw: tuple[int, int], scale: float, ratio: int, aligned: bool) -> Tensor:
    """Loop over ROIs, bins and sample points exactly as torchvision's roi_align_forward_kernel_impl."""
    if inp.dim() == 5:  # per frame
        frames = [roi_align(inp[:, :, t], rois, out_hw, scale, ratio, aligned) for t in range(inp.shape[2])]
        return torch.stack(frames, dim=2)
    ph_n, pw_n = out_hw
    out = inp.new_zeros((rois.shape[0], inp.shape[1], ph_n, pw_n))
    offset = 0.5 if aligned else 0.0
    for k, (b, x1, y1, x2, y2) in enumerate(rois.tolist()):
        fmap = inp[int(b)]
        sw, sh = x1 * scale - offset, y1 * scale - offset
        rw, rh = x2 * scale - offset - sw, y2 * scale - offset - sh
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bh, bw = rh / ph_n, rw / pw_n
        gh = ratio if ratio > 0 else math.ceil(rh / ph_n)
        gw = ratio if ratio > 0 else math.ceil(rw / pw_n)
        count = max(gh * gw, 1)
        for ph in range(ph_n):
            for pw in range(pw_n):
                acc = fmap.new_zeros(fmap.shape[0])
                for iy in range(gh):
                    y = sh + ph * bh + (iy + 0.5) * bh / gh
                    for ix in range(gw):
                        x = sw + pw * bw + (ix + 0.5) * bw / gw
                        acc = acc + bilinear(fmap, y, x)
                out[k, :, ph, pw] = acc / count
    return out
