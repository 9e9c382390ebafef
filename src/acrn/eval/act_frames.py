"""Reading ACT frame-detection CSVs (``video,frame,label,score,x1,y1,x2,y2``, header required): blocks of rows
parsed vectorised, other rows with Python's ``csv``/``int``/``float`` (see :mod:`acrn.eval.ava_csv`)."""

from __future__ import annotations

import csv
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from acrn.errors import InputError
from acrn.eval.act_io import FRAME_HEADER, FrameDets
from acrn.eval.ava_csv import _Reader, run_reader
from acrn.eval.csv_blocks import PARSE_THREADS, small_pages
from acrn.eval.numparse import parse_plain

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


_PAD = 64  # zero bytes either side of the file's bytes: 8-byte words end at every field, names fit 64-byte windows
_BLOCK = 1 << 20  # bytes per block of whole rows (measured at JHMDB scale: 256 kB 15% slower, 4 MB 10%)
_LONG_LINE = 4096  # a block ends at the first newline this far after _BLOCK bytes, else the general reader decides
_LOW_BYTES = np.array([(1 << (8 * n)) - 1 for n in range(9)], np.uint64)  # the first n bytes of a word
_WHOLE_FILE_LIMIT = 1 << 30  # the fast path holds the whole file in memory; bigger files go block by block


def _read_padded(path: Path) -> np.ndarray | None:
    """The file's bytes between _PAD zero bytes, or None where the general reader must decide: unreadable, too
    big, no header line, no final newline."""
    try:
        size = path.stat().st_size
        if size > _WHOLE_FILE_LIMIT:
            return None
        buf = np.empty(size + 2 * _PAD, np.uint8)
        buf[:_PAD] = buf[-_PAD:] = 0
        with open(path, "rb") as f:
            if f.readinto(memoryview(buf)[_PAD:_PAD + size]) != size:
                return None
    except OSError:
        return None
    data = buf[_PAD:_PAD + size]
    if not size or bytes(data[:6]) != b"video," or data[-1] != 10:
        return None
    return buf


def _block_bounds(buf: np.ndarray) -> list[int] | None:
    """Offsets of blocks of about _BLOCK bytes of whole lines, from the first data row to the end; None: a line
    too long to look for its end here (or a header alone)."""
    end = buf.size - _PAD
    bounds = [_PAD]
    while bounds[-1] < end:
        a = min(bounds[-1] + (_BLOCK if len(bounds) > 1 else 0), end - 1)
        nl = np.flatnonzero(buf[a:a + _LONG_LINE] == 10)
        if not nl.size:
            return None
        bounds.append(a + int(nl[0]) + 1)
    bounds = bounds[1:]  # the header line was the first "block"
    return bounds if len(bounds) > 1 else None


def _parse_block(buf: np.ndarray, a: int, b: int) -> tuple[np.ndarray, ...] | None:
    """Lines buf[a:b] -> (name starts int[n], name ends int[n], values float64[n, 7], (row, column, start, end)
    int[k, 4] of fields for Python's parsers, names S[n]), or None if a line has not exactly 8 fields, a name is
    over 64 bytes, or there are quotes or CRs (the general reader's per-row path: CSV quoting; and float() would
    accept "1.5\\r")."""
    blk = buf[a:b]
    if ((blk == 34) | (blk == 13)).any():
        return None
    seps = np.flatnonzero((blk == 44) | (blk == 10)) + a
    if seps.size % 8:
        return None
    s = seps.reshape(-1, 8)
    if not (buf[s[:, 7]] == 10).all() or not (buf[s[:, :7]] == 44).all():
        return None
    val, ok, dot = parse_plain(buf, (s[:, :7] + 1).ravel(), s[:, 1:].ravel())
    ok, dot = ok.reshape(-1, 7), dot.reshape(-1, 7)
    starts = np.concatenate([[a], s[:-1, 7] + 1])
    names = _name_words(buf, starts, s[:, 0])
    if names is None:
        return None
    if not (ok.all() and not dot[:, :2].any()):  # (usually every field is decoded here)
        ok[:, :2] &= ~dot[:, :2]  # frame and label: integers
        bad = np.argwhere(~ok)
        bad = np.column_stack([bad, s[bad[:, 0], bad[:, 1]] + 1, s[bad[:, 0], bad[:, 1] + 1]])
    else:
        bad = np.zeros((0, 4), np.intp)
    return starts, s[:, 0].copy(), val.reshape(-1, 7), bad, names  # (not s itself: 64 bytes a row)


