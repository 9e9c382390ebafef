"""Fast, exact reading of AVA CSV files (ground truth, detections, excluded timestamps).

Rows are ``video_id,timestamp,x1,y1,x2,y2,action_id[,score_or_person_id]`` without header. Numbers are
parsed vectorised: a field of at most 15 characters made of digits, one optional dot and an optional
leading sign is decoded as an exact integer mantissa divided by a power of ten, which is the correctly
rounded double that Python's ``float()`` returns. Anything else (exponents, ``nan``, quotes, CR line ends,
mixed column counts) goes through a per-row path with Python's own ``csv``/``int``/``float``, so results
are identical and errors name file, line and rule.

Keyframe keys are int64: ``video_index * 2**40 + 2**39 + t`` with t = integer seconds (2018/2019,
``int(timestamp)`` as the official ``"%s,%04d"`` key) or microseconds (2020, ``"%s,%.6f"`` key).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from acrn.errors import InputError
from acrn.eval.csv_blocks import _row_bound, run_reader, small_pages  # noqa: F401 (run_reader: act_io)
from acrn.eval.csv_fixed import parse_fixed
from acrn.eval.numparse import parse_short

_PAD = 64
_MAX_DIGITS = 15  # < 2**53: the mantissa is exact in float64
_POW10_INT = 10 ** np.arange(_MAX_DIGITS + 1, dtype=np.int64)
KEY_SHIFT = 1 << 40
KEY_OFFSET = 1 << 39
COORD_PIXEL_LIMIT = 1.5  # a coordinate beyond [-0.5, 1.5] is "clearly pixels", not normalised


@dataclass
class AvaRows:
    """Parsed AVA CSV: keys int64[N], boxes float64[N,4] (x1,y1,x2,y2), labels int32[N], scores float64[N].

    Action ids beyond the int32 range (never in a label map) are stored as ``LABEL_OUT_OF_RANGE``.
    """

    keys: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    empty_keys: np.ndarray  # 2020: keyframes given by video,timestamp-only rows
    warnings: list[str] = field(default_factory=list)
    empty_file: bool = False  # no data rows at all (only when read with ``allow_empty``)


def make_key(video_index, t) -> np.ndarray:
    return np.asarray(video_index, np.int64) * KEY_SHIFT + KEY_OFFSET + np.asarray(t, np.int64)


def key_to_str(key: int, videos: list[str], protocol: str) -> str:
    v, t = divmod(int(key) - KEY_OFFSET, KEY_SHIFT)
    if t >= KEY_OFFSET:
        v, t = v + 1, t - KEY_SHIFT
    return f"{videos[v]},{t:04d}" if protocol != "2020" else f"{videos[v]},{t / 1e6:.6f}"


LABEL_OUT_OF_RANGE = np.iinfo(np.int32).min


def _labels32(values: np.ndarray) -> np.ndarray:
    """int32 action ids from exact integer values (float64); out-of-range ids become LABEL_OUT_OF_RANGE."""
    if values.size and not (values.min() > LABEL_OUT_OF_RANGE and values.max() <= np.iinfo(np.int32).max):
        values = np.where((values > LABEL_OUT_OF_RANGE) & (values <= np.iinfo(np.int32).max), values,
                          LABEL_OUT_OF_RANGE)
    return values.astype(np.int32)


class _Chunk:
    """One newline-terminated block of the file as a padded uint8 buffer with a sliding-window view."""

    def __init__(self, data: bytes):
        self.buf = np.frombuffer(b"\0" * _PAD + data + b"\0" * _PAD, dtype=np.uint8)
        self.win = np.lib.stride_tricks.as_strided(self.buf, shape=(self.buf.size - _PAD, _PAD), strides=(1, 1))

    def window(self, starts: np.ndarray, width: int) -> np.ndarray:
        return self.win[starts + _PAD, :width]


_VALID = {w: np.arange(w)[None, :] >= (w - np.arange(w + 1))[:, None] for w in (8, 16)}  # [len, w] tail masks
_M8 = np.uint64(0x00FF00FF00FF00FF)
_M16 = np.uint64(0x0000FFFF0000FFFF)
_M32 = np.uint64(0x00000000FFFFFFFF)


def _swar8(x: np.ndarray) -> np.ndarray:
    """Eight digit bytes (values 0..9, first digit in the lowest byte) of each uint64 -> their integer."""
    x = (x * np.uint64(10) + (x >> np.uint64(8))) & _M8
    x = (x * np.uint64(100) + (x >> np.uint64(16))) & _M16
    return (x * np.uint64(10000) + (x >> np.uint64(32))) & _M32


def _high_byte(x: np.ndarray) -> np.ndarray:
    """Index of the highest non-zero byte of each non-zero uint64 (exact via the float exponent)."""
    return (np.frexp(x.astype(np.float64))[1] - 1) // 8


def _parse_numbers(ch: _Chunk, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode plain decimal fields [start, end). Returns (values float64, ok bool, has_dot bool).

    Fields are read right-aligned into 8 or 16 bytes; digit bytes are combined eight at a time with
    integer arithmetic (SWAR), the dot counting as a zero digit that is then squeezed out.
    """
    n = start.size
    if n == 0:
        return np.zeros(0), np.ones(0, bool), np.zeros(0, bool)
    length = end - start
    w = 8 if length.max() <= 8 else 16
    r = ch.window(end - w, w)
    valid = _VALID[w][np.minimum(length, w)]
    dig = r - np.uint8(48)
    isdig = (dig < 10) & valid
    isdot = (r == 46) & valid
    cdig = np.bitwise_count(isdig.view(np.uint64)).sum(1, dtype=np.int64)
    dots = isdot.view(np.uint64)
    cdot = np.bitwise_count(dots).sum(1, dtype=np.int64)
    first = ch.buf[start + _PAD]
    signed = (first == 45) | (first == 43)
    ok = (cdig + cdot + signed == length) & (cdot <= 1) & (cdig >= 1) & (cdig + cdot <= _MAX_DIGITS) & (length <= w)
    words = (dig * isdig).view(np.uint64)
    a = _swar8(words[:, -1]).astype(np.int64)
    pos = _high_byte(dots[:, -1]) + (w - 8)
    if w == 16:
        a += _swar8(words[:, 0]).astype(np.int64) * 100_000_000
        pos = np.where(dots[:, -1] != 0, pos, _high_byte(dots[:, 0]))
    frac = np.where(cdot == 1, w - 1 - pos, 0).clip(0, _MAX_DIGITS)
    p = _POW10_INT[frac]
    mant = np.where(cdot == 1, (a // (p * 10)) * p + a % p, a)
    val = mant / p
    return np.where(first == 45, -val, val), ok, cdot > 0


def _parse_field_column(ch: _Chunk, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_parse_numbers` of one column; fields of at most 8 bytes (the usual case) eight bytes at a time."""
    if start.size and int((end - start).max()) <= 8:
        return parse_short(ch.buf, start + _PAD, end + _PAD)
    return _parse_numbers(ch, start, end)


def _uniform_columns(ch: _Chunk, size: int) -> np.ndarray | None:
    """[n_lines, ncols] separator positions if every line has the same number of fields, else None."""
    arr = ch.buf[_PAD:_PAD + size]
    nl = np.flatnonzero(arr == 10)
    seps = np.flatnonzero((arr == 44) | (arr == 10))
    if nl.size == 0 or seps.size % nl.size:
        return None
    s = seps.reshape(nl.size, -1)
    return s if s.shape[1] in (2, 7, 8) and np.array_equal(s[:, -1], nl) else None


def _changes(v: np.ndarray) -> np.ndarray:
    """bool[n - 1]: v[i + 1] != v[i] for fixed-width bytes S[n], compared as words (not the string ufunc)."""
    if v.size and v.dtype.itemsize % 8 == 0 and v.flags.c_contiguous:
        u = v.view(np.uint64).reshape(v.size, -1)  # names padded to whole words by the fixed-layout parser
        diff = u[1:, 0] != u[:-1, 0]
        for k in range(1, u.shape[1]):
            diff |= u[1:, k] != u[:-1, k]
        return diff
    u = v.view(np.uint8).reshape(v.size, -1)
    return (u[1:] != u[:-1]).any(1)


_FIXED_TRIES = 8  # chunks tried with the fixed-layout parser before a file that never fits stops trying
_COLS = ("video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id", "score")


class _Reader:
    """Accumulates parsed rows of one file; every error names the file and the 1-based line."""

    def __init__(self, path: Path, protocol: str, videos: dict[str, int], allow_empty_rows: bool):
        self.path, self.protocol, self.videos = path, protocol, videos
        self.allow_empty_rows = allow_empty_rows
        self.parts: list[tuple] = []
        self.out: tuple | None = None
        self.count = 0
        self.outside = 0  # boxes with a coordinate outside [0, 1]
        self.empty: list[np.ndarray] = []
        self.sink = None  # called with each checked block (keys, boxes, labels, scores) instead of storing it
        self.fixed_misses = self.fixed_hits = 0

    def fail(self, line: int, msg: str) -> InputError:
        return InputError(f"{self.path}:{line}: {msg}")

    def video_index(self, name: str) -> int:
        return self.videos.setdefault(name, len(self.videos))

    def time_code(self, text: str, line: int) -> int:
        try:
            if self.protocol == "2020":
                value = float(text)
                if not math.isfinite(value):
                    raise ValueError
                return round(value * 1e6)
            return int(text)
        except ValueError:
            rule = "a number of seconds" if self.protocol == "2020" else "integer seconds (e.g. 0902)"
            raise self.fail(line, f"timestamp must be {rule}, got {text!r}") from None

    def prepare(self, data: bytes) -> tuple | None:
        """The fixed-layout parse of a chunk, or None; may run in a thread (it only counts its outcomes).

        Files whose first chunks all miss the fixed layouts (e.g. ACT frame detections: names, frames and
        %g numbers of many widths) stop trying it: each miss costs a third of the general parse."""
        if self.fixed_misses >= _FIXED_TRIES and not self.fixed_hits:
            return None
        # (its byte checks refuse quotes and CRs: a block holding one goes to the general path)
        res = parse_fixed(data, tuple(j for j in range(1, len(_COLS)) if self.is_int_col(j)))
        if res is None:
            self.fixed_misses += 1
        else:
            self.fixed_hits += 1
        return res

    def fast_chunk(self, data: bytes, line0: int, fixed: tuple | None = None) -> bool:
        """Vectorised parse of a uniform chunk; False if it needs the per-row path.

        ``fixed``: :meth:`prepare`'s result when already computed."""
        if fixed is None:
            fixed = self.prepare(data)
        if fixed is not None and fixed[1].shape[1] in (6, 7):
            self.emit(self._video_runs(fixed[0], lambda h: fixed[0][h].decode("utf-8", "replace")), fixed[1], line0)
            return True
        if b'"' in data or b"\r" in data:
            return False
        ch = _Chunk(data)
        s = _uniform_columns(ch, len(data))
        if s is None or s.shape[1] == 2:
            return False
        starts = np.concatenate([[0], s[:-1, -1] + 1])
        fstart = np.column_stack([starts, s[:, :-1] + 1])
        vid = self._videos_fast(ch, starts, s[:, 0])
        cols, oks = [], []
        for j in range(1, s.shape[1]):
            v, ok, dot = _parse_field_column(ch, fstart[:, j], s[:, j])
            integer = self.is_int_col(j)
            cols.append(v)
            oks.append(ok & ~dot if integer else ok)
        vals = np.column_stack(cols)
        for j, ok in enumerate(oks, 1):
            for i in np.flatnonzero(~ok):  # rare: exponents, nan, spaces, ... -> Python's parsers decide
                text = data[fstart[i, j]:s[i, j]].decode("utf-8", "replace")
                vals[i, j - 1] = self.parse_field(j, text, line0 + i)
        self.emit(vid, vals, line0)
        return True

    def is_int_col(self, j: int) -> bool:
        return j == 6 or (j == 1 and self.protocol != "2020")

    def emit(self, vid: np.ndarray, vals: np.ndarray, line0: int) -> None:
        """Store one parsed chunk: vid int[n] video indices, vals float64[n, ncols - 1] numeric columns.

        A sink with ``reserve``/``commit`` (:class:`acrn.eval.ava_stream.KeyframeSegments`) gets the rows
        written straight into its buffers (no per-chunk arrays to concatenate later)."""
        ts = (vals[:, 0] if self.protocol != "2020" else np.round(vals[:, 0] * 1e6)).astype(np.int64)
        reserve = getattr(self.sink, "reserve", None)
        if reserve is None:
            score = vals[:, 6] if vals.shape[1] == 7 else np.ones(vals.shape[0])
            self.add(make_key(vid, ts), vals[:, 1:5], _labels32(vals[:, 5]), score, line0)
            return
        keys, boxes, labels, scores = reserve(vals.shape[0])
        np.multiply(vid, KEY_SHIFT, out=keys)  # make_key, in place
        keys += KEY_OFFSET
        keys += ts
        boxes[...] = vals[:, 1:5]
        labels[...] = _labels32(vals[:, 5])
        scores[...] = vals[:, 6] if vals.shape[1] == 7 else 1.0
        self.check(keys, boxes, labels, scores, line0)
        self.sink.commit(keys.size)

    def _videos_fast(self, ch: _Chunk, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        length = ends - starts
        width = int(length.max())
        if width > _PAD:
            names = [bytes(ch.buf[a + _PAD:b + _PAD]).decode("utf-8", "replace") for a, b in zip(starts, ends)]
            return np.array([self.video_index(x) for x in names], dtype=np.int64)
        v = np.where(np.arange(width) < length[:, None], ch.window(starts, width), 0)
        v = np.ascontiguousarray(v).view(f"S{width}").ravel() if width else np.zeros(starts.size, "S1")
        return self._video_runs(v, lambda h: bytes(ch.buf[starts[h] + _PAD:ends[h] + _PAD]).decode("utf-8", "replace"))

    def _video_runs(self, v: np.ndarray, name_of) -> np.ndarray:
        """Video index per row from fixed-width name bytes ``v`` (S[n]); ``name_of(i)`` decodes row i's name."""
        heads = np.flatnonzero(np.concatenate([[True], _changes(v)]))
        if heads.size > 4096:  # not grouped by video: map the distinct names instead of the runs
            names, first, inv = np.unique(v, return_index=True, return_inverse=True)
            idx = np.zeros(names.size, dtype=np.int64)
            for i in np.argsort(first):  # indices in order of first appearance, as the per-row path
                idx[i] = self.video_index(names[i].decode("utf-8", "replace"))
            return idx[inv.ravel()]
        idx = np.array([self.video_index(name_of(h)) for h in heads], dtype=np.int64)
        return np.repeat(idx, np.diff(np.concatenate([heads, [v.size]])))

    def parse_field(self, col: int, text: str, line: int) -> float:
        if col == 1:
            return self.time_code(text, line) / (1e6 if self.protocol == "2020" else 1)
        try:
            return float(int(text)) if col == 6 else float(text)
        except ValueError:
            kind = "an integer action id" if col == 6 else "a number"
            raise self.fail(line, f"column {col + 1} ({_COLS[col]}) must be {kind}, got {text!r}") from None

    def slow_chunk(self, text: str, line0: int) -> None:
        keys, boxes, labels, scores, empty = [], [], [], [], []
        for i, row in enumerate(csv.reader(text.splitlines())):
            line = line0 + i
            allowed = (2, 7, 8) if self.allow_empty_rows else (7, 8)
            if len(row) not in allowed:
                raise self.fail(line, f"expected {' or '.join(map(str, allowed))} comma-separated columns "
                                      f"(video_id,timestamp,x1,y1,x2,y2,action_id[,score]), got {len(row)}")
            key = int(make_key(self.video_index(row[0]), self.time_code(row[1], line)))
            if len(row) == 2:
                empty.append(key)
                continue
            vals = [self.parse_field(j, row[j], line) for j in range(2, len(row))]
            keys.append(key)
            boxes.append(vals[:4])
            labels.append(int(vals[4]))
            scores.append(vals[5] if len(row) == 8 else 1.0)
        self.add(np.array(keys, np.int64), np.array(boxes, np.float64).reshape(-1, 4),
                 _labels32(np.array(labels, np.float64)), np.array(scores, np.float64), line0)
        self.empty.append(np.array(empty, np.int64))

    def add(self, keys, boxes, labels, scores, line0: int) -> None:
        self.check(keys, boxes, labels, scores, line0)
        if self.sink is not None:
            self.sink(keys, boxes, labels, scores)
            return
        n = keys.size
        if self.out is not None and not self.parts and self.count + n <= self.out[0].size:  # preallocated
            for col, part in zip(self.out, (keys, boxes, labels, scores), strict=True):
                col[self.count:self.count + n] = part
            self.count += n
        else:
            self.parts.append((keys, boxes, labels, scores))

    def check(self, keys, boxes, labels, scores, line0: int) -> None:
        """Finite scores and normalised boxes (errors name the row); counts boxes slightly outside [0, 1]."""
        if scores.size and not np.isfinite(scores.max()):  # max is NaN or inf iff some score is
            i = int(np.argmax(~np.isfinite(scores)))
            raise self.fail(line0 + i, f"score must be a finite number, got {scores[i]}")
        lo, hi = (boxes.min(), boxes.max()) if boxes.size else (0.0, 0.0)  # NaN propagates into both
        if not (lo >= 1 - COORD_PIXEL_LIMIT and hi <= COORD_PIXEL_LIMIT):
            bad = ~np.isfinite(boxes).all(1) | (np.abs(boxes - 0.5) > COORD_PIXEL_LIMIT - 0.5).any(1)
            i = int(np.argmax(bad))
            raise self.fail(line0 + i, f"box {boxes[i].tolist()} is not normalised: AVA coordinates are "
                                       f"fractions of width/height in [0, 1], these look like pixels")
        if not (lo >= 0 and hi <= 1):
            self.outside += int(((boxes < 0) | (boxes > 1)).any(1).sum())

    def preallocate(self, rows: int) -> None:
        """Write rows straight into arrays of this size (no concatenation copy at the end)."""
        self.out = (np.empty(rows, np.int64), np.empty((rows, 4)), np.empty(rows, np.int32), np.empty(rows))


def read_ava_csv(path: str | Path, protocol: str = "2018", videos: dict[str, int] | None = None,
                 allow_empty_rows: bool = False, allow_empty: bool = False) -> AvaRows:
    """Read an AVA ground-truth or detection CSV. ``videos`` maps video id -> index and is extended in place
    (share one dict between the ground truth and the detections so their keys agree).

    An empty file is an InputError unless ``allow_empty`` (then ``empty_file`` is set: the official
    evaluator scores an empty file, see :func:`acrn.eval.files.evaluate_ava_files`)."""
    path = Path(path)
    reader = _Reader(path, protocol, {} if videos is None else videos, allow_empty_rows)
    with small_pages():
        reader.preallocate(_row_bound(path))
        if run_reader(reader, path) == 0 and not allow_empty:
            raise InputError(f"{path}: file is empty (no data rows)")
        rows = _assemble(reader)
        rows.empty_file = rows.keys.size == 0 and rows.empty_keys.size == 0
        return rows


def _assemble(reader: _Reader) -> AvaRows:
    parts = list(reader.parts)
    if reader.out is not None:
        parts.insert(0, tuple(col[:reader.count] for col in reader.out))
    cat = [parts[0][i] if len(parts) == 1 else np.concatenate([p[i] for p in parts]) for i in range(4)]
    boxes = cat[1].reshape(-1, 4)
    warnings = outside_warnings(reader)
    empty = np.concatenate(reader.empty) if reader.empty else np.zeros(0, np.int64)
    return AvaRows(cat[0], boxes, cat[2], cat[3], empty, warnings)


def outside_warnings(reader: _Reader) -> list[str]:
    """The warning on boxes slightly outside [0, 1] (they are evaluated as they are), if any."""
    if not reader.outside:
        return []
    return [f"{reader.path}: {reader.outside} boxes slightly outside [0, 1] are evaluated unclipped (as the official "
            "evaluator)"]


def read_exclusions(path: str | Path, protocol: str, videos: dict[str, int]) -> np.ndarray:
    """Excluded-timestamps CSV (``video_id,timestamp`` rows) -> int64 keys."""
    path = Path(path)
    reader = _Reader(path, protocol, videos, True)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read ({e})") from None
    keys = []
    for i, row in enumerate(csv.reader(text.splitlines()), 1):
        if len(row) != 2:
            raise reader.fail(i, f"expected 2 columns video_id,timestamp, got {len(row)}")
        keys.append(int(make_key(reader.video_index(row[0]), reader.time_code(row[1], i))))
    return np.array(keys, np.int64)
