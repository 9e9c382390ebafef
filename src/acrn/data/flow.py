"""Optical flow for the second stream: OpenCV DIS (default), TV-L1 or Farneback; 8-bit cache.

Flow of frame ``i`` is the flow from frame ``i`` to frame ``i + 1`` (0-based); the last frame of a
video reuses the pair ``(n - 2, n - 1)``, so a clip's flow is aligned frame by frame with its RGB.
The cache is the usual pair of 8-bit grey images per frame pair, values clipped to +-20 px and mapped
linearly to 0..255 (ACT / I3D convention)::

    <flow_dir>/<video>/flow_x_%06d.png, flow_y_%06d.png     file number i + 1 for the pair (i, i + 1)
    <flow_dir>/<video>/.done                                 written last: method, pairs, size

PNG keeps the 8-bit values exact (JPEG would not). A video without ``.done`` is (re)computed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from acrn.errors import InputError

FLOW_BOUND = 20.0  # pixels; flow is clipped to [-20, 20] before the 8-bit mapping
FLOW_METHODS = ("dis", "tvl1", "farneback")
DONE = ".done"

FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def encode_flow(flow: np.ndarray) -> np.ndarray:
    """Flow in pixels ``[..., 2]`` -> uint8: ``floor((clip(f, -20, 20) + 20) * 255 / 40 + 0.5)``."""
    f = np.clip(np.asarray(flow, np.float32), -FLOW_BOUND, FLOW_BOUND)
    return np.floor((f + FLOW_BOUND) * (255.0 / (2 * FLOW_BOUND)) + 0.5).astype(np.uint8)


def decode_flow(u8: np.ndarray) -> np.ndarray:
    """uint8 -> flow in pixels: ``v * 40 / 255 - 20`` (inverse of :func:`encode_flow` on 0..255)."""
    return np.asarray(u8, np.float32) * np.float32(2 * FLOW_BOUND / 255.0) - np.float32(FLOW_BOUND)


def make_flow_fn(method: str = "dis") -> FlowFn:
    """``fn(prev_gray, next_gray) -> float32 [H, W, 2]`` pixel flow (x, y) for uint8 grey frames.

    ``dis``: DIS optical flow, medium preset (~5 ms per 340x256 pair); ``tvl1``: Dual TV-L1 (opencv
    contrib, ~100x slower, offline only); ``farneback``: Farneback polynomial expansion.
    """
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return lambda a, b: dis.calc(a, b, None)
    if method == "tvl1":
        if not hasattr(cv2, "optflow"):
            raise InputError("flow method 'tvl1' needs opencv-contrib-python-headless (cv2.optflow is missing)")
        tvl1 = cv2.optflow.DualTVL1OpticalFlow_create()
        return lambda a, b: tvl1.calc(a, b, None)
    if method == "farneback":
        return lambda a, b: cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    raise InputError(f"unknown flow method {method!r}; choose one of {', '.join(FLOW_METHODS)}")


def gray(frame_rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2GRAY)


def pair_indices(indices: Sequence[int], num_frames: int) -> list[int]:
    """First frame of the flow pair used for each clip frame: ``clamp(i, 0, n - 2)``."""
    hi = max(num_frames - 2, 0)
    return [min(max(int(i), 0), hi) for i in indices]


class FlowCache:
    """Reads and writes the 8-bit flow cache of one dataset (layout in the module docstring)."""

    def __init__(self, folder: str | Path):
        self.root = Path(folder)
        self._done: dict[str, dict] = {}

    def file(self, video: str, pair: int, axis: str) -> Path:
        return self.root / video / f"flow_{axis}_{pair + 1:06d}.png"

    def info(self, video: str) -> dict | None:
        """The ``.done`` record of a finished video, or ``None``."""
        if video not in self._done:
            p = self.root / video / DONE
            if not p.is_file():
                return None
            try:
                self._done[video] = json.loads(p.read_text())
            except (OSError, ValueError):
                return None
        return self._done[video]

    def read(self, video: str, indices: Sequence[int], num_frames: int) -> np.ndarray:
        """Flow of clip frames ``indices`` -> ``uint8 [T, H, W, 2]`` (x, y)."""
        if self.info(video) is None:
            raise InputError(f"{self.root / video}: no finished flow cache for video {video!r}; run "
                             f"`acrn flow extract` (or set data.flow=online)")
        out, cache = [], {}
        for p in pair_indices(indices, num_frames):
            if p not in cache:
                xy = []
                for axis in "xy":
                    f = self.file(video, p, axis)
                    data = np.fromfile(f, np.uint8) if f.is_file() else np.zeros(0, np.uint8)
                    img = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE) if data.size else None
                    if img is None:
                        raise InputError(f"{f}: missing or unreadable flow image")
                    xy.append(img)
                cache[p] = np.stack(xy, -1)
            out.append(cache[p])
        return np.stack(out)


def online_flow(frames: np.ndarray, fn: FlowFn) -> np.ndarray:
    """Flow of consecutive frame pairs: ``uint8 [2T, H, W, 3]`` laid out (first, second) per pair ->
    encoded ``uint8 [T, H, W, 2]``."""
    out = [encode_flow(fn(gray(frames[2 * t]), gray(frames[2 * t + 1]))) for t in range(frames.shape[0] // 2)]
    return np.stack(out)


def extract_video(frames: Iterator[np.ndarray], out_dir: Path, method: str = "dis",
                  size: tuple[int, int] | None = None, progress: Callable[[int], None] | None = None) -> int:
    """Compute and cache the flow of every consecutive frame pair of one video; returns the pair count.

    ``frames`` yields uint8 RGB frames in order; ``size`` ``(h, w)`` resizes them first (None: native).
    The ``.done`` marker is written last (atomically), so an interrupted video is recomputed next time.
    """
    from acrn.cli.common import atomic_write_text

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / DONE).unlink(missing_ok=True)
    fn = make_flow_fn(method)
    prev = None
    n = 0
    shape = None
    for frame in frames:
        if size is not None and frame.shape[:2] != tuple(size):
            frame = cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        g = gray(frame)
        if prev is not None:
            u8 = encode_flow(fn(prev, g))
            shape = u8.shape[:2]
            for k, axis in enumerate("xy"):
                if not cv2.imwrite(str(out_dir / f"flow_{axis}_{n + 1:06d}.png"), u8[..., k]):
                    raise InputError(f"{out_dir}: cannot write flow images (disk full or read-only?)")
            n += 1
            if progress is not None:
                progress(1)
        prev = g
    if prev is None:
        raise InputError(f"{out_dir.name}: no frames to compute flow from")
    if n == 0:  # a one-frame video: zero flow so that lookups still work
        z = np.full(prev.shape, 128, np.uint8)
        for axis in "xy":
            cv2.imwrite(str(out_dir / f"flow_{axis}_{1:06d}.png"), z)
        n, shape = 1, prev.shape
    atomic_write_text(out_dir / DONE, json.dumps({"method": method, "pairs": n, "size": list(shape)}) + "\n")
    return n


__all__ = ["FLOW_BOUND", "FLOW_METHODS", "FlowCache", "decode_flow", "encode_flow", "extract_video",
           "make_flow_fn", "online_flow", "pair_indices"]
