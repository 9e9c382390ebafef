"""Extracted-frame folders: ``read(indices) -> uint8 [T, H, W, 3]`` RGB from one image file per frame,
and the OpenCV fork guard that every frame source here relies on (DataLoader workers fork).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from acrn.errors import InputError


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


__all__ = ["FrameFolder", "read_image"]
