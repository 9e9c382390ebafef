"""Clip transforms: short-side resize (test), short-side scale jitter + crop + horizontal flip (train).

A transform is planned once per clip (:class:`Geometry`) and applied to every frame, to the flow and
to the boxes, so they stay aligned. The mapping from original to input pixels is::

    x_in = x_orig * sx - ox,  y_in = y_orig * sy - oy        then, if flipped,  x_in <- w_in - x_in

with ``scale = (sy, sx)``, ``offset = (oy, ox)`` and ``(h_in, w_in) = size`` (``Sample.meta``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class Geometry:
    """What one transform does to a clip.

    Attributes:
        resized: ``(h, w)`` after the short-side resize.
        size: ``(h_in, w_in)`` of the network input (after the crop).
        scale: ``(sy, sx)`` = resized / original size per axis.
        offset: ``(oy, ox)`` top-left corner of the crop in resized pixels.
        flipped: horizontal flip after the crop.
    """

    resized: tuple[int, int]
    size: tuple[int, int]
    scale: tuple[float, float]
    offset: tuple[int, int]
    flipped: bool


def short_side_size(orig: tuple[int, int], short: int) -> tuple[int, int]:
    """``(h, w)`` with the short side equal to ``short`` and the aspect ratio kept (long side rounded)."""
    h, w = orig
    if h <= w:
        return short, max(1, int(round(w * short / h)))
    return max(1, int(round(h * short / w))), short


def plan_test(orig: tuple[int, int], short_side: int) -> Geometry:
    """Test-time geometry: short-side resize only."""
    rh, rw = short_side_size(orig, short_side)
    return Geometry((rh, rw), (rh, rw), (rh / orig[0], rw / orig[1]), (0, 0), False)


def plan_train(orig: tuple[int, int], short_range: tuple[int, int], crop: int, flip: bool,
               rng: np.random.Generator) -> Geometry:
    """Training geometry: short side uniform in ``short_range`` (inclusive), random ``crop`` x ``crop``
    window (``crop = 0``: none; a side shorter than ``crop`` is kept whole), flip with probability 1/2."""
    short = int(rng.integers(short_range[0], short_range[1] + 1))
    rh, rw = short_side_size(orig, short)
    ch, cw = (min(crop, rh), min(crop, rw)) if crop > 0 else (rh, rw)
    oy = int(rng.integers(0, rh - ch + 1))
    ox = int(rng.integers(0, rw - cw + 1))
    flipped = bool(flip and rng.random() < 0.5)
    return Geometry((rh, rw), (ch, cw), (rh / orig[0], rw / orig[1]), (oy, ox), flipped)


@dataclass(frozen=True)
class TestTransform:
    """Short-side resize to ``short_side`` (evaluation)."""

    short_side: int

    def __call__(self, orig: tuple[int, int], rng: np.random.Generator) -> Geometry:
        return plan_test(orig, self.short_side)


@dataclass(frozen=True)
class TrainTransform:
    """Short-side jitter in ``short_range``, random ``crop``, random horizontal ``flip`` (training)."""

    short_range: tuple[int, int]
    crop: int
    flip: bool

    def __call__(self, orig: tuple[int, int], rng: np.random.Generator) -> Geometry:
        return plan_train(orig, self.short_range, self.crop, self.flip, rng)


def apply_frames(frames: np.ndarray, g: Geometry) -> np.ndarray:
    """``[T, H, W, C]`` (uint8 RGB or float flow) -> ``[T, h_in, w_in, C]``: resize, crop, flip.

    Flow x components must be negated by the caller when ``g.flipped`` (see :func:`apply_flow`).
    """
    rh, rw = g.resized
    oy, ox = g.offset
    h, w = g.size
    if frames.shape[1:3] == (h, w) and (rh, rw) == (h, w) and not g.flipped:
        return frames  # nothing to do (test transform after a resize by the reader)
    out = np.empty((frames.shape[0], h, w, frames.shape[3]), frames.dtype)
    for t in range(frames.shape[0]):
        f = frames[t]
        if f.shape[:2] != (rh, rw):
            f = cv2.resize(f, (rw, rh), interpolation=cv2.INTER_LINEAR)
            if f.ndim == 2:
                f = f[:, :, None]
        f = f[oy:oy + h, ox:ox + w]
        if g.flipped:  # OpenCV's flip: numpy's reversed-stride copy was the slowest step of a clip
            cv2.flip(f, 1, dst=out[t].reshape(f.shape))
        else:
            out[t] = f
    return out


def apply_boxes(boxes: np.ndarray, g: Geometry, min_size: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Boxes ``[K, 4]`` xyxy original pixels -> ``([K', 4] input pixels, keep mask [K])``.

    Boxes are clipped to the input; a box whose clipped width or height is below ``min_size`` pixels
    (cropped away) is dropped, and ``keep`` says which rows survive (to select their labels).
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4).copy()
    sy, sx = g.scale
    oy, ox = g.offset
    h, w = g.size
    b[:, [0, 2]] = b[:, [0, 2]] * sx - ox
    b[:, [1, 3]] = b[:, [1, 3]] * sy - oy
    b[:, [0, 2]] = b[:, [0, 2]].clip(0, w)
    b[:, [1, 3]] = b[:, [1, 3]].clip(0, h)
    if g.flipped:
        b[:, [0, 2]] = w - b[:, [2, 0]]
    keep = ((b[:, 2] - b[:, 0]) >= min_size) & ((b[:, 3] - b[:, 1]) >= min_size)
    return b[keep].astype(np.float32), keep


def inverse_boxes(boxes: np.ndarray, g: Geometry) -> np.ndarray:
    """Input-pixel boxes back to original pixels (undo flip, crop and scale)."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4).copy()
    if g.flipped:
        b[:, [0, 2]] = g.size[1] - b[:, [2, 0]]
    b[:, [0, 2]] = (b[:, [0, 2]] + g.offset[1]) / g.scale[1]
    b[:, [1, 3]] = (b[:, [1, 3]] + g.offset[0]) / g.scale[0]
    return b


