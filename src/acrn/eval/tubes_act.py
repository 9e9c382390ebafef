"""ACT's own tube files: a folder holding ``<video>_tubes.pkl`` for each test video, as ACT's ``BuildTubes``
(and MOC-Detector's port of it) writes them for its ``videoAP``.

Each pickle is ``{label index: [[tube float[n, 6], score], ...]}``: 0-based labels, tube rows (frame, x1, y1,
x2, y2, frame score) in pixels, float32 in ACT, the tube's score a numpy scalar. They are read with the safe
unpickler (containers, numbers and numpy arrays only: a hostile pickle cannot run code). As in ACT, only the
split's videos are read (other files in the folder are never opened) and a test video without its file is an
error (ACT stops: "Missing extracted tubes"). The frame-score column is not used: ACT's video-AP ranks tubes
by their own score. A label without an entry has no tubes.
"""

from __future__ import annotations

import gc
import math
import operator
from pathlib import Path

import numpy as np

from acrn.errors import InputError
from acrn.eval.io import safe_load_pickle
from acrn.eval.tube_iou import Tubes

SUFFIX = "_tubes.pkl"
_NUMERIC = "fiu"  # dtype kinds a tube may have (not bool, complex or object)


def read_act_tubes_dir(root: str | Path, videos: list[str], nlabels: int) -> Tubes:
    """The tubes of ``videos`` (video index = position in ``videos``) from ACT's ``<video>_tubes.pkl`` files
    under ``root``, labels in 0..nlabels-1, each video's tubes in label order, then file order.

    The 56,700 tubes of JHMDB scale are checked in bulk (a Python check per tube costs ~0.1 s); only where
    that fails are they checked one by one, for the message naming the file, label and tube."""
    enabled = gc.isenabled()
    gc.disable()  # 56,700 arrays and their lists unpickled: the cyclic collector would rescan them (~20 %)
    try:
        return _read(Path(root), videos, nlabels)
    finally:
        if enabled:
            gc.enable()


def _read(root: Path, videos: list[str], nlabels: int) -> Tubes:
    entries = []  # (video index, label, file, its list of [tube, score])
    for vi, name in enumerate(videos):
        path = root / f"{name}{SUFFIX}"
        if not path.is_file():
            raise InputError(f"{path}: missing: ACT's video-AP reads one <video>{SUFFIX} per test video "
                             f"(video {name!r} of the split)")
        per_label = safe_load_pickle(path)
        if not isinstance(per_label, dict):
            raise InputError(f"{path}: expected {{label index: [[tube float[n, 6], score], ...]}}, got a "
                             f"{type(per_label).__name__}")
        for lab in sorted(per_label, key=lambda k: _label(path, k, nlabels)):
            tubes = per_label[lab]
            if not isinstance(tubes, (list, tuple)):
                raise InputError(f"{path}: label {lab}: expected a list of [tube, score], got a {type(tubes).__name__}")
            entries.append((vi, int(lab), path, tubes))
    try:
        video, label, score, counts, rows = _in_bulk(entries)
    except (TypeError, ValueError, IndexError, AttributeError):
        for _, lab, path, tubes in entries:
            for k, item in enumerate(tubes):
                _tube(path, lab, k, item)  # raises the error of the first bad tube
        raise InputError(f"{root}: tubes that are not ACT's [[float[n, 6], score], ...] lists") from None
    if not np.isfinite(rows.sum()):  # one pass: a NaN or inf anywhere makes the sum one
        t = int(np.searchsorted(np.cumsum(counts), np.argmax(~np.isfinite(rows).all(1)), side="right"))
        e = int(np.searchsorted(np.cumsum([len(x[3]) for x in entries]), t, side="right"))
        raise InputError(f"{entries[e][2]}: label {label[t]}: a tube's rows must be finite numbers")
    return Tubes.from_rows(video, label, score, counts, rows, str(root))


def _in_bulk(entries: list) -> tuple[np.ndarray, ...]:
    """(video int64[T], label int64[T], score float64[T], counts int64[T], rows float64[R, 5]) of every
    entry's tubes; TypeError / ValueError / IndexError where one is not [numeric array [n >= 1, >= 5], finite
    number]."""
    items = [it for e in entries for it in e[3]]
    sizes = [len(e[3]) for e in entries]
    video = np.repeat(np.array([e[0] for e in entries], np.int64), sizes)
    label = np.repeat(np.array([e[1] for e in entries], np.int64), sizes)
    if not items:
        return video, label, np.zeros(0), np.zeros(0, np.int64), np.zeros((0, 5))
    if set(map(len, items)) != {2}:  # (map: the checks run at C speed, ~2 ms for JHMDB's 56,700 tubes)
        raise ValueError("an entry is not [tube, score]")
    arrays = [it[0] for it in items]
    if set(map(type, arrays)) != {np.ndarray}:
        raise TypeError("a tube is not an array")
    if any(dt.kind not in _NUMERIC for dt in set(map(operator.attrgetter("dtype"), arrays))):
        raise TypeError("a tube is not a numeric array")  # bool: refused one by one as well (_tube)
    counts = np.fromiter(map(len, arrays), dtype=np.int64, count=len(arrays))
    try:  # float64 while concatenating: one pass, no float32 copy (ACT's rows: 6 columns each)
        rows = np.concatenate(arrays, dtype=np.float64, casting="same_kind")
    except ValueError:
        rows = np.concatenate([a[:, :5] for a in arrays], dtype=np.float64, casting="same_kind")  # other widths
    score = np.array([it[1] for it in items], dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] < 5 or counts.min() < 1 or score.ndim != 1 or not np.isfinite(score).all():
        raise ValueError("a tube is not numeric [n >= 1, >= 5] with a finite score")
    return video, label, score, counts, rows[:, :5]  # (a view: the boxes stay views of it)


def _label(path: Path, key, nlabels: int) -> int:
    if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or not 0 <= key < nlabels:
        raise InputError(f"{path}: label key {key!r}: expected a label index in 0..{nlabels - 1}")
    return int(key)


def _tube(path: Path, lab, k: int, item) -> None:
    """A one-line error naming entry ``k`` of label ``lab`` when it is not [numeric array [n >= 1, >= 5], finite
    number]."""
    where = f"{path}: label {lab}, tube {k}"
    try:
        arr, score = item
        score = float(score)
    except (TypeError, ValueError):
        raise InputError(f"{where}: expected [tube float[n, 6], score]") from None
    if not isinstance(arr, np.ndarray) or arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] < 5 \
            or arr.dtype.kind not in _NUMERIC:
        shape = getattr(arr, "shape", None)
        raise InputError(f"{where}: expected a numeric array [n >= 1, 6] (frame, x1, y1, x2, y2, score), got "
                         f"{type(arr).__name__} {shape if shape is not None else ''}".rstrip())
    if not math.isfinite(score):
        raise InputError(f"{where}: the score must be a finite number, got {score}")
