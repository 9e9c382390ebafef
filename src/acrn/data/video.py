"""Frame sources: videos decoded with PyAV (frame-accurate seeking) and extracted-frame folders.

Both give ``read(indices) -> uint8 [T, H, W, 3]`` RGB for 0-based frame indices. Frame index ``i`` of
a video is the frame whose presentation time is ``start_time + i / fps``: PyAV seeks to the key frame at
or before that time, and we decode forward, dropping frames before the target, because a seek lands on
a key frame, not on the frame asked for (``shared/design/environment.md``). The stream's start offset
(a non-zero first pts, common in cut or remuxed files) is added by hand.
"""

from __future__ import annotations

import bisect
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from acrn.errors import InputError

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v")


def _guard_opencv_across_fork() -> None:
    """A forked child that touches OpenCV's thread pool after the parent used it hangs (measured: 25
    of 30 forks hung in ``cv2.setNumThreads(1)``). Shrinking the pool to one thread just before every
    fork, and restoring it in the parent afterwards, leaves the child a consistent single-threaded
    OpenCV, which is what DataLoader workers want anyway."""
    saved: list[int] = []

    def before() -> None:
        saved.append(cv2.getNumThreads())
        cv2.setNumThreads(1)

    def after_in_parent() -> None:
        if saved:
            cv2.setNumThreads(saved.pop())

    os.register_at_fork(before=before, after_in_parent=after_in_parent)


_guard_opencv_across_fork()


# Colour spaces that OpenCV's YUV->RGB conversion matches (BT.601, limited range, as swscale uses
# for an untagged stream): 2 = unspecified, 5 = BT470BG, 6 = SMPTE170M.
_BT601 = (2, 5, 6)


class _Decoder:
    """An open container and its decoder, positioned after frame ``next - 1`` (``next = None``: a seek
    is needed). Owned by one process: a forked child must not read through its parent's file offset."""

    SKIP_CODECS = ("h264", "hevc")

    def __init__(self, path: Path, threads: int):
        import av

        self.pid = os.getpid()
        self.container = av.open(str(path))
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO" if threads > 1 else "SLICE"
        self.stream.thread_count = threads
        self.frames: Iterator | None = None
        self.next: int | None = None
        self.last_key: int | None = None  # index of the last key frame decoded since the last seek
        # Packets whose frame nobody wants (``unwanted(pts)``) may skip decoding when no other frame
        # refers to them: exact for codecs with one frame per packet, decoding in step with the packets.
        self.unwanted: Callable[[int], bool] | None = None
        self.can_skip = threads <= 1 and self.stream.codec_context.name in self.SKIP_CODECS

    def seek(self, pts: int) -> None:
        self.container.seek(pts, stream=self.stream, backward=True, any_frame=False)
        self.frames = self._decode()  # a fresh iterator: nothing buffered before the seek
        self.next = self.last_key = None

    def _decode(self) -> Iterator:
        cc, skipping = self.stream.codec_context, False
        cc.skip_frame = "DEFAULT"  # the previous iterator may have stopped while skipping
        for packet in self.container.demux(self.stream):
            skip = self.can_skip and self.unwanted is not None and packet.pts is not None and self.unwanted(packet.pts)
            if skip != skipping:
                cc.skip_frame, skipping = ("NONREF" if skip else "DEFAULT"), skip
            yield from packet.decode()

    def close(self) -> None:
        if self.pid == os.getpid():
            self.container.close()


