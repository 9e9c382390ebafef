"""Box geometry and the Faster R-CNN box parametrisation.

Every box here is ``(x1, y1, x2, y2)`` in absolute pixels (the convention of :mod:`acrn.structures`),
with ``x1 <= x2`` and ``y1 <= y2``. Widths are ``x2 - x1`` (no "+1"), as in torchvision and Detectron2.
All functions are pure, work on any device and dtype, and are differentiable where that makes sense.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

# Largest log-scale change decode_boxes allows: keeps exp() from overflowing on wild early predictions
# (Detectron / torchvision value: a box may grow at most 1000/16 = 62.5 times per side).
BBOX_XFORM_CLIP = math.log(1000.0 / 16)

Weights = tuple[float, float, float, float]


def _check_boxes(boxes: Tensor, name: str) -> None:
    if boxes.shape[-1:] != (4,):
        raise ValueError(f"{name} must have shape [..., 4] (x1, y1, x2, y2), got {tuple(boxes.shape)}")


def box_area(boxes: Tensor) -> Tensor:
    """Area of boxes.

    Args:
        boxes: Tensor[..., 4] in (x1, y1, x2, y2).
    Returns:
        Tensor[...] areas ``(x2 - x1) * (y2 - y1)``.
    """
    _check_boxes(boxes, "boxes")
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Pairwise intersection over union.

    Args:
        boxes1: Tensor[..., N, 4]; boxes2: Tensor[..., M, 4] (leading dimensions broadcast).
    Returns:
        Tensor[..., N, M]. A pair whose union is 0 (two empty boxes) gives NaN, as in torchvision.
    """
    _check_boxes(boxes1, "boxes1")
    _check_boxes(boxes2, "boxes2")
    area1 = box_area(boxes1)
    area2 = box_area(boxes2)
    a, b = boxes1[..., :, None, :], boxes2[..., None, :, :]  # [..., N, 1, 4], [..., 1, M, 4]
    # Per axis rather than on [..., N, M, 2] stacks: fewer strided temporaries, several times faster.
    w = (torch.minimum(a[..., 2], b[..., 2]) - torch.maximum(a[..., 0], b[..., 0])).clamp(min=0)
    h = (torch.minimum(a[..., 3], b[..., 3]) - torch.maximum(a[..., 1], b[..., 1])).clamp(min=0)
    inter = w * h
    union = area1[..., :, None] + area2[..., None, :] - inter
    return inter / union


