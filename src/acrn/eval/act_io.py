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

from acrn.cli.common import atomic_write_bytes, atomic_write_text
from acrn.errors import InputError
from acrn.eval.ava_csv import _Reader, run_reader
from acrn.eval.tube_iou import Tubes
from acrn.eval.tubes_json import parse_tubes_json
from acrn.eval.tubes_npz import NPZ_MAGIC, parse_tubes_npz, tubes_to_npz

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


def read_tubes(path: str | Path, videos: list[str], nlabels: int, warnings: list[str] | None = None,
               split_name: str = "the ground truth's test split") -> Tubes:
    """Tubes JSON -> :class:`Tubes` with video indices into ``videos``.

    Tubes of videos outside ``videos`` are checked, then ignored with one line in ``warnings`` (ACT loads only
    the split's videos); without ``warnings`` they are an error. Unknown labels and bad tubes are errors.
    The usual layout is read vectorised (:mod:`acrn.eval.tubes_json`), anything else with ``json.loads``; a
    ``.npz`` tubes file (:mod:`acrn.eval.tubes_npz`, recognised by its zip magic) is read as arrays."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None
    parsed = parse_tubes_npz(path, raw) if raw.startswith(NPZ_MAGIC) else parse_tubes_json(raw)
    if parsed is None:
        return _read_tubes_loaded(path, _load_json(path, raw), videos, nlabels, warnings, split_name)
    index = {v: i for i, v in enumerate(videos)}
    vidx = np.array([index.get(v, -1) for v in parsed.names], dtype=np.int64)
    first_of_video = np.searchsorted(parsed.video, np.arange(len(parsed.names)))
    finite = np.logical_and.reduceat(np.isfinite(parsed.rows).all(1), np.concatenate([[0], np.cumsum(
        parsed.counts)[:-1]])) if parsed.counts.size else np.zeros(0, bool)
    bad = (parsed.label < 0) | (parsed.label >= nlabels) | ~np.isfinite(parsed.score) | ~finite
    if bad.any():
        t = int(np.argmax(bad))
        v = int(parsed.video[t])
        where = f"{path}: {parsed.names[v]}[{t - int(first_of_video[v])}]"
        if not 0 <= parsed.label[t] < nlabels:
            raise InputError(f"{where}: label {int(parsed.label[t])} outside 0..{nlabels - 1}")
        raise InputError(f"{where}: score must be finite and boxes an [n, 5] list of finite numbers")
    tube_vid = vidx[parsed.video]
    keep = tube_vid >= 0
    if not keep.all() and warnings is None:
        raise InputError(f"{path}: video {parsed.names[int(parsed.video[np.argmin(keep)])]!r} is not in {split_name}")
    outside = [n for n, i in zip(parsed.names, vidx, strict=True) if i < 0]
    _tube_warnings(path, warnings, outside, int(keep.size - keep.sum()), bool(keep.any()), split_name)
    rows = parsed.rows if keep.all() else parsed.rows[np.repeat(keep, parsed.counts)]
    return Tubes.from_rows(tube_vid[keep], parsed.label[keep], parsed.score[keep], parsed.counts[keep], rows,
                           str(path))


def _load_json(path: Path, raw: bytes):
    try:
        return json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: invalid JSON ({e})") from None


def _tube_warnings(path, warnings, outside: list[str], ignored: int, any_kept: bool, split_name: str) -> None:
    if warnings is None:
        return
    if outside:
        warnings.append(f"{path}: {ignored} tubes of {len(outside)} video(s) not in {split_name} ignored (e.g. "
                        f"{outside[0]!r}), as ACT evaluates only the split's videos")
    if not any_kept:
        warnings.append(f"{path}: no tubes on the split's videos: every label scores video-AP 0, as in ACT")


def _read_tubes_loaded(path: Path, data, videos: list[str], nlabels: int, warnings: list[str] | None,
                       split_name: str) -> Tubes:
    """:func:`read_tubes` from the ``json.loads`` result, tube by tube (any JSON layout)."""
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected {{video: [{{label, score, boxes}}]}}")
    index = {v: i for i, v in enumerate(videos)}
    items, outside, ignored = [], [], 0
    for video, tubes in data.items():
        if video not in index:
            if warnings is None:
                raise InputError(f"{path}: video {video!r} is not in {split_name}")
            outside.append(video)
        if not isinstance(tubes, list):
            raise InputError(f"{path}: {video}: expected a list of tubes")
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
            if video in index:
                items.append((index[video], label, score, boxes))
            else:
                ignored += 1
    _tube_warnings(path, warnings, outside, ignored, bool(items), split_name)
    return Tubes.from_list(items, str(path))


def write_tubes(path: str | Path, tubes: dict[str, list[dict]]) -> None:
    """Tubes file at ``path``: the compact ``.npz`` when the name ends so, else JSON (the interchange format)."""
    if str(path).endswith(".npz"):
        atomic_write_bytes(path, tubes_to_npz(tubes))
    else:
        atomic_write_text(path, tubes_to_json(tubes) + "\n")


def tubes_to_json(tubes: dict[str, list[dict]]) -> str:
    """``{video: [{"label", "score", "boxes" float[n, 5]}]}`` -> JSON text."""
    out = {v: [{"label": int(t["label"]), "score": float(t["score"]),
                "boxes": [[int(r[0])] + [round(float(x), 3) for x in r[1:5]] for r in np.asarray(t["boxes"])]}
               for t in ts] for v, ts in tubes.items()}
    return json.dumps(out)
