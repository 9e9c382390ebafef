"""ACT interchange files: frame detections CSV and tubes JSON.

* Frame detections: CSV with header ``video,frame,label,score,x1,y1,x2,y2``; label = index into the ground
  truth's ``labels``, frame 1-based, boxes in pixels.
* Tubes: JSON ``{video: [{"label": int, "score": float, "boxes": [[frame, x1, y1, x2, y2], ...]}]}``; also
  read: its ``.npz`` form (:mod:`acrn.eval.tubes_npz`) and ACT's ``<video>_tubes.pkl`` folder
  (:mod:`acrn.eval.tubes_act`).
"""

from __future__ import annotations

import json
import math
import mmap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from acrn.errors import InputError
from acrn.eval.tube_iou import Tubes
from acrn.eval.tubes_npz import NPZ_MAGIC, parse_tubes_npz, tubes_to_npz

FRAME_HEADER = "video,frame,label,score,x1,y1,x2,y2"


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


def read_frame_dets(path: str | Path) -> FrameDets:
    """Read a frame-detections CSV (header required): :func:`acrn.eval.act_frames.read_frame_dets`, imported
    here on first use, so that reading tubes does not load the CSV machinery."""
    from acrn.eval.act_frames import read_frame_dets as read

    return read(path)


def write_frame_dets(path: str | Path, dets: FrameDets) -> None:
    from acrn.cli.common import atomic_write_text  # (the CLI helpers load the config module: ~20 ms)

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
    ``.npz`` tubes file (:mod:`acrn.eval.tubes_npz`, recognised by its zip magic) is read as arrays; a folder
    is read as ACT's own ``<video>_tubes.pkl`` files (:mod:`acrn.eval.tubes_act`)."""
    path = Path(path)
    if path.is_dir():  # ACT's own <video>_tubes.pkl files
        from acrn.eval.tubes_act import read_act_tubes_dir

        tubes = read_act_tubes_dir(path, videos, nlabels)
        _tube_warnings(path, warnings, [], 0, tubes.size > 0, split_name)
        return tubes
    try:
        raw = _read_tubes_file(path)
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None
    if raw[:4] == NPZ_MAGIC:
        parsed = parse_tubes_npz(path, raw)
    else:
        from acrn.eval.tubes_json import parse_tubes_json  # (loads the CSV number parsers: not for a .npz)

        parsed = parse_tubes_json(raw)
    if parsed is None:
        return _read_tubes_loaded(path, _load_json(path, raw), videos, nlabels, warnings, split_name)
    index = {v: i for i, v in enumerate(videos)}
    vidx = np.array([index.get(v, -1) for v in parsed.names], dtype=np.int64)
    first_of_video = np.searchsorted(parsed.video, np.arange(len(parsed.names)))
    finite = np.ones(parsed.counts.size, bool)
    if parsed.counts.size and not np.isfinite(parsed.rows.sum()):  # one pass: a NaN or inf makes the sum one
        finite = np.logical_and.reduceat(np.isfinite(parsed.rows).all(1), np.concatenate([[0], np.cumsum(
            parsed.counts)[:-1]]))
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


def _read_tubes_file(path: Path):
    """The file memory-mapped read-only (populated: its pages mapped in one call, not a fault each), else its
    bytes (no POSIX mmap, an empty file). No copy into fresh memory (~0.1 s less for 90 MB): a ``.npz``'s
    arrays are views of the page cache, the JSON reader scans it in place. The mapping stays valid after the
    file is replaced (``acrn link`` writes atomically: the old file lives on while mapped)."""
    with open(path, "rb") as f:
        try:
            flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
            return mmap.mmap(f.fileno(), 0, flags=flags, prot=mmap.PROT_READ)
        except (AttributeError, OSError, ValueError):  # no POSIX mmap (Windows), an empty or unmappable file
            return f.read()


def _load_json(path: Path, raw) -> object:
    try:
        return json.loads(bytes(raw).decode("utf-8"))  # (bytes: a copy of a memory map)
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
    from acrn.cli.common import atomic_write_bytes, atomic_write_text

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
