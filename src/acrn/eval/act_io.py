"""ACT interchange files: frame detections CSV and tubes JSON.

* Frame detections: CSV with header ``video,frame,label,score,x1,y1,x2,y2``; label = index into the ground
  truth's ``labels``, frame 1-based, boxes in pixels.
* Tubes: JSON ``{video: [{"label": int, "score": float, "boxes": [[frame, x1, y1, x2, y2], ...]}]}``.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from acrn.cli.common import atomic_write_text
from acrn.errors import InputError
from acrn.eval.ava_csv import _Reader, run_reader
from acrn.eval.tube_iou import Tubes

FRAME_HEADER = "video,frame,label,score,x1,y1,x2,y2"
_NAMES = FRAME_HEADER.split(",")


@dataclass
class FrameDets:
    """N frame detections: video names + video int[N] (index into ``names``), frame int[N], label int[N],
    score float64[N], boxes float64[N, 4] (x1, y1, x2, y2 pixels)."""

    names: list[str]
    video: np.ndarray
    frame: np.ndarray
    label: np.ndarray
    score: np.ndarray
    boxes: np.ndarray


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


def write_frame_dets(path: str | Path, dets: FrameDets) -> None:
    lines = [FRAME_HEADER]
    for v, f, lab, s, b in zip(dets.video, dets.frame, dets.label, dets.score, dets.boxes, strict=True):
        lines.append(f"{dets.names[v]},{f},{lab},{s!r},{b[0]!r},{b[1]!r},{b[2]!r},{b[3]!r}")
    atomic_write_text(path, "\n".join(lines) + "\n")


def read_tubes(path: str | Path, videos: list[str], nlabels: int) -> Tubes:
    """Tubes JSON -> :class:`Tubes` with video indices into ``videos``; unknown videos/labels are errors."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: invalid JSON ({e})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected {{video: [{{label, score, boxes}}]}}")
    index = {v: i for i, v in enumerate(videos)}
    items = []
    for video, tubes in data.items():
        if video not in index:
            raise InputError(f"{path}: video {video!r} is not in the ground truth's test split")
        for k, t in enumerate(tubes):
            where = f"{path}: {video}[{k}]"
            try:
                label, score, boxes = int(t["label"]), float(t["score"]), np.asarray(t["boxes"], dtype=np.float64)
            except (KeyError, TypeError, ValueError):
                raise InputError(f"{where}: expected {{\"label\": int, \"score\": float, \"boxes\": "
                                 "[[frame, x1, y1, x2, y2], ...]}") from None
            if not 0 <= label < nlabels:
                raise InputError(f"{where}: label {label} outside 0..{nlabels - 1}")
            if not math.isfinite(score) or boxes.ndim != 2 or boxes.shape[1] != 5 or not np.isfinite(boxes).all():
                raise InputError(f"{where}: score must be finite and boxes an [n, 5] list of finite numbers")
            items.append((index[video], label, score, boxes))
    return Tubes.from_list(items, str(path))


def tubes_to_json(tubes: dict[str, list[dict]]) -> str:
    """``{video: [{"label", "score", "boxes" float[n, 5]}]}`` -> JSON text."""
    out = {v: [{"label": int(t["label"]), "score": float(t["score"]),
                "boxes": [[int(r[0])] + [round(float(x), 3) for x in r[1:5]] for r in np.asarray(t["boxes"])]}
               for t in ts] for v, ts in tubes.items()}
    return json.dumps(out)
