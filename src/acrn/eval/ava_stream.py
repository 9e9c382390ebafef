"""Streaming AVA evaluation of a detection CSV: parsed blocks go to the evaluator in keyframe-complete
segments, so memory stays bounded by the segment size plus the kept (class, score) rows.

The per-keyframe rules need every row of a keyframe in one segment. Files written keyframe by keyframe (as
every exporter does) stream; a keyframe that comes back after its segment was evaluated raises
:class:`Ungrouped` and the caller reads the whole file instead (same numbers, more memory).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from acrn.eval.ava import AvaAccumulator
from acrn.eval.ava_csv import _Reader, outside_warnings, run_reader, small_pages
from acrn.eval.ava_match import run_heads
from acrn.eval.csv_blocks import _row_bound

SEGMENT_ROWS = 1 << 19  # ~27 MB of parsed rows per segment (~27 blocks): per-segment costs stay small
STREAM_PARSE_THREADS = 1  # one thread parses ahead while this one evaluates: the evaluation takes longer than
# the parse, so a second parse thread only adds switching (measured on 2 cores: 2020 and 2018 ~7% slower)


class Ungrouped(Exception):
    """A keyframe's rows are not contiguous in the file: it cannot be evaluated segment by segment."""


class KeyframeSegments:
    """Buffers parsed rows and hands :class:`AvaAccumulator` segments that end on a keyframe boundary.

    Rows go into one set of preallocated arrays (keys, boxes, labels, scores), written in place by the reader
    (:meth:`reserve`, then :meth:`commit`) or copied by :meth:`__call__`; after each segment the rows of the
    keyframe that may continue are moved to the front."""

    def __init__(self, acc: AvaAccumulator, rows: int | None = None):
        self.acc, self.rows = acc, SEGMENT_ROWS if rows is None else rows
        self.buf: tuple | None = None
        self.n = 0
        self.done = np.zeros(0, np.int64)  # sorted keys of the keyframes already evaluated

    def reserve(self, n: int) -> tuple:
        """Views of the next ``n`` rows (keys int64, boxes float64[n, 4], labels int32, scores float64)."""
        end = self.n + n
        if self.buf is None or end > self.buf[0].size:  # first use, or one keyframe longer than a segment
            size = max(end, self.rows + max(n, 1 << 16), 0 if self.buf is None else self.buf[0].size * 3 // 2)
            new = (np.empty(size, np.int64), np.empty((size, 4)), np.empty(size, np.int32), np.empty(size))
            if self.buf is not None:
                for dst, src in zip(new, self.buf, strict=True):
                    dst[:self.n] = src[:self.n]
            self.buf = new
        return tuple(b[self.n:end] for b in self.buf)

    def commit(self, n: int) -> None:
        """The ``n`` reserved rows are written: evaluate a segment once there are enough."""
        self.n += n
        if self.n >= self.rows:
            self.flush(final=False)

    def __call__(self, keys, boxes, labels, scores) -> None:
        for dst, src in zip(self.reserve(keys.size), (keys, boxes, labels, scores), strict=True):
            dst[...] = src
        self.commit(keys.size)

    def flush(self, final: bool = True) -> None:
        """Evaluate the buffered rows up to the last keyframe boundary (all of them when ``final``)."""
        if not self.n:
            return
        keys, boxes, labels, scores = (b[:self.n] for b in self.buf)
        cut = keys.size
        if not final:  # the last keyframe may continue in the next block: keep its trailing run
            other = np.flatnonzero(keys != keys[-1])
            cut = int(other[-1]) + 1 if other.size else 0
            if cut == 0:
                return  # one keyframe so far: keep buffering
        seg_keys = np.unique(keys[:cut][run_heads(keys[:cut])])
        if self.done.size:  # sorted: one binary search per keyframe of the segment
            pos = np.searchsorted(self.done, seg_keys).clip(max=self.done.size - 1)
            if (self.done[pos] == seg_keys).any():
                raise Ungrouped
        self.done = np.union1d(self.done, seg_keys)
        self.acc.add(keys[:cut], boxes[:cut], labels[:cut], scores[:cut])  # (it keeps no views of them)
        rest = self.n - cut
        if rest:
            for b in self.buf:
                b[:rest] = b[cut:self.n]  # (numpy copies overlapping ranges correctly)
        self.n = rest


def stream_detections(path: str | Path, protocol: str, videos: dict[str, int], acc: AvaAccumulator,
                      rows: int | None = None) -> tuple[bool, list[str]]:
    """Feed a detection CSV to ``acc`` segment by segment. Returns (file had no data rows, warnings).

    Raises :class:`Ungrouped` when the file is not grouped by keyframe (``acc`` is then spoilt)."""
    path = Path(path)
    reader = _Reader(path, protocol, videos, False)
    segments = KeyframeSegments(acc, rows)
    reader.sink = segments
    with small_pages():
        total = run_reader(reader, path, threads=STREAM_PARSE_THREADS)
        segments.flush()
    return total == 0, outside_warnings(reader)


def expected_rows(path: str | Path) -> int:
    """An upper bound of the rows of a CSV (for preallocating what is kept of them)."""
    return _row_bound(Path(path))
