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


class Ungrouped(Exception):
    """A keyframe's rows are not contiguous in the file: it cannot be evaluated segment by segment."""


class KeyframeSegments:
    """Buffers parsed blocks and hands :class:`AvaAccumulator` segments that end on a keyframe boundary."""

    def __init__(self, acc: AvaAccumulator, rows: int | None = None):
        self.acc, self.rows = acc, SEGMENT_ROWS if rows is None else rows
        self.parts: list[tuple] = []
        self.n = 0
        self.done = np.zeros(0, np.int64)  # sorted keys of the keyframes already evaluated

    def __call__(self, keys, boxes, labels, scores) -> None:
        self.parts.append((keys, boxes, labels, scores))
        self.n += keys.size
        if self.n >= self.rows:
            self.flush(final=False)

    def flush(self, final: bool = True) -> None:
        """Evaluate the buffered rows up to the last keyframe boundary (all of them when ``final``)."""
        if not self.parts:
            return
        keys, boxes, labels, scores = (np.concatenate([p[i] for p in self.parts]) for i in range(4))
        cut = keys.size
        if not final:  # the last keyframe may continue in the next block: keep its trailing run
            other = np.flatnonzero(keys != keys[-1])
            cut = int(other[-1]) + 1 if other.size else 0
            if cut == 0:
                return  # one keyframe so far: keep buffering
        seg_keys = np.unique(keys[:cut][run_heads(keys[:cut])])
        if self.done.size and np.isin(seg_keys, self.done).any():
            raise Ungrouped
        self.done = np.union1d(self.done, seg_keys)
        self.acc.add(keys[:cut], boxes[:cut], labels[:cut], scores[:cut])
        self.parts = [(keys[cut:], boxes[cut:], labels[cut:], scores[cut:])] if cut < keys.size else []
        self.n = keys.size - cut


def stream_detections(path: str | Path, protocol: str, videos: dict[str, int], acc: AvaAccumulator,
                      rows: int | None = None) -> tuple[bool, list[str]]:
    """Feed a detection CSV to ``acc`` segment by segment. Returns (file had no data rows, warnings).

    Raises :class:`Ungrouped` when the file is not grouped by keyframe (``acc`` is then spoilt)."""
    path = Path(path)
    reader = _Reader(path, protocol, videos, False)
    segments = KeyframeSegments(acc, rows)
    reader.sink = segments
    with small_pages():
        total = run_reader(reader, path)
        segments.flush()
    return total == 0, outside_warnings(reader)


def expected_rows(path: str | Path) -> int:
    """An upper bound of the rows of a CSV (for preallocating what is kept of them)."""
    return _row_bound(Path(path))
