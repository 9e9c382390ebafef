"""Frame ordinals of a video file: which frame of a sequential decode a decoded frame is.

Truth: frame ``i`` is the ``i``-th frame that a naive sequential decode (``for f in container.decode(s)``)
yields. A decoder positioned by a seek gives no ordinal, and a frame's pts is not one either: an AVI
stores no pts at all (libavformat guesses them, and for DivX "packed B-frames" the guesses come out of
the decoder as 1, 2, 4, 3, ...), the first frame need not sit at the header's start time (AVI: pts 1,
start 0), and a variable-frame-rate file has no formula from pts to index. So ordinals are *counted*: a
:class:`Decoder` opened at the start counts the frames it puts out (0, 1, 2, ...), exactly as the naive
decode does, and after a seek it resumes the count at the key frame it landed on (identified by the byte
position of the first packet demuxed), whose ordinal a :class:`Timeline` gives.

A :class:`Timeline` is one demux pass over the file, no decoding, with the container opened with
``fflags=nofillin`` so that it sees only the timestamps the container really stores:

- pts stored for every packet (mp4, mov, mkv, webm): ordinal = rank of the pts among all packets' pts,
  which gives every key frame's ordinal, exact for variable frame rates and open GOPs (leading frames a
  decoder puts out after a seek have pts before the key frame's and are dropped). Every frame put out is
  checked against its rank; that check is also what lets unwanted non-reference frames skip decoding
  (the frames missing from the count must be ones that were skipped). A frame whose pts contradicts the
  count (a muxer that wrote wrong pts) makes the timeline *distrust* its pts and the read start over.
- no pts stored (AVI): key frame ``k`` of a stream without reordering (MJPEG, MPEG-4 without B-frames) is
  frame ``k``; with reordering a key frame's ordinal is not knowable without decoding (after a seek an
  MPEG-4 decoder drops the B-frame packed with an open-GOP key frame), so such key frames become seek
  targets once a sequential decode has passed them and counted their frame (until then: from the start).

Measured (2 cores, cached files): the pass costs ~4.5 us a packet, 60-85 ms for a 10-minute 320x240 mp4
or mkv of 112 MB (18,000 frames), once per reader and process, on the first read (or ``num_frames`` where
the container keeps no frame index: mp4, mov and AVI count from their index at open, ~8 ms for 18,000
entries). Per clip nothing changed: ``benchmarks/bench_data.py`` (320x240 mp4, 32-frame clips, 5
alternating repeats) 44.2 clips/s vs 38.0 before, CPU 21.1 vs 23.6 ms a clip in order, 34.8 vs 34.8
shuffled (the untouched frame-folder path moved by the same +13%: noise). Rejected: the previous formula
``round((pts - start_time) * fps)``, wrong for all three cases above; decoding the whole file once to
index it (~1,100 frames/s at 320x240, about 200 times the demux pass); a pts formula for CFR files with
the table only for VFR ones (telling them apart takes the same pass).
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path


class Mismatch(Exception):
    """A decoded frame's pts disagrees with the count: the container's pts do not give the output order."""


class Lost(Exception):
    """A seek landed where the count cannot resume (no known key frame, or its frame never came out)."""


_PENDING = object()  # Decoder.landing right after a seek, until the first packet is demuxed


class Timeline:
    """Frame count, presentation times and seekable key frames of one file, from one demux pass.

    Attributes:
        count: frames a sequential decode yields (every packet that is neither empty nor discarded).
        rank: stored pts -> ordinal, or ``None`` where the container stores no usable pts.
        anchors: byte position of a key-frame packet -> ordinal of that key frame's own frame, for the
            key frames known so far (see the module docstring).
        seek_ts: byte position of each key-frame packet -> the timestamp that seeks to it: its stored pts
            (its dts lands a GOP early in an mp4 whose edit list shifts the index), else its dts (AVI).
        truncated: the demux pass stopped at a read error or the file ends inside a packet.
        damaged: byte positions of the cut-off packets at the end of a truncated file (not decoded).
    """

    def __init__(self, path: str | Path, rate: Fraction, start: int, reorders: bool):
        self.rate, self.start, self.reorders = rate, start, reorders
        pts, dts, keys = self._demux(Path(path))
        self.count = len(pts)
        self._keys = keys
        self.seek_ts = {pos: ts for _, pos, ts in keys}
        self.anchors: dict[int, int] = {}
        self._ticks: list[int] | None = None  # presentation timestamps in frame order
        if None not in pts and len(set(pts)) == len(pts):
            self._ticks = sorted(pts)
            self.rank: dict[int, int] | None = {p: i for i, p in enumerate(self._ticks)}
            self.anchors = {pos: self.rank[pts[d]] for d, pos, _ in keys}
            self._sorted = sorted((o, p) for p, o in self.anchors.items())
        else:
            self.rank = None
            if None not in dts and len(set(dts)) == len(dts):
                self._ticks = sorted(dts)  # AVI: the slot of each frame (constant frame rate by construction)
            self._count_anchors()
        self._times: list[float] | None = None

    def _demux(self, path: Path) -> tuple[list, list, list]:
        """Stored pts and dts of every frame's packet in decode order, and ``(decode-order number, pos,
        seek timestamp)`` of the key frames; sets ``time_base``, ``truncated`` and ``damaged``."""
        import av

        pts: list[int | None] = []
        dts: list[int | None] = []
        keys: list[tuple[int, int, int]] = []
        cut: list[tuple[bool, int]] = []  # (cut off by the end of the file, pos) of each packet
        self.truncated = False
        size = path.stat().st_size
        with av.open(str(path), options={"fflags": "nofillin"}) as c:
            s = c.streams.video[0]
            self.time_base = Fraction(s.time_base)
            try:
                for p in c.demux(s):
                    if not p.size or p.is_discard:
                        continue  # the flush packet; samples an edit list cuts (the decoder drops their frames)
                    ts = p.pts if p.pts is not None else p.dts
                    if p.is_keyframe and p.pos >= 0 and ts is not None:
                        keys.append((len(pts), p.pos, ts))
                    pts.append(p.pts)
                    dts.append(p.dts)
                    cut.append((p.is_corrupt or (p.pos >= 0 and p.pos + p.size > size), p.pos))
            except av.error.FFmpegError:
                self.truncated = True
        # A file cut short ends in a packet the demuxer could read only part of: the decoder would fail on
        # it (a naive decode raises there), so it is not sent, and the frames of the packets before it count.
        self.damaged: set[int] = set()
        while cut and cut[-1][0]:
            self.damaged.add(cut.pop()[1])
            pts.pop(), dts.pop()
            keys = [k for k in keys if k[0] < len(pts)]
            self.truncated = True
        return pts, dts, keys

    def _count_anchors(self) -> None:
        # Without stored pts: key frame number d is frame d when nothing reorders; else learn them by decoding.
        self.anchors = {} if self.reorders else {pos: d for d, pos, _ in self._keys}
        self._sorted = sorted((o, p) for p, o in self.anchors.items())

    def distrust(self) -> None:
        """The stored pts were found to disagree with the decode order: count instead of ranking."""
        self.rank = None
        self._count_anchors()

    def learn(self, pos: int, ordinal: int) -> None:
        """A sequential decode put out key frame ``pos``'s own frame as frame ``ordinal``."""
        if pos in self.seek_ts and pos not in self.anchors:
            self.anchors[pos] = ordinal
            bisect.insort(self._sorted, (ordinal, pos))

    def anchor_before(self, index: int) -> tuple[int, int] | None:
        """``(ordinal, pos)`` of the known key frame closest at or before frame ``index``, else ``None``."""
        a = self._sorted
        k = bisect.bisect_right(a, (index, float("inf")))
        return a[k - 1] if k else None

    @property
    def gop(self) -> int:
        """The longest interval between consecutive known key frames (0 with fewer than two)."""
        o = [a for a, _ in self._sorted]
        return max((b - a for a, b in zip(o, o[1:])), default=0)

    def time(self, index: int) -> float:
        """:attr:`times` of ``index``, extrapolated at the nominal rate past the counted frames."""
        times = self.times
        if index < len(times):
            return times[index]
        last = times[-1] if times else float(self.start * self.time_base)
        return last + (index - len(times) + 1) / float(self.rate)

    @property
    def times(self) -> list[float]:
        """Seconds of each frame's presentation time, in frame order (built on first use)."""
        if self._times is None:
            if self._ticks is not None:  # int / int is correctly rounded: float(t * time_base), 20x faster
                num, den = self.time_base.numerator, self.time_base.denominator
                self._times = [t * num / den for t in self._ticks]
            else:  # no usable timestamps at all: the nominal rate from the stream start
                t0 = self.start * self.time_base
                self._times = [float(t0 + i / self.rate) for i in range(self.count)]
        return self._times