def to_tensor(frames: np.ndarray, mean: list[float], std: list[float], out: Tensor | None = None) -> Tensor:
    """uint8 ``[T, H, W, 3]`` RGB -> float ``Tensor[3, T, H, W]``, ``(x / 255 - mean) / std``.

    ``out``: a float32 ``Tensor[3, T, H, W]`` to write into (e.g. in shared memory), else allocated.
    """
    t, h, w, c = frames.shape
    if out is None:
        out = torch.empty((c, t, h, w), dtype=torch.float32)
    if out.shape != (c, t, h, w) or out.dtype != torch.float32 or not out.is_contiguous():
        raise ValueError(f"out must be a contiguous float32 Tensor[{c}, {t}, {h}, {w}], got {out.dtype} "
                         f"{tuple(out.shape)}")
    if out.numel() == 0:
        return out
    # One pass per channel that reads uint8 and writes float32 (OpenCV: 2-3x faster than torch's
    # permute + float + affine, each of which walks the whole clip).
    planes = cv2.split(np.ascontiguousarray(frames).reshape(t * h, w, c))
    dst = out.numpy().reshape(c, t * h, w)
    for k in range(c):
        a = 1.0 / (255.0 * std[k])
        cv2.addWeighted(planes[k], a, planes[k], 0.0, -mean[k] / std[k], dst=dst[k], dtype=cv2.CV_32F)
    return out


def apply_flow(flow_u8: np.ndarray, g: Geometry) -> Tensor:
    """Cached 8-bit flow ``uint8 [T, H, W, 2]`` (x, y) -> ``Tensor[2, T, h_in, w_in]`` in [-1, 1].

    The 8-bit value v maps back to ``v / 255 * 40 - 20`` pixels; dividing by the 20 px clip bound gives
    the usual [-1, 1] input of flow networks. A flip mirrors the image and negates the x component.
    """
    f = apply_frames(flow_u8, g)
    x = torch.from_numpy(np.ascontiguousarray(f)).permute(3, 0, 1, 2).float()
    x = x.mul_(2.0 / 255.0).sub_(1.0)
    if g.flipped:
        x[0].neg_()
    return x


__all__ = ["Geometry", "TestTransform", "TrainTransform", "apply_boxes", "apply_flow", "apply_frames",
           "inverse_boxes", "plan_test", "plan_train", "short_side_size", "to_tensor"]
