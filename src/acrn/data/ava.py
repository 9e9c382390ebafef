"""AVA-format files: ground-truth CSV, excluded timestamps, person proposals; AVA timing constants.

Pure parsing functions (no Dataset here). Facts: ``shared/specs/formats-and-metrics.md``.
Boxes stay normalised ``[0, 1]`` xyxy in what these functions return; the clip Dataset converts them
to input pixels. Label maps are parsed by :func:`acrn.eval.labelmap.read_labelmap` (one parser for
the whole library).
"""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from acrn.errors import InputError

log = logging.getLogger("acrn.data")

# --- AVA v2.1 / v2.2 timing facts (PySlowFast's ava_helper and the AVA paper) -----------------------
FPS = 30  # frames are extracted at 30 fps
SEGMENT_START = 900  # the annotated 15-minute segment starts at second 900 of the movie
SEGMENT_END = 1800
FIRST_KEYFRAME = 902  # key frames are the integer seconds 902..1798
LAST_KEYFRAME = 1798
VALID_KEYFRAMES = range(FIRST_KEYFRAME, LAST_KEYFRAME + 1)
SEGMENT_FRAMES = (SEGMENT_END - SEGMENT_START + 1) * FPS  # 27,030 frames in a correctly cut segment
NUM_ACTION_IDS = 80  # the full v2.1/v2.2 action list has ids 1..80

KeyframeKey = tuple[str, int]  # (video_id, timestamp)


def ava_frame_index(timestamp: int, fps: float = FPS, segment_start: int = SEGMENT_START) -> int:
    """0-based frame index of an AVA key frame in the cut segment: ``(t - 900) * 30``."""
    return int(round((timestamp - segment_start) * fps))


def keyframe_index(timestamp: float, fps: float) -> int:
    """0-based frame index of a custom/synthetic key frame (no offset): ``round(t * fps)``."""
    return int(round(timestamp * fps))


def image_key(video: str, timestamp: int) -> str:
    """The 2018/2019 evaluator's key ``"%s,%04d"``."""
    return f"{video},{int(timestamp):04d}"


@dataclass
class Keyframe:
    """All annotated actors of one key frame.

    Attributes:
        boxes: ``float32 [K, 4]`` normalised xyxy, one row per actor (rows of the CSV with the same
            box and person id are merged).
        actions: per actor, the label-map action ids (sorted, unique).
        person_ids: per actor, the track id (-1 if the CSV had none).
    """

    video: str
    timestamp: int
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    actions: list[list[int]] = field(default_factory=list)
    person_ids: list[int] = field(default_factory=list)


class RowProblems:
    """Bad rows: raise :class:`InputError` at once, or (``skip_bad``) log a warning and count them."""

    def __init__(self, skip_bad: bool = False):
        self.skip_bad = skip_bad
        self.messages: list[str] = []

    def bad(self, message: str) -> None:
        if not self.skip_bad:
            raise InputError(message)
        self.messages.append(message)
        log.warning("skipped: %s", message)

    @property
    def count(self) -> int:
        return len(self.messages)


_INT = re.compile(r"^[0-9]+$")


def parse_timestamp(text: str, where: str) -> int:
    """AVA timestamps are integer seconds (``0902`` == ``902``); ``902.0`` is an error (as in 2018/2019)."""
    text = text.strip()
    if not _INT.match(text):
        raise InputError(f"{where}: timestamp {text!r} is not an integer number of seconds")
    return int(text)


def parse_box(cols: list[str], where: str) -> np.ndarray:
    """Four normalised coordinates ``x1, y1, x2, y2`` in [0, 1] with ``x1 < x2`` and ``y1 < y2``."""
    try:
        box = np.array([float(c) for c in cols], dtype=np.float64)
    except ValueError:
        raise InputError(f"{where}: box {','.join(cols)!r} is not four numbers") from None
    if not np.all(np.isfinite(box)) or box.min() < 0.0 or box.max() > 1.0:
        raise InputError(f"{where}: box {','.join(cols)} is outside [0, 1] (AVA boxes are normalised)")
    if box[0] >= box[2] or box[1] >= box[3]:
        raise InputError(f"{where}: box {','.join(cols)} has x1 >= x2 or y1 >= y2")
    return box