class Decoder:
    """An open container and its decoder, with the ordinal ``next`` of the next frame it puts out
    (``None``: unknown, after a seek until the landing key frame's frame comes out, or at the end).
    Owned by one process: a forked child must not read through its parent's file offset.

    Args:
        threads: decoder threads; 1 decodes slice-threaded in step with the packets (the only case where
            ``unwanted`` frames may skip decoding), 0 lets FFmpeg choose (frame threads).
    """

    SKIP_CODECS = ("h264", "hevc")

    def __init__(self, path: Path, threads: int, timeline: Timeline):
        import av

        self.pid = os.getpid()
        self.container = av.open(str(path))
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "SLICE" if threads == 1 else "AUTO"
        self.stream.thread_count = threads
        self.tl = timeline
        # Packets whose frame nobody wants (``unwanted(ordinal)``) may skip decoding when no other frame
        # refers to them: exact for codecs with one frame per packet decoding in step with the packets,
        # and only where the pts rank tells which frames went missing.
        self.unwanted: Callable[[int], bool] | None = None
        self.can_skip = threads == 1 and self.stream.codec_context.name in self.SKIP_CODECS
        self._restart()
        self.next: int | None = 0
        self.landing: object = None

    def _restart(self) -> None:
        self.frames = self._decode()  # a fresh iterator: nothing buffered from before
        self.skipped: set[int] = set()  # ordinals whose packets were sent with skip_frame on, not yet accounted
        self.keys: dict[int, int] = {}  # pts -> pos of key-frame packets demuxed, for learning anchors

    def seek(self, ts: int) -> None:
        self.container.seek(ts, stream=self.stream, backward=True, any_frame=False)
        self._restart()
        self.next, self.landing = None, _PENDING

    def _decode(self) -> Iterator:
        cc, skipping = self.stream.codec_context, False
        cc.skip_frame = "DEFAULT"  # the previous iterator may have stopped while skipping
        rank = self.tl.rank
        learn = rank is None and self.tl.reorders
        damaged = self.tl.damaged
        for packet in self.container.demux(self.stream):
            if damaged and packet.pos in damaged:
                continue  # the cut-off end of a truncated file
            if self.landing is _PENDING and packet.size:
                self.landing = (packet.pos, packet.pts)
            if learn and packet.is_keyframe and packet.pts is not None:
                self.keys[packet.pts] = packet.pos
            skip = False
            if self.can_skip and self.unwanted is not None and rank is not None:
                r = rank.get(packet.pts)
                if r is not None and self.unwanted(r):
                    skip = True
                    self.skipped.add(r)
            if skip != skipping:
                cc.skip_frame, skipping = ("NONREF" if skip else "DEFAULT"), skip
            yield from packet.decode()

    def indexed(self) -> Iterator[tuple[int, object]]:
        """``(ordinal, frame)`` for each frame put out from the current position. Raises :class:`Lost`
        when a seek cannot be resumed from and :class:`Mismatch` when the pts contradict the count."""
        rank, dropped = self.tl.rank, 0
        for frame in self.frames:
            if self.next is None:  # first frames after a seek: find the landing key frame's own frame
                pos, pts = self.landing if isinstance(self.landing, tuple) else (None, None)
                at = self.tl.anchors.get(pos)
                if at is None:
                    raise Lost
                if pts is not None and frame.pts is not None and frame.pts != pts:
                    # A leading frame of an open GOP, decoded without its references: not in the count.
                    dropped += 1
                    if dropped > 16 or (rank is not None and frame.pts > pts):
                        raise Lost
                    continue
                self.next = at
            idx = self.next
            if rank is not None:
                r = rank.get(frame.pts)
                if r != idx:  # only frames whose packets skipped decoding may be missing in between
                    if r is None or r < idx or any(i not in self.skipped for i in range(idx, r)):
                        raise Mismatch
                    self.skipped.difference_update(range(idx, r))
                    idx = r
                self.skipped.discard(idx)
            elif self.keys:
                pos = self.keys.pop(frame.pts, None)
                if pos is not None:
                    self.tl.learn(pos, idx)
            self.next = idx + 1
            yield idx, frame
        self.next = None  # the end of the stream: the next read seeks or reopens

    def close(self) -> None:
        if self.pid == os.getpid():
            self.container.close()


__all__ = ["Decoder", "Lost", "Mismatch", "Timeline"]