def clip_boxes(boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """Clip boxes to an image of ``size = (h, w)``: x into [0, w], y into [0, h].

    Args:
        boxes: Tensor[..., 4]. Returns a new Tensor[..., 4].
    """
    _check_boxes(boxes, "boxes")
    h, w = size
    x = boxes[..., 0::2].clamp(min=0, max=w)
    y = boxes[..., 1::2].clamp(min=0, max=h)
    return torch.stack((x[..., 0], y[..., 0], x[..., 1], y[..., 1]), dim=-1)


def remove_small_boxes(boxes: Tensor, min_size: float) -> Tensor:
    """Indices of the boxes whose width and height are both at least ``min_size``.

    Args:
        boxes: Tensor[N, 4].
    Returns:
        Tensor[K] int64 indices into ``boxes``, increasing.
    """
    _check_boxes(boxes, "boxes")
    ws = boxes[:, 2] - boxes[:, 0]
    hs = boxes[:, 3] - boxes[:, 1]
    keep = (ws >= min_size) & (hs >= min_size)
    return torch.where(keep)[0]


def _centre_size(boxes: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    w = boxes[..., 2] - boxes[..., 0]
    h = boxes[..., 3] - boxes[..., 1]
    return boxes[..., 0] + 0.5 * w, boxes[..., 1] + 0.5 * h, w, h


def encode_boxes(gt: Tensor, anchors: Tensor, weights: Weights = (1.0, 1.0, 1.0, 1.0)) -> Tensor:
    """Regression targets of Faster R-CNN (Ren et al. 2015, eq. 2) mapping ``anchors`` onto ``gt``.

    ``dx = wx * (gx - ax) / aw``, ``dy = wy * (gy - ay) / ah``, ``dw = ww * log(gw / aw)``,
    ``dh = wh * log(gh / ah)`` with (x, y) box centres and (w, h) sizes.

    Args:
        gt: Tensor[N, 4] target boxes; anchors: Tensor[N, 4] reference boxes (proposals/anchors).
        weights: (wx, wy, ww, wh) scale of each delta (e.g. (10, 10, 5, 5) for the box head).
    Returns:
        Tensor[N, 4] deltas (dx, dy, dw, dh).
    """
    _check_boxes(gt, "gt")
    _check_boxes(anchors, "anchors")
    wx, wy, ww, wh = weights
    gx, gy, gw, gh = _centre_size(gt)
    ax, ay, aw, ah = _centre_size(anchors)
    dx = wx * (gx - ax) / aw
    dy = wy * (gy - ay) / ah
    dw = ww * torch.log(gw / aw)
    dh = wh * torch.log(gh / ah)
    return torch.stack((dx, dy, dw, dh), dim=-1)


def decode_boxes(
    deltas: Tensor,
    anchors: Tensor,
    weights: Weights = (1.0, 1.0, 1.0, 1.0),
    clamp: float = BBOX_XFORM_CLIP,
) -> Tensor:
    """Inverse of :func:`encode_boxes`: apply deltas to anchors.

    Args:
        deltas: Tensor[N, 4 * k] (k boxes per anchor, e.g. one per class) or Tensor[N, 4].
        anchors: Tensor[N, 4].
        weights: (wx, wy, ww, wh), the same as used to encode.
        clamp: dw and dh are clamped to at most this value before ``exp``.
    Returns:
        Tensor with the shape of ``deltas``: boxes (x1, y1, x2, y2), ``x1 = cx - w / 2``, ``x2 = cx + w / 2``.
    """
    _check_boxes(anchors, "anchors")
    if deltas.dim() != 2 or deltas.shape[1] % 4 != 0 or deltas.shape[0] != anchors.shape[0]:
        raise ValueError(
            f"deltas must be Tensor[N, 4*k] with N = {anchors.shape[0]} anchors, got {tuple(deltas.shape)}"
        )
    anchors = anchors.to(deltas.dtype)
    wx, wy, ww, wh = weights
    ax, ay, aw, ah = (t[:, None] for t in _centre_size(anchors))  # [N, 1] each, broadcast over k
    dx = deltas[:, 0::4] / wx
    dy = deltas[:, 1::4] / wy
    dw = (deltas[:, 2::4] / ww).clamp(max=clamp)
    dh = (deltas[:, 3::4] / wh).clamp(max=clamp)
    cx = dx * aw + ax
    cy = dy * ah + ay
    w = torch.exp(dw) * aw
    h = torch.exp(dh) * ah
    boxes = torch.stack((cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h), dim=2)  # [N, k, 4]
    return boxes.reshape(deltas.shape)


class BoxCoder:
    """Holds the delta weights and clamp of one box regressor (RPN or box head)."""

    def __init__(self, weights: Weights = (1.0, 1.0, 1.0, 1.0), clamp: float = BBOX_XFORM_CLIP) -> None:
        if len(weights) != 4 or any(w <= 0 for w in weights):
            raise ValueError(f"BoxCoder weights must be 4 positive numbers (wx, wy, ww, wh), got {weights}")
        wx, wy, ww, wh = (float(w) for w in weights)
        self.weights: Weights = (wx, wy, ww, wh)
        self.clamp = float(clamp)

    def encode(self, gt: Tensor, anchors: Tensor) -> Tensor:
        """Tensor[N, 4] targets, Tensor[N, 4] anchors -> Tensor[N, 4] deltas."""
        return encode_boxes(gt, anchors, self.weights)

    def decode(self, deltas: Tensor, anchors: Tensor) -> Tensor:
        """Tensor[N, 4k] deltas, Tensor[N, 4] anchors -> Tensor[N, 4k] boxes."""
        return decode_boxes(deltas, anchors, self.weights, self.clamp)

    def __repr__(self) -> str:
        return f"BoxCoder(weights={self.weights}, clamp={self.clamp:.4f})"
