"""Reading ACT frame-detection CSVs (``video,frame,label,score,x1,y1,x2,y2``, header required): blocks of rows
parsed vectorised, other rows with Python's ``csv``/``int``/``float`` (see :mod:`acrn.eval.ava_csv`)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from acrn.eval.act_io import FRAME_HEADER, FrameDets
from acrn.eval.ava_csv import _Reader, run_reader

_NAMES = FRAME_HEADER.split(",")


class _FrameReader(_Reader):
    def is_int_col(self, j: int) -> bool:
        return j in (1, 2)

    def parse_field(self, col: int, text: str, line: int) -> float:
        try:
            value = float(int(text)) if col in (1, 2) else float(text)
        except ValueError:
            kind = "an integer" if col in (1, 2) else "a number"
            raise self.fail(line, f"column {col + 1} ({_NAMES[col]}) must be {kind}, got {text!r}") from None
        if not math.isfinite(value):
            raise self.fail(line, f"column {col + 1} ({_NAMES[col]}) must be finite, got {text!r}")
        return value

    def emit(self, vid: np.ndarray, vals: np.ndarray, line0: int) -> None:
        if vals.shape[1] != 7:
            raise self.fail(line0, f"expected 8 columns {FRAME_HEADER}, got {vals.shape[1] + 1}")
        bad = ~np.isfinite(vals).all(1)
        if bad.any():
            raise self.fail(line0 + int(np.argmax(bad)), "scores and coordinates must be finite numbers")
        self.parts.append((vid, vals))

    def slow_chunk(self, text: str, line0: int) -> None:
        vid, vals = [], []
        for i, row in enumerate(csv.reader(text.splitlines())):
            if len(row) != 8:
                raise self.fail(line0 + i, f"expected 8 columns {FRAME_HEADER}, got {len(row)}")
            vid.append(self.video_index(row[0]))
            vals.append([self.parse_field(j, row[j], line0 + i) for j in range(1, 8)])
        self.parts.append((np.array(vid, np.int64), np.array(vals, np.float64).reshape(-1, 7)))


def read_frame_dets(path: str | Path) -> FrameDets:
    """Read a frame-detections CSV (header required)."""
    path = Path(path)
    reader = _FrameReader(path, "act", {}, False)
    run_reader(reader, path, skip_header=b"video,")
    vid = np.concatenate([p[0] for p in reader.parts]) if reader.parts else np.zeros(0, np.int64)
    vals = np.concatenate([p[1] for p in reader.parts]) if reader.parts else np.zeros((0, 7))
    names = sorted(reader.videos, key=reader.videos.get)
    return FrameDets(names, vid, vals[:, 0].astype(np.int64), vals[:, 1].astype(np.int64), vals[:, 2], vals[:, 3:7])
