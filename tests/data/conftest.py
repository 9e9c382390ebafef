"""Fixtures for the data tests: media files in the exact real layouts, made on the fly.

Every synthetic frame paints its own 0-based frame index as a 10-bit barcode of big black/white
columns, so JPEG / H.264 loss cannot change it and frame-accurate seeking is checked exactly.
"""

from __future__ import annotations

import pickle
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

BITS = 10

LABELMAP_V21 = """item {
  name: "stand"
  id: 12
}
item {
  name: "talk to (e.g., self, a person, a group)"
  id: 79
}
item {
  name: "watch (a person)"
  id: 80
}
"""

# Real rows quoted in shared/specs/formats-and-metrics.md.
AVA_ROWS = """-5KQ66BBWC4,0902,0.077,0.151,0.283,0.811,80,1
1j20qq1JyX4,0902,0.002,0.118,0.714,0.977,12,1
1j20qq1JyX4,0902,0.002,0.118,0.714,0.977,79,1
0f39OWEqJ24,0902,0.031,0.162,0.670,0.995,12,0
"""


def barcode_frame(index: int, h: int = 48, w: int = 80) -> np.ndarray:
    """``uint8 [h, w, 3]`` RGB whose columns spell ``index`` in binary (bit b = column b)."""
    img = np.zeros((h, w, 3), np.uint8)
    for b in range(BITS):
        if (index >> b) & 1:
            img[:, b * w // BITS:(b + 1) * w // BITS] = 255
    return img


def read_barcode(img: np.ndarray) -> int:
    """Inverse of :func:`barcode_frame` (reads the centre of each column)."""
    h, w = img.shape[:2]
    out = 0
    for b in range(BITS):
        x0, x1 = b * w // BITS, (b + 1) * w // BITS
        pad = max(1, (x1 - x0) // 4)
        if img[:, x0 + pad:x1 - pad].mean() > 127:
            out |= 1 << b
    return out


def write_video(path: Path, n: int, rate: Fraction | int, offset_s: float = 0.0, h: int = 48,
                w: int = 80, gop: int = 12) -> Path:
    """An H.264 mp4 of ``n`` barcode frames at ``rate`` fps whose first pts is ``offset_s`` seconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(rate)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=rate)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.time_base = 1 / rate
        s.options = {"g": str(gop), "crf": "18"}
        off = int(round(offset_s * rate))
        for i in range(n):
            f = av.VideoFrame.from_ndarray(barcode_frame(i, h, w), format="rgb24")
            f.pts = off + i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def write_frames(folder: Path, n: int, pattern: str, h: int = 48, w: int = 80) -> Path:
    """``n`` barcode frames as ``folder/pattern % file_number`` (1-based file numbers)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = barcode_frame(i, h, w)
        cv2.imwrite(str(folder / pattern.format(num=i + 1)), img[:, :, ::-1])
    return folder


def write_custom(root: Path, videos: dict[str, tuple[int, Fraction | int, float]], rows: str,
                 split: str = "train") -> Path:
    """A custom AVA-format dataset: ``videos/<vid>.mp4``, ``annotations/{split}.csv``, label map."""
    for vid, (n, rate, off) in videos.items():
        write_video(root / "videos" / f"{vid}.mp4", n, rate, off)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / f"{split}.csv").write_text(rows)
    (root / "annotations" / "labelmap.pbtxt").write_text(LABELMAP_V21)
    return root


def write_gt_pickle(path: Path, gt: dict) -> Path:
    """A Python-2-compatible (protocol 2) ground-truth pickle, like ACT's files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(gt, f, protocol=2)
    return path


class Media:
    """Namespace of the helpers, for tests (``media.write_video(...)``)."""

    barcode_frame = staticmethod(barcode_frame)
    read_barcode = staticmethod(read_barcode)
    write_video = staticmethod(write_video)
    write_frames = staticmethod(write_frames)
    write_custom = staticmethod(write_custom)
    write_gt_pickle = staticmethod(write_gt_pickle)
    LABELMAP_V21 = LABELMAP_V21
    AVA_ROWS = AVA_ROWS


@pytest.fixture
def media() -> type[Media]:
    return Media