def _name_words(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray | None:
    """Video names as zero-padded fixed-width bytes S[n] (read 8 at a time from their starts as uint64 words,
    not gathered byte by byte); None: a name over 64 bytes, or all empty."""
    length = ends - starts
    words = int(length.max() + 7) // 8 if length.size else 0
    if words * 8 > _PAD or not words:
        return None
    view = np.ndarray((buf.size - 7,), "<u8", buf, 0, (1,))
    keep = _LOW_BYTES.take(np.clip(length[:, None] - 8 * np.arange(words), 0, 8))
    return np.ascontiguousarray(view[starts[:, None] + 8 * np.arange(words)] & keep).view(f"S{8 * words}").ravel()


def _fast_frame_dets(path: Path, reader: _FrameReader) -> tuple[np.ndarray, np.ndarray] | None:
    """(video int[N], values float64[N, 7]) of the whole file, parsed in blocks in threads (names into ``reader``),
    or None (nothing reported; ``reader`` may hold some names) where the general reader must decide: rows without
    exactly 8 fields, a field Python's parsers reject, a name over 64 bytes, ... (so errors and their line numbers
    are the general reader's)."""
    buf = _read_padded(path)
    bounds = None if buf is None else _block_bounds(buf)
    if bounds is None:
        return None
    rows = sum(int(np.count_nonzero(buf[a:a + (1 << 22)] == 10)) for a in range(_PAD, buf.size - _PAD, 1 << 22))
    out = np.empty((rows - 1, 7))  # the header line is not a row
    vids, used = [], 0
    with ThreadPoolExecutor(PARSE_THREADS) as pool:  # blocks in order; each block's values go to their place
        for blk in pool.map(lambda i: _parse_block(buf, bounds[i], bounds[i + 1]), range(len(bounds) - 1)):
            if blk is None:
                return None
            starts, ends, vals, bad, names = blk
            for i, j, p, q in bad:  # rare (exponents, '+', spaces, long numbers): Python decides, errors -> general
                try:
                    vals[i, j] = reader.parse_field(j + 1, bytes(buf[p:q]).decode("utf-8", "replace"), 0)
                except InputError:
                    return None
            # names in order of first appearance, as the general reader
            name_of = lambda h, st=starts, en=ends: bytes(buf[st[h]:en[h]]).decode("utf-8", "replace")  # noqa: E731
            vids.append(reader._video_runs(names, name_of))
            out[used:used + vals.shape[0]] = vals
            used += vals.shape[0]
    return np.concatenate(vids), out[:used]


def read_frame_dets(path: str | Path) -> FrameDets:
    """Read a frame-detections CSV (header required)."""
    path = Path(path)
    reader = _FrameReader(path, "act", {}, False)
    with small_pages():  # (see there: ~2x faster first touch of the 100 MB buffers)
        fast = _fast_frame_dets(path, reader)
    if fast is not None:
        vid, vals = fast
    else:
        reader = _FrameReader(path, "act", {}, False)  # (the fast path may have seen some names)
        run_reader(reader, path, skip_header=b"video,")
        vid = np.concatenate([p[0] for p in reader.parts]) if reader.parts else np.zeros(0, np.int64)
        vals = np.concatenate([p[1] for p in reader.parts]) if reader.parts else np.zeros((0, 7))
    names = sorted(reader.videos, key=reader.videos.get)
    return FrameDets(names, vid, vals[:, 0].astype(np.int64), vals[:, 1].astype(np.int64), vals[:, 2], vals[:, 3:7])
