"""Frame sources: videos decoded with PyAV (frame-accurate seeking) and extracted-frame folders.

Both give ``read(indices) -> uint8 [T, H, W, 3]`` RGB for 0-based frame indices. Frame index ``i`` of
a video is the frame whose presentation time is ``start_time + i / fps``: PyAV seeks to the key frame at
or before that time, and we decode forward, dropping frames before the target, because a seek lands on
a key frame, not on the frame asked for (``shared/design/environment.md``). The stream's start offset
(a non-zero first pts, common in cut or remuxed files) is added by hand.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
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


class VideoReader:
    """One video file. ``num_frames``, ``fps`` and ``size`` come from the container header.

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

    @property
    def fps(self) -> float:
        return float(self.rate)

    @property
    def start_time(self) -> float:
        """Seconds of the first frame's presentation time (the stream start offset)."""
        return float(self.start_pts * self.time_base)

    def _index_of(self, pts: int) -> int:
        return int(round((pts - self.start_pts) * self.time_base * self.rate))

    def _pts_of(self, index: int) -> int:
        return self.start_pts + int(round(Fraction(index) / self.rate / self.time_base))

    @property
    def duration(self) -> float:
        """Seconds covered by the frames (``num_frames / fps``)."""
        return self.num_frames / float(self.rate)

    def read(self, indices: Sequence[int], size: tuple[int, int] | None = None,
             required: int | None = None) -> np.ndarray:
        """Frames at 0-based ``indices`` (any order, repeats allowed) -> ``uint8 [T, H, W, 3]`` RGB.

        ``size`` ``(h, w)`` lets the decoder's scaler resize (cheaper than resizing afterwards).
        Frames past the last decodable frame repeat the last decoded one (a truncated file or a header
        frame count that overstates); :class:`InputError` if none of the requested frames decodes or if
        frame ``required`` (the key frame) is not in the file.
        """
        import av

        wanted = sorted(set(int(i) for i in indices))
        if not wanted:
            return np.zeros((0, *(size or self.size), 3), np.uint8)
        got: dict[int, np.ndarray] = {}
        last: np.ndarray | None = None
        try:
            with av.open(str(self.path)) as c:
                s = c.streams.video[0]
                s.thread_type = "AUTO" if self.threads > 1 else "SLICE"
                s.thread_count = self.threads
                first = self._decode_range(c, s, wanted, got, size, seek=True)
                if first is not None and first > wanted[0]:
                    # The seek overshot (bad index in the file): decode from the start instead.
                    c.seek(0, stream=s, backward=True, any_frame=False)
                    self._decode_range(c, s, wanted, got, size, seek=False)
        except Exception as e:
            if not got:
                raise InputError(f"{self.path}: decoding frames {wanted[0]}..{wanted[-1]} failed "
                                 f"({type(e).__name__}: {e})") from None
        if not got:
            raise InputError(f"{self.path}: no frame at or after index {wanted[0]} could be decoded "
                             f"(the header says {self.num_frames} frames; truncated file?)")
        if required is not None and required not in got:
            raise InputError(f"{self.path}: frame {required} is not in the file (decoded up to frame "
                             f"{max(got)}; the header says {self.num_frames} frames: truncated video?)")
        out = []
        for i in indices:
            if i in got:
                last = got[i]
            else:  # past the end: repeat the last decoded frame at or before i
                last = got[max(k for k in got if k <= i)] if any(k <= i for k in got) else got[min(got)]
            out.append(last)
        return np.stack(out)

    def iter_frames(self) -> Iterator[np.ndarray]:
        """Every frame in order as ``uint8 [H, W, 3]`` RGB (sequential decode, for flow extraction)."""
        import av

        try:
            with av.open(str(self.path)) as c:
                s = c.streams.video[0]
                s.thread_type = "AUTO"
                for frame in c.decode(s):
                    yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as e:
            raise InputError(f"{self.path}: decoding failed ({type(e).__name__}: {e})") from None

    def _decode_range(self, c, s, wanted: list[int], got: dict, size, seek: bool) -> int | None:
        """Seek to ``wanted[0]`` and decode forward to ``wanted[-1]``; returns the first decoded index."""
        if seek:
            c.seek(self._pts_of(wanted[0]), stream=s, backward=True, any_frame=False)
        first = None
        want = set(wanted)
        for frame in c.decode(s):
            if frame.pts is None:
                continue
            idx = self._index_of(frame.pts)
            if first is None:
                first = idx
                if idx > wanted[0]:
                    return first
            if idx in want:
                if size is not None and (frame.height, frame.width) != tuple(size):
                    frame = frame.reformat(width=size[1], height=size[0], interpolation="BILINEAR")
                got[idx] = frame.to_ndarray(format="rgb24")
            if idx >= wanted[-1]:
                break
        return first


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

    def read(self, indices: Sequence[int], size: tuple[int, int] | None = None,
             required: int | None = None) -> np.ndarray:
        """Frames at 0-based ``indices`` -> ``uint8 [T, H, W, 3]`` RGB (each file read once).

        A missing or unreadable file raises :class:`InputError` naming it (``required`` is accepted for
        symmetry with :meth:`VideoReader.read`; every frame is required here).
        """
        cache: dict[int, np.ndarray] = {}
        out = []
        reduce = 1
        if size is not None and self._size is not None:
            # JPEG can decode at 1/2, 1/4, 1/8 scale directly: much cheaper when shrinking 720p to 256.
            while reduce < 8 and self._size[0] >= 2 * reduce * size[0] and self._size[1] >= 2 * reduce * size[1]:
                reduce *= 2
        for i in indices:
            if i not in cache:
                cache[i] = read_image(self.file(i), size, reduce)
            out.append(cache[i])
        shapes = {a.shape for a in out}
        if len(shapes) > 1:
            raise InputError(f"{self.path}: frames {list(indices)} have different sizes {sorted(shapes)}")
        return np.stack(out)


_REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
            8: cv2.IMREAD_REDUCED_COLOR_8}


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
    img = cv2.imdecode(data, _REDUCED[reduce]) if data.size else None
    if img is None:
        raise InputError(f"{path}: unreadable image (corrupt or not an image)")
    if size is not None and img.shape[:2] != tuple(size):
        img = cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def find_video(folder: Path, video: str) -> Path | None:
    """``folder/<video>.<ext>`` for the first known video extension that exists, else ``None``."""
    for ext in VIDEO_EXTENSIONS:
        p = folder / f"{video}{ext}"
        if p.is_file():
            return p
    return None


__all__ = ["VIDEO_EXTENSIONS", "FrameFolder", "VideoReader", "find_video", "read_image"]