class VideoReader:
    """One video file. ``num_frames``, ``fps`` and ``size`` come from the container header.

    The reader keeps its container open between :meth:`read` calls (one per process) and the frames of
    the last read: a clip that starts after the decoder's position is decoded forward from there
    instead of seeking back to a key frame, and frames shared with the previous clip (consecutive key
    frames overlap by about half a clip) are not decoded again. :meth:`close` releases both.

    Args:
        path: the video file.
        threads: decoder threads (1 inside DataLoader workers, where processes already run in parallel).
    """

    def __init__(self, path: str | Path, threads: int = 1):
        import av

        self.path = Path(path)
        self.threads = threads
        if not self.path.is_file():
            raise InputError(f"{self.path}: video file not found")
        try:
            with av.open(str(self.path)) as c:
                if not c.streams.video:
                    raise InputError(f"{self.path}: no video stream")
                s = c.streams.video[0]
                rate = s.average_rate or s.guessed_rate or s.base_rate
                if not rate:
                    raise InputError(f"{self.path}: the video stream has no frame rate")
                self.rate = Fraction(rate)
                self.time_base = Fraction(s.time_base)
                self.start_pts = int(s.start_time or 0)
                self.size = (int(s.codec_context.height), int(s.codec_context.width))
                if s.frames:
                    n = int(s.frames)
                elif s.duration:
                    n = int(round(s.duration * self.time_base * self.rate))
                elif c.duration:
                    n = int(round(Fraction(c.duration, 1_000_000) * self.rate))
                else:
                    n = 0
                self.num_frames = n
        except InputError:
            raise
        except Exception as e:  # av.error.* and OSError: a truncated or non-video file
            raise InputError(f"{self.path}: cannot open video ({type(e).__name__}: {e})") from None
        ratio = self.time_base * self.rate  # frame index per pts tick, as an exact integer ratio
        self._ratio = (ratio.numerator, ratio.denominator)
        self._gop = 0  # the longest key-frame interval seen so far
        self._decoder: _Decoder | None = None
        self._reformatter = None
        self._kept: tuple[tuple | None, dict[int, np.ndarray]] = (None, {})  # (size, frames) of the last read
        self._lock = threading.RLock()  # one read at a time: a shared reader stays correct across threads

    @property
    def fps(self) -> float:
        return float(self.rate)

    @property
    def start_time(self) -> float:
        """Seconds of the first frame's presentation time (the stream start offset)."""
        return float(self.start_pts * self.time_base)

    def _index_of(self, pts: int) -> int:
        """``round((pts - start_pts) * time_base * rate)`` (half to even) in integers: called per frame."""
        num, den = self._ratio
        q, r = divmod((pts - self.start_pts) * num, den)
        return q + 1 if 2 * r > den or (2 * r == den and q % 2) else q

    def _pts_of(self, index: int) -> int:
        return self.start_pts + int(round(Fraction(index) / self.rate / self.time_base))

    @property
    def duration(self) -> float:
        """Seconds covered by the frames (``num_frames / fps``)."""
        return self.num_frames / float(self.rate)

    def close(self) -> None:
        """Close the open container and drop the kept frames (the reader stays usable)."""
        with self._lock:
            if self._decoder is not None:
                self._decoder.close()
            self._decoder, self._kept = None, (None, {})

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)  # a pickled reader (spawned DataLoader workers) reopens the file
        state.update(_decoder=None, _reformatter=None, _kept=(None, {}), _lock=None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _lock=threading.RLock())

    def read(self, indices: Sequence[int], size: tuple[int, int] | None = None,
             required: int | None = None) -> np.ndarray:
        """Frames at 0-based ``indices`` (any order, repeats allowed) -> ``uint8 [T, H, W, 3]`` RGB.

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
        kept = self._kept[1] if self._kept[0] == size else {}
        got = {i: kept[i] for i in wanted if i in kept}
        todo = [i for i in wanted if i not in got]
        if todo:
            try:
                self._decode(todo, got, size)
            except Exception as e:
                self.close()
                if not got:
                    raise InputError(f"{self.path}: decoding frames {todo[0]}..{todo[-1]} failed "
                                     f"({type(e).__name__}: {e})") from None
        self._kept = (size, got)
        if not got:
            raise InputError(f"{self.path}: no frame at or after index {wanted[0]} could be decoded "
                             f"(the header says {self.num_frames} frames; truncated file?)")
        if required is not None and required not in got:
            raise InputError(f"{self.path}: frame {required} is not in the file (decoded up to frame "
                             f"{max(got)}; the header says {self.num_frames} frames: truncated video?)")
        out = np.empty((len(indices), *size, 3), np.uint8)
        have = sorted(got)
        for j, i in enumerate(indices):
            if i not in got:  # past the end: the last decoded frame at or before i (else the first)
                k = bisect.bisect_right(have, i)
                i = have[k - 1] if k else have[0]
            out[j] = got[i]
        return out

    def _decode(self, todo: list[int], got: dict[int, np.ndarray], size: tuple[int, int]) -> None:
        """Decode frames ``todo`` (sorted) into ``got``: forward from the decoder's position when the
        first one is at most a key-frame interval ahead (a seek would decode at least as much from the
        previous key frame), else after a seek."""
        dec = self._decoder
        if dec is not None and dec.pid != os.getpid():
            dec = None  # inherited through fork: the parent's file offset, not ours
        if dec is None:
            dec = self._decoder = _Decoder(self.path, self.threads)
        ahead = todo[0] - dec.next if dec.next is not None else -1
        if 0 <= ahead <= max(self._gop, int(round(self.rate))):
            self._decode_forward(dec, todo, got, size)
            return
        dec.seek(self._pts_of(todo[0]))
        first = self._decode_forward(dec, todo, got, size)
        if first is not None and first > todo[0]:
            # The seek overshot (bad index in the file): decode from the start instead.
            dec.seek(0)
            self._decode_forward(dec, todo, got, size)

    def _decode_forward(self, dec: _Decoder, todo: list[int], got: dict, size: tuple[int, int]) -> int | None:
        """Decode from the current position up to ``todo[-1]``; returns the first decoded index (after a
        seek, a first index past ``todo[0]`` means the seek overshot and nothing is kept)."""
        after_seek = dec.next is None
        first = None
        want = set(todo)
        last = todo[-1]
        # Skippable: not asked for and not after the last frame asked for (the next read may want those).
        dec.unwanted = lambda pts: (i := self._index_of(pts)) < last and i not in want
        for frame in dec.frames:
            if frame.pts is None:
                continue
            idx = self._index_of(frame.pts)
            if frame.key_frame:
                if dec.last_key is not None:
                    self._gop = max(self._gop, idx - dec.last_key)
                dec.last_key = idx
            if first is None:
                first = idx
                if after_seek and idx > todo[0]:
                    return first
            if idx in want:
                got[idx] = self._to_rgb(frame, size)
            if idx >= todo[-1]:
                dec.next = idx + 1
                return first
        dec.next = None  # end of the stream: the next read seeks
        return first

    def _to_rgb(self, frame, size: tuple[int, int]) -> np.ndarray:
        """One decoded frame -> ``uint8 [h, w, 3]`` RGB at ``size``. OpenCV converts the common case
        (8-bit 4:2:0 BT.601, not shrunk by 2 or more) 3x faster than swscale; swscale handles the rest
        (other colour spaces and formats, and large downscales, which it filters without aliasing)."""
        h, w = size
        if (frame.format.name == "yuv420p" and frame.colorspace in _BT601 and frame.color_range != 2
                and frame.height % 2 == 0 and frame.width % 2 == 0 and 2 * h > frame.height and 2 * w > frame.width):
            rgb = cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2RGB_I420)
            if rgb.shape[:2] != (h, w):
                rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_LINEAR)
            return rgb
        if self._reformatter is None:
            from av.video.reformatter import VideoReformatter

            self._reformatter = VideoReformatter()  # keeps its scaler context from frame to frame
        return self._reformatter.reformat(frame, width=w, height=h, format="rgb24", interpolation="BILINEAR",
                                          threads=1).to_ndarray()

    def iter_frames(self) -> Iterator[np.ndarray]:
        """Every frame in order as ``uint8 [H, W, 3]`` RGB (sequential decode, for flow extraction)."""
        import av

        try:
            with av.open(str(self.path)) as c:
                s = c.streams.video[0]
                s.thread_type = "AUTO"
                for frame in c.decode(s):
                    yield self._to_rgb(frame, (frame.height, frame.width))
        except av.error.FFmpegError as e:
            raise InputError(f"{self.path}: decoding failed ({type(e).__name__}: {e})") from None


class FrameFolder:
    """A folder of extracted frames ``<dir>/<name pattern>`` with 1-based file numbers.

    Args:
        folder: the folder of one video.
        pattern: file name with a ``{num}`` field, e.g. ``"{video}_{num:06d}.jpg"`` after ``video`` is
            filled in, ``"{num:05d}.png"`` for JHMDB.
        fps: the frame rate the frames were extracted at.
        num_frames: known frame count (skips listing the folder), or ``None`` to count the files.
    """

    def __init__(self, folder: str | Path, pattern: str, fps: float = 30.0, num_frames: int | None = None):
        self.path = Path(folder)
        self.pattern = pattern
        self.fps = float(fps)
        if not self.path.is_dir():
            raise InputError(f"{self.path}: frame folder not found")
        if num_frames is None:
            ext = os.path.splitext(pattern)[1]
            num_frames = sum(1 for n in os.listdir(self.path) if n.endswith(ext) and not n.startswith("."))
        self.num_frames = int(num_frames)
        if self.num_frames == 0:
            raise InputError(f"{self.path}: no frame files matching {pattern!r}")
        self._size: tuple[int, int] | None = None
        self._kept: tuple[tuple | None, dict[int, np.ndarray]] = (None, {})  # (size, frames) of the last read

    def iter_frames(self) -> Iterator[np.ndarray]:
        """Every frame in order as ``uint8 [H, W, 3]`` RGB."""
        for i in range(self.num_frames):
            yield read_image(self.file(i))

    def file(self, index: int) -> Path:
        """The file of 0-based frame ``index`` (file number ``index + 1``)."""
        return self.path / self.pattern.format(num=index + 1)

    @property
    def size(self) -> tuple[int, int]:
        if self._size is None:
            self._size = tuple(self.read([0]).shape[1:3])
        return self._size

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps

    def close(self) -> None:
        """Drop the frames kept from the last read."""
        self._kept = (None, {})

    def __getstate__(self) -> dict:
        return dict(self.__dict__, _kept=(None, {}))

    def read(self, indices: Sequence[int], size: tuple[int, int] | None = None,
             required: int | None = None) -> np.ndarray:
        """Frames at 0-based ``indices`` -> ``uint8 [T, H, W, 3]`` RGB (each file read once).

        The frames of the last read are kept, so a clip overlapping the previous one (consecutive key
        frames) reads only its new files. A missing or unreadable file raises :class:`InputError`
        naming it (``required`` is accepted for symmetry with :meth:`VideoReader.read`; every frame is
        required here).
        """
        reduce = 1
        if size is not None and self._size is not None:
            # JPEG can decode at 1/2, 1/4, 1/8 scale directly: much cheaper when shrinking 720p to 256.
            while reduce < 8 and self._size[0] >= 2 * reduce * size[0] and self._size[1] >= 2 * reduce * size[1]:
                reduce *= 2
        key = (tuple(size), reduce) if size is not None else None
        kept_key, kept = self._kept  # one attribute, read once: safe if threads share the folder
        kept = kept if kept_key == key else {}
        got: dict[int, np.ndarray] = {}
        for i in indices:
            if i not in got:
                got[i] = kept[i] if i in kept else read_image(self.file(i), size, reduce)
        shapes = {a.shape for a in got.values()}
        if len(shapes) > 1:
            raise InputError(f"{self.path}: frames {list(indices)} have different sizes {sorted(shapes)}")
        self._kept = (key, got)
        out = np.empty((len(indices), *shapes.pop()), np.uint8) if indices else np.zeros((0, 0, 0, 3), np.uint8)
        for j, i in enumerate(indices):
            out[j] = got[i]
        return out


# Decode at 1, 1/2, 1/4, 1/8 scale straight to RGB (the BGR bit of IMREAD_COLOR swapped for the RGB one).
_IMREAD_RGB = {n: (f & ~cv2.IMREAD_COLOR) | cv2.IMREAD_COLOR_RGB for n, f in ((1, cv2.IMREAD_COLOR), (
    2, cv2.IMREAD_REDUCED_COLOR_2), (4, cv2.IMREAD_REDUCED_COLOR_4), (8, cv2.IMREAD_REDUCED_COLOR_8))}


def read_image(path: Path, size: tuple[int, int] | None = None, reduce: int = 1) -> np.ndarray:
    """One image file -> ``uint8 [H, W, 3]`` RGB (resized to ``size`` ``(h, w)`` if given; ``reduce``
    2/4/8 decodes at that fraction first, for large downscales)."""
    # Read the bytes ourselves: cv2.imread prints a warning to stderr for a missing file.
    try:
        data = np.fromfile(path, np.uint8)
    except (FileNotFoundError, NotADirectoryError):
        raise InputError(f"{path}: missing frame file") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read frame file ({e.strerror})") from None
    img = cv2.imdecode(data, _IMREAD_RGB[reduce]) if data.size else None
    if img is None:
        raise InputError(f"{path}: unreadable image (corrupt or not an image)")
    if size is not None and img.shape[:2] != tuple(size):
        img = cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    return img


def find_video(folder: Path, video: str) -> Path | None:
    """``folder/<video>.<ext>`` for the first known video extension that exists, else ``None``."""
    for ext in VIDEO_EXTENSIONS:
        p = folder / f"{video}{ext}"
        if p.is_file():
            return p
    return None


__all__ = ["VIDEO_EXTENSIONS", "FrameFolder", "VideoReader", "find_video", "read_image"]
