"""Frame sources: videos decoded with PyAV (frame-exact random access) and extracted-frame folders.

Both give ``read(indices) -> uint8 [T, H, W, 3]`` RGB for 0-based frame indices. Frame ``i`` of a video is
the ``i``-th frame a naive sequential decode yields, in any container and codec: ordinals are counted
from the start of the file, or resumed after a seek at the key frame the seek landed on, whose ordinal a
per-file timeline of packet timestamps gives (one demux pass, no decoding, built on the first read). The
design, what it costs and the designs rejected are in :mod:`acrn.data.video_index`. Frames come out
upright: a phone video's display matrix (rotation) is applied, and ``size`` is the upright ``(h, w)``.
Extracted-frame folders (:class:`FrameFolder`) live in :mod:`acrn.data.frame_folder`, re-exported here.
"""

from __future__ import annotations

import bisect
import os
import threading
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from acrn.data.frame_folder import FrameFolder, read_image  # noqa: F401  (re-exported; registers the fork guard)
from acrn.data.video_index import Decoder, Lost, Mismatch, Timeline
from acrn.errors import InputError

_Decoder = Decoder  # the name tests and older callers patch

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v")


# Colour spaces that OpenCV's YUV->RGB conversion matches (BT.601, limited range, as swscale uses
# for an untagged stream): 2 = unspecified, 5 = BT470BG, 6 = SMPTE170M.
_BT601 = (2, 5, 6)
# Display-matrix rotation (degrees counter-clockwise, PyAV's ``frame.rotation``) -> the turn that undoes it.
_ROTATE = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}


def _one_line(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}".replace("\n", " ")


class _Converter:
    """Decoded frame -> upright ``uint8 [h, w, 3]`` RGB at ``size``. OpenCV converts the common case
    (8-bit 4:2:0 BT.601, not shrunk by 2 or more) 3x faster than swscale; swscale handles the rest
    (other colour spaces and formats, and large downscales, which it filters without aliasing). Phones
    store frames as the sensor saw them plus a display matrix; ``rotation`` (a multiple of 90) turns them."""

    def __init__(self, rotation: int):
        self.rotation = rotation
        self._reformatter = None  # keeps its scaler context from frame to frame

    def __call__(self, frame, size: tuple[int, int]) -> np.ndarray:
        h, w = size if self.rotation % 180 == 0 else size[::-1]
        if (frame.format.name == "yuv420p" and frame.colorspace in _BT601 and frame.color_range != 2
                and frame.height % 2 == 0 and frame.width % 2 == 0 and 2 * h > frame.height and 2 * w > frame.width):
            rgb = cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2RGB_I420)
            if rgb.shape[:2] != (h, w):
                rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_LINEAR)
        else:
            if self._reformatter is None:
                from av.video.reformatter import VideoReformatter

                self._reformatter = VideoReformatter()
            rgb = self._reformatter.reformat(frame, width=w, height=h, format="rgb24", interpolation="BILINEAR",
                                             threads=1).to_ndarray()
        return cv2.rotate(rgb, _ROTATE[self.rotation]) if self.rotation else rgb