def _rows(path: Path):
    """``(row_number, columns)`` of a header-less CSV; blank lines skipped."""
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            for i, cols in enumerate(csv.reader(f), start=1):
                if cols and any(c.strip() for c in cols):
                    yield i, [c.strip() for c in cols]
    except (UnicodeDecodeError, csv.Error) as e:
        raise InputError(f"{path}: not a readable CSV file ({e})") from None


def read_ground_truth(path: str | Path, class_ids: list[int] | set[int], *, drop_ids: set[int] = frozenset(),
                      problems: RowProblems | None = None) -> dict[KeyframeKey, Keyframe]:
    """Parse an AVA ground-truth CSV (``video,timestamp,x1,y1,x2,y2,action_id,person_id``).

    Rows with the same ``(video, timestamp, box, person_id)`` become one actor with several actions.
    A two-column row ``video,timestamp`` marks an annotated key frame without actors. Action ids not in
    ``class_ids`` raise, except those in ``drop_ids`` (for AVA: the 80-class ids outside a 60-class
    label map, which the official evaluator drops silently).

    Returns: ``{(video, timestamp): Keyframe}`` in file order.
    Raises: :class:`InputError` naming file and row for a malformed row or an empty file.
    """
    path = Path(path)
    problems = problems or RowProblems()
    known = set(class_ids)
    out: dict[KeyframeKey, Keyframe] = {}
    actor_index: dict[tuple, int] = {}
    nrows = 0
    for row, cols in _rows(path):
        nrows += 1
        where = f"{path}: row {row}"
        try:
            if len(cols) not in (2, 7, 8):
                raise InputError(f"{where}: expected 8 columns video_id,timestamp,x1,y1,x2,y2,action_id,"
                                 f"person_id, got {len(cols)}")
            video, ts = cols[0], parse_timestamp(cols[1], where)
            if not video:
                raise InputError(f"{where}: empty video id")
            kf = out.setdefault((video, ts), Keyframe(video, ts))
            if len(cols) == 2:
                continue
            box = parse_box(cols[2:6], where)
            if not _INT.match(cols[6]):
                raise InputError(f"{where}: action id {cols[6]!r} is not a positive integer")
            action = int(cols[6])
            person = -1
            if len(cols) == 8:
                try:
                    person = int(cols[7])
                except ValueError:
                    raise InputError(f"{where}: person id {cols[7]!r} is not an integer") from None
        except InputError as e:
            problems.bad(str(e))
            continue
        if action not in known:
            if action in drop_ids:
                continue
            problems.bad(f"{where}: action id {action} is not in the label map (ids {min(known)}..{max(known)})"
                         if known else f"{where}: action id {action}: the label map is empty")
            continue
        akey = (video, ts, tuple(cols[2:6]), person)
        if akey not in actor_index:
            actor_index[akey] = len(kf.actions)
            kf.boxes = np.concatenate([kf.boxes, box[None].astype(np.float32)])
            kf.actions.append([])
            kf.person_ids.append(person)
        acts = kf.actions[actor_index[akey]]
        if action not in acts:
            acts.append(action)
            acts.sort()
    if nrows == 0:
        raise InputError(f"{path}: empty annotation file (no rows)")
    return out


def read_exclusions(path: str | Path) -> set[KeyframeKey]:
    """Excluded timestamps CSV (``video_id,timestamp``) -> ``{(video, timestamp)}``. Empty file is fine."""
    path = Path(path)
    out: set[KeyframeKey] = set()
    for row, cols in _rows(path):
        where = f"{path}: row {row}"
        if len(cols) != 2:
            raise InputError(f"{where}: expected 2 columns video_id,timestamp, got {len(cols)}")
        out.add((cols[0], parse_timestamp(cols[1], where)))
    return out


def read_proposals_csv(path: str | Path, problems: RowProblems | None = None) -> dict[KeyframeKey, np.ndarray]:
    """Person proposals in the AVA detection format (column 7 empty or -1, column 8 the score).

    Returns: ``{(video, timestamp): float32 [n, 5]}`` rows ``x1, y1, x2, y2, score`` (normalised boxes).
    Rows repeating the same box (one per class in a detection file) are kept once with the best score.
    """
    path = Path(path)
    problems = problems or RowProblems()
    found: dict[KeyframeKey, dict[tuple, float]] = {}
    for row, cols in _rows(path):
        where = f"{path}: row {row}"
        try:
            if len(cols) != 8:
                raise InputError(f"{where}: expected 8 columns video_id,timestamp,x1,y1,x2,y2,action,score, "
                                 f"got {len(cols)}")
            key = (cols[0], parse_timestamp(cols[1], where))
            box = parse_box(cols[2:6], where)
            score = float(cols[7])
        except ValueError as e:  # InputError is a ValueError too
            problems.bad(str(e) if isinstance(e, InputError) else f"{where}: score {cols[7]!r} is not a number")
            continue
        boxes = found.setdefault(key, {})
        bkey = tuple(box.tolist())
        boxes[bkey] = max(score, boxes.get(bkey, -np.inf))
    if not found and problems.count == 0:
        raise InputError(f"{path}: empty proposals file (no rows)")
    return {k: np.array([[*b, s] for b, s in v.items()], dtype=np.float32) for k, v in found.items()}


