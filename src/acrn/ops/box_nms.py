"""Greedy non-maximum suppression, vectorised.

Semantics are torchvision's: boxes are visited in order of decreasing score, and a box is dropped when
its IoU with an already kept box is strictly greater than ``iou_threshold``. Equal scores are visited in
increasing original index (a stable sort), so the output is deterministic.

Instead of a Python loop over boxes, the sorted boxes are processed in blocks: a block is first pruned
by the boxes kept in earlier blocks (one IoU matrix), then the greedy pass inside the block is solved on
its boolean "j suppresses i" matrix by fixed-point iteration, which needs as many steps as the longest
chain of suppressions in the block, usually a handful.
"""

from __future__ import annotations

import torch
from torch import Tensor

from acrn.ops import _backend
from acrn.ops.boxes import box_area

# Boxes per block: the block IoU matrices are BLOCK x BLOCK and BLOCK x (boxes kept so far).
BLOCK = 1024


def _check(boxes: Tensor, scores: Tensor, idxs: Tensor | None = None) -> None:
    if boxes.dim() != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be Tensor[N, 4], got {tuple(boxes.shape)}")
    if scores.shape != boxes.shape[:1]:
        raise ValueError(f"scores must be Tensor[N] with N = {boxes.shape[0]}, got {tuple(scores.shape)}")
    if idxs is not None and idxs.shape != boxes.shape[:1]:
        raise ValueError(f"idxs must be Tensor[N] with N = {boxes.shape[0]}, got {tuple(idxs.shape)}")


def _suppression(a: Tensor, b: Tensor, ga: Tensor | None, gb: Tensor | None, thr: float) -> Tensor:
    """Tensor[n, m] bool: box a[j] would suppress box b[i] (IoU > thr, same group when groups are given).

    The IoU is computed with the very operations of box_iou (so decisions at the threshold agree), but in
    place: this is the hot loop of NMS and no gradient is needed.
    """
    a, b = a[:, None, :], b[None, :, :]
    w = torch.minimum(a[..., 2], b[..., 2])
    w.sub_(torch.maximum(a[..., 0], b[..., 0])).clamp_(min=0)
    h = torch.minimum(a[..., 3], b[..., 3])
    h.sub_(torch.maximum(a[..., 1], b[..., 1])).clamp_(min=0)
    inter = w.mul_(h)
    union = (box_area(a) + box_area(b)).sub_(inter)
    over = inter.div_(union) > thr
    if ga is not None and gb is not None:
        over &= ga[:, None] == gb[None, :]
    return over


def _greedy_in_block(over: Tensor) -> Tensor:
    """Greedy NMS result for boxes sorted by score, given ``over[j, i]`` = box j would suppress box i.

    keep[i] = not any(keep[j] and over[j, i] for j < i) has exactly one solution; Jacobi iteration from
    "keep all" reaches it (after step t the first t entries are final), so we stop at the first repeat.
    """
    over = torch.triu(over, diagonal=1).to(torch.float32)  # only earlier (higher-scoring) boxes count
    keep = torch.ones(over.shape[0], dtype=torch.bool, device=over.device)
    for _ in range(over.shape[0]):
        new = (keep.to(torch.float32) @ over) == 0
        if torch.equal(new, keep):
            break
        keep = new
    return keep


def _nms_blocks(boxes: Tensor, groups: Tensor | None, iou_threshold: float) -> Tensor:
    """Keep mask, Tensor[N] bool, for boxes sorted by score: blockwise dense IoU matrices."""
    kept: list[Tensor] = []  # positions (in score order) kept, one tensor per block
    for start in range(0, boxes.shape[0], BLOCK):
        pos = torch.arange(start, min(start + BLOCK, boxes.shape[0]), device=boxes.device)
        if kept:
            prev = torch.cat(kept)
            g_prev = None if groups is None else groups[prev]
            g_pos = None if groups is None else groups[pos]
            hit = _suppression(boxes[prev], boxes[pos], g_prev, g_pos, iou_threshold).any(dim=0)
            pos = pos[~hit]
        if pos.numel() == 0:
            continue
        g_pos = None if groups is None else groups[pos]
        over = _suppression(boxes[pos], boxes[pos], g_pos, g_pos, iou_threshold)
        kept.append(pos[_greedy_in_block(over)])
    keep = torch.zeros(boxes.shape[0], dtype=torch.bool, device=boxes.device)
    if kept:
        keep[torch.cat(kept)] = True
    return keep


def _nms_torch(boxes: Tensor, scores: Tensor, iou_threshold: float, idxs: Tensor | None = None) -> Tensor:
    """Pure PyTorch greedy NMS; with ``idxs`` only boxes of the same group suppress each other."""
    order = torch.sort(scores.detach(), descending=True, stable=True).indices
    boxes = boxes.detach()[order]
    groups = None if idxs is None else idxs[order]
    return order[_nms_blocks(boxes, groups, iou_threshold)]


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy non-maximum suppression.

    Args:
        boxes: Tensor[N, 4] (x1, y1, x2, y2); scores: Tensor[N];
        iou_threshold: boxes with IoU > this with a higher-scoring kept box are discarded.
    Returns:
        Tensor[K] int64 indices of the kept boxes, in decreasing score order (ties: increasing index on
        the pure PyTorch path; torchvision does not promise an order for ties).
    """
    _check(boxes, scores)
    if _backend.USE_TORCHVISION:
        return _backend.tv_ops.nms(boxes, scores, float(iou_threshold))
    return _nms_torch(boxes, scores, float(iou_threshold))


def batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    """Per-class NMS: boxes with different ``idxs`` never suppress each other.

    Equivalent to the coordinate-offset trick (shift each class far apart, one NMS), but the pure path
    masks the suppression matrix by class instead, which is exact even where large float32 offsets would
    round the coordinates.

    Args:
        boxes: Tensor[N, 4]; scores: Tensor[N]; idxs: Tensor[N] integer class (or image) of each box.
    Returns:
        Tensor[K] int64 indices of the kept boxes, in decreasing score order.
    """
    _check(boxes, scores, idxs)
    if _backend.USE_TORCHVISION:
        return _backend.tv_ops.batched_nms(boxes, scores, idxs, float(iou_threshold))
    return _nms_torch(boxes, scores, float(iou_threshold), idxs)