class VideoReader:
    """One video file: ``size`` (upright ``(h, w)``), ``fps``, ``num_frames`` (exact), ``header_frames``.

    The reader keeps its container open between :meth:`read` calls (one per process) and the frames of
    the last read: a clip that starts after the decoder's position is decoded forward from there
    instead of seeking back to a key frame, and frames shared with the previous clip (consecutive key
    frames overlap by about half a clip) are not decoded again. :meth:`close` releases both. Opening
    decodes the first frame (the display matrix and the frame size are only known from a decoded frame).

    Args:
        path: the video file.
        threads: decoder threads (1 inside DataLoader workers, where processes already run in parallel).
    """

    def __init__(self, path: str | Path, threads: int = 1):
        import av

        self.path = Path(path)
        self.threads = threads
        p = self.path
        if p.is_dir():
            raise InputError(f"{p}: is a directory, expected a video file")
        if not p.is_file():
            raise InputError(f"{p}: video file not found")
        if p.stat().st_size == 0:
            raise InputError(f"{p}: empty file (0 bytes), expected a video")
        try:
            with av.open(str(p)) as c:
                self._probe(c)
        except InputError:
            raise
        except Exception as e:  # av.error.* and OSError: not a media file, or its header is cut off
            raise InputError(f"{p}: cannot open video (expected a video file such as mp4, mkv, webm, avi or mov; "
                             f"{_one_line(e)})") from None
        self._timeline: Timeline | None = None
        self._decoder: Decoder | None = None
        self._convert = _Converter(self.rotation)
        self._kept: tuple[tuple | None, dict[int, np.ndarray]] = (None, {})  # (size, frames) of the last read
        self._lock = threading.RLock()  # one read at a time: a shared reader stays correct across threads

    def _probe(self, c) -> None:
        """Header facts, the exact count where the container's index lists every frame, and the first frame."""
        if not c.streams.video:
            kinds = sorted({s.type for s in c.streams})
            found = ", ".join(f"{sum(s.type == k for s in c.streams)} {k}" for k in kinds) or "no streams"
            raise InputError(f"{self.path}: no video stream (found {found}); expected a video")
        s = c.streams.video[0]
        rate = s.average_rate or s.guessed_rate or s.base_rate
        if not rate:
            raise InputError(f"{self.path}: the video stream has no frame rate")
        self.rate = Fraction(rate)
        self.time_base = Fraction(s.time_base)
        self.start_pts = int(s.start_time or 0)
        if s.frames:
            n = int(s.frames)
        elif s.duration:
            n = int(round(s.duration * self.time_base * self.rate))
        else:
            n = int(round(Fraction(c.duration, 1_000_000) * self.rate)) if c.duration else 0
        self.header_frames = n  # what the header claims (may be wrong: see num_frames)
        self._index_count = self._count_index(s)
        try:
            frame = next(iter(c.decode(s)), None)
        except Exception as e:
            raise InputError(f"{self.path}: the first video frame does not decode (truncated or corrupt file?; "
                             f"{_one_line(e)})") from None
        if frame is None:
            raise InputError(f"{self.path}: no frame of the video stream decodes (truncated or corrupt file?)")
        self._reorders = bool(s.codec_context.has_b_frames)  # known once a frame is decoded
        self.rotation = int(round(frame.rotation / 90)) * 90 % 360
        h, w = frame.height, frame.width
        self.size = (h, w) if self.rotation % 180 == 0 else (w, h)

    def _count_index(self, s) -> int | None:
        """Frames listed in the container's own index (mp4/mov sample tables, an AVI idx1) when it agrees
        with the header and lies inside the file: the exact count without reading the file; else ``None``."""
        entries = s.index_entries
        if not len(entries) or len(entries) != s.frames:
            return None
        n = end = 0
        for e in entries:
            n += bool(e.size) and not e.is_discard
            end = max(end, e.pos + e.size)
        return n if end <= self.path.stat().st_size else None

    def _tl(self) -> Timeline:
        with self._lock:
            if self._timeline is None:
                try:
                    self._timeline = Timeline(self.path, self.rate, self.start_pts, self._reorders)
                except Exception as e:
                    raise InputError(f"{self.path}: cannot index the video ({_one_line(e)})") from None
            return self._timeline

    @property
    def fps(self) -> float:
        return float(self.rate)

    @property
    def start_time(self) -> float:
        """Seconds of the stream's start offset in the header (common in cut or remuxed files;
        :meth:`time_of` gives each frame's own presentation time)."""
        return float(self.start_pts * self.time_base)

    @property
    def num_frames(self) -> int:
        """Frames a sequential decode yields (exact; a header may lie or say 0): from the container's index
        where it lists every frame (mp4, mov, AVI: no I/O), else counted by the timeline's demux pass."""
        if self._timeline is None and self._index_count is not None:
            return self._index_count
        return self._tl().count

    def count_frames(self) -> int:
        """Frames a sequential decode yields, counted from the packets by one demux pass (no decoding)."""
        return self._tl().count

    @property
    def duration(self) -> float:
        """Seconds covered by the frames (``num_frames / fps``)."""
        return self.num_frames / float(self.rate)

    def time_of(self, index: int) -> float:
        """Seconds of frame ``index``'s presentation time (its pts; exact for variable frame rates)."""
        tl = self._tl()
        if not 0 <= index < tl.count:
            raise IndexError(f"{self.path}: frame {index} out of range (the file has {tl.count} frames)")
        return tl.times[index]

    def index_at(self, seconds: float) -> int:
        """The frame shown at ``seconds``: the last frame presented at or before it (frame 0 before the
        first frame, the last frame after the end). ``index_at(time_of(i)) == i``."""
        times = self._tl().times
        return min(max(bisect.bisect_right(times, seconds) - 1, 0), max(len(times) - 1, 0))

    def close(self) -> None:
        """Close the open container and drop the kept frames (the reader stays usable)."""
        with self._lock:
            if self._decoder is not None:
                self._decoder.close()
            self._decoder, self._kept = None, (None, {})

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)  # a pickled reader (spawned DataLoader workers) reopens the file
        state.update(_decoder=None, _timeline=None, _convert=None, _kept=(None, {}), _lock=None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _lock=threading.RLock(), _convert=_Converter(state["rotation"]))

    def read(self, indices: Sequence[int], size: tuple[int, int] | None = None,
             required: int | None = None) -> np.ndarray:
        """Frames at 0-based ``indices`` (any order, repeats allowed) -> ``uint8 [T, H, W, 3]`` upright RGB.

        ``size`` ``(h, w)``: resize the frames while converting them (only the wanted frames are
        converted). Frames past the last decodable frame repeat the last decoded one (a truncated file
        or a header frame count that overstates); :class:`InputError` if none of the requested frames
        decodes or if frame ``required`` (the key frame) is not in the file.
        """
        with self._lock:
            return self._read(indices, tuple(size) if size is not None else self.size, required)

    def _read(self, indices: Sequence[int], size: tuple[int, int], required: int | None) -> np.ndarray:
        wanted = sorted(set(int(i) for i in indices))
        if not wanted:
            return np.zeros((0, *size, 3), np.uint8)
        tl = self._tl()
        kept = self._kept[1] if self._kept[0] == size else {}
        got = {i: kept[i] for i in wanted if i in kept}
        todo = [i for i in wanted if i not in got and 0 <= i < tl.count]
        if todo:
            try:
                self._decode(todo, got, size)
            except Exception as e:
                self.close()
                if not got:
                    raise InputError(f"{self.path}: decoding frames {todo[0]}..{todo[-1]} failed "
                                     f"({_one_line(e)})") from None
        self._kept = (size, got)
        about = f"the file has {tl.count} frames" + (f", the header says {self.header_frames}"
                                                     if self.header_frames != tl.count else "")
        about += ": the file is truncated" if tl.truncated else ""
        if not got:
            raise InputError(f"{self.path}: no frame at or after index {wanted[0]} could be decoded ({about})")
        if required is not None and required not in got:
            raise InputError(f"{self.path}: frame {required} is not in the file (decoded up to frame "
                             f"{max(got)}; {about})")
        out = np.empty((len(indices), *size, 3), np.uint8)
        have = sorted(got)
        for j, i in enumerate(indices):
            if i not in got:  # past the end: the last decoded frame at or before i (else the first)
                k = bisect.bisect_right(have, i)
                i = have[k - 1] if k else have[0]
            out[j] = got[i]
        return out

    def _decode(self, todo: list[int], got: dict[int, np.ndarray], size: tuple[int, int]) -> None:
        """Decode frames ``todo`` (sorted, all in the file) into ``got``. If the pts turn out to contradict
        the count, the timeline stops ranking by them and the read starts over, counting (the kept frames
        in ``got`` too: they were placed by the same pts)."""
        try:
            self._decode_once(todo, got, size)
        except Mismatch:
            self._tl().distrust()
            self._new_decoder()
            todo = sorted(set(todo) | set(got))
            got.clear()
            self._decode_once(todo, got, size)  # no pts rank any more: cannot mismatch again

    def _decode_once(self, todo: list[int], got: dict, size: tuple[int, int]) -> None:
        """Forward from the decoder's position when ``todo[0]`` is at most a key-frame interval ahead
        (measured: no slower than a seek up to a GOP ahead, as skipped B-frames cost nothing) or no known
        key frame lies in between, else after a seek to the key frame at or before ``todo[0]``, else from
        the start (a reopened file: the naive decode itself). A seek that lands where the count cannot
        resume, or past ``todo[0]``, falls back to the start."""
        tl = self._tl()
        dec = self._decoder if self._decoder is not None and self._decoder.pid == os.getpid() else None
        anchor = tl.anchor_before(todo[0])
        if dec is not None and dec.next is not None and dec.next <= todo[0] and (
                anchor is None or anchor[0] <= dec.next or todo[0] - dec.next <= max(tl.gop, round(self.rate))):
            self._forward(dec, todo, got, size, after_seek=False)
            return
        if anchor is not None and (dec is not None or anchor[0] > 0):  # (no decoder yet: opening starts at 0)
            dec = dec or self._new_decoder()
            dec.seek(tl.seek_ts[anchor[1]])
            try:
                first = self._forward(dec, todo, got, size, after_seek=True)
                if first is not None and first <= todo[0]:
                    return
            except Lost:
                pass
        self._forward(self._new_decoder(), todo, got, size, after_seek=False)

    @property
    def _gop(self) -> int:
        """The longest key-frame interval of the file (what a forward decode may run through)."""
        return self._tl().gop

    @property
    def _reformatter(self):
        """The swscale context of reads (``None`` until a frame needs swscale)."""
        return self._convert._reformatter

    def _to_rgb(self, frame, size: tuple[int, int]) -> np.ndarray:
        return self._convert(frame, size)

    def _new_decoder(self) -> Decoder:
        if self._decoder is not None and self._decoder.pid == os.getpid():
            self._decoder.close()  # (one inherited through fork holds the parent's file offset: not ours)
        self._decoder = Decoder(self.path, self.threads, self._tl())
        return self._decoder

    def _forward(self, dec: Decoder, todo: list[int], got: dict, size: tuple[int, int],
                 after_seek: bool) -> int | None:
        """Decode from the current position up to ``todo[-1]``; returns the first decoded index (after a
        seek, a first index past ``todo[0]`` means the seek overshot and nothing is kept)."""
        want, last = set(todo), todo[-1]
        # Skippable: not asked for and not after the last frame asked for (the next read may want those).
        dec.unwanted = lambda i: i < last and i not in want
        first = None
        for idx, frame in dec.indexed():
            if first is None:
                first = idx
                if after_seek and idx > todo[0]:
                    return first
            if idx in want:
                got[idx] = self._convert(frame, size)
            if idx >= last:
                return first
        return first

    def frames(self, step: int = 1, size: tuple[int, int] | None = None) -> Iterator[tuple[int, float, np.ndarray]]:
        """``(index, seconds, uint8 [H, W, 3] upright RGB)`` for frames 0, ``step``, 2 ``step``, ... in order.

        A sequential decode on a decoder of its own (reads in between do not disturb it): frames not
        yielded are not converted, and with ``step > 1`` the non-reference H.264/HEVC ones among them are
        not decoded either. ``seconds`` is :meth:`time_of`; ``size`` ``(h, w)`` resizes.
        """
        yield from self._frames(step, size, self.threads)

    def iter_frames(self) -> Iterator[np.ndarray]:
        """Every frame in order as upright ``uint8 [H, W, 3]`` RGB (:meth:`frames` with frame-threaded
        decoding, for flow extraction)."""
        for _, _, img in self._frames(1, None, 0):
            yield img

    def _frames(self, step: int, size: tuple[int, int] | None, threads: int) -> Iterator[tuple[int, float, np.ndarray]]:
        import av

        if step < 1:
            raise ValueError(f"step must be >= 1, got {step}")
        tl = self._tl()
        size = tuple(size) if size is not None else self.size
        convert, done = _Converter(self.rotation), -1
        while True:
            dec = Decoder(self.path, threads, tl)
            if step > 1:
                dec.unwanted = lambda i: i % step != 0
            try:
                for idx, frame in dec.indexed():
                    if idx % step == 0 and idx > done:
                        done = idx
                        yield idx, tl.time(idx), convert(frame, size)
                return
            except Mismatch:
                tl.distrust()  # start over counting; the frames already yielded are not repeated
            except av.error.FFmpegError as e:
                raise InputError(f"{self.path}: decoding failed after frame {done} ({_one_line(e)})") from None
            finally:
                dec.close()


def find_video(folder: Path, video: str) -> Path | None:
    """``folder/<video>.<ext>`` for the first known video extension that exists, else ``None``."""
    for ext in VIDEO_EXTENSIONS:
        p = folder / f"{video}{ext}"
        if p.is_file():
            return p
    return None


__all__ = ["VIDEO_EXTENSIONS", "FrameFolder", "VideoReader", "find_video", "read_image"]