def read_proposals_pickle(path: str | Path) -> dict[KeyframeKey, np.ndarray]:
    """The common proposals pickle ``{"video,%04d": array [n, 5] x1,y1,x2,y2,score}``, loaded safely.

    Arrays of 4 columns get score 1. Returns the same structure as :func:`read_proposals_csv`.
    """
    from acrn.eval.io import safe_load_pickle  # the one restricted unpickler of the library

    path = Path(path)
    data = safe_load_pickle(path)
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a dict keyed 'video,%04d', got {type(data).__name__}")
    out: dict[KeyframeKey, np.ndarray] = {}
    for key, value in data.items():
        where = f"{path}: key {key!r}"
        if not isinstance(key, str) or "," not in key:
            raise InputError(f"{where}: expected a 'video_id,timestamp' string key")
        video, ts = key.rsplit(",", 1)
        arr = np.asarray(value, dtype=np.float32)
        if arr.size == 0:
            arr = arr.reshape(0, 5)
        if arr.ndim != 2 or arr.shape[1] not in (4, 5):
            raise InputError(f"{where}: expected an array [n, 5] x1,y1,x2,y2,score, got shape {arr.shape}")
        if arr.shape[1] == 4:
            arr = np.concatenate([arr, np.ones((len(arr), 1), np.float32)], 1)
        if len(arr) and (arr[:, :4].min() < 0 or arr[:, :4].max() > 1):
            raise InputError(f"{where}: boxes outside [0, 1] (proposals must be normalised)")
        out[(video, parse_timestamp(ts, where))] = arr
    return out


def read_proposals(path: str | Path, problems: RowProblems | None = None) -> dict[KeyframeKey, np.ndarray]:
    """Proposals from a ``.csv`` (detection format) or a ``.pkl``/``.pickle`` (safe unpickler)."""
    path = Path(path)
    if path.suffix.lower() in (".pkl", ".pickle"):
        return read_proposals_pickle(path)
    return read_proposals_csv(path, problems)


def read_class_map(path: str | Path) -> tuple[list[int], list[str]]:
    """Label map -> ``(class_ids, class_names)`` sorted by id (index = contiguous class index)."""
    from acrn.eval.labelmap import read_labelmap

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: label map not found")
    items = read_labelmap(path)
    pairs = _labelmap_pairs(items, path)
    if not pairs:
        raise InputError(f"{path}: the label map has no entries (expected 'item {{ name: ... id: N }}' blocks, "
                         "one field per line)")
    pairs.sort()
    return [i for i, _ in pairs], [n for _, n in pairs]


def _labelmap_pairs(items, path: Path) -> list[tuple[int, str]]:
    """Accept the label-map parser's result as a dict ``{id: name}`` or a list of dicts/pairs."""
    if isinstance(items, tuple) and len(items) == 2 and isinstance(items[0], (list, dict)):
        items = items[0]  # (categories, class_ids) style
    if isinstance(items, dict):
        return [(int(k), str(v)) for k, v in items.items()]
    pairs = []
    for it in items:
        if isinstance(it, dict):
            pairs.append((int(it["id"]), str(it["name"])))
        else:
            a, b = it
            pairs.append((int(a), str(b)) if isinstance(a, int) else (int(b), str(a)))
    return pairs


__all__ = ["FIRST_KEYFRAME", "FPS", "LAST_KEYFRAME", "NUM_ACTION_IDS", "SEGMENT_FRAMES", "SEGMENT_START",
           "VALID_KEYFRAMES", "Keyframe", "RowProblems", "ava_frame_index", "image_key", "keyframe_index",
           "parse_box", "parse_timestamp", "read_class_map", "read_exclusions", "read_ground_truth",
           "read_proposals", "read_proposals_csv", "read_proposals_pickle"]
