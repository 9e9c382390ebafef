"""Stage 1 of ``acrn detect``: a video file -> :class:`Video` (its reader, frame rate, size, key frames).

Key frames are every ``every`` seconds from the first frame (``t = 0, every, 2 every, ...``); with
``every = 1`` they are AVA's whole-second key frames. Each key frame is the frame shown at time ``t``
(exact for variable frame rate files). Frames are decoded later, where a stage needs them: sequentially
for the person detector (:meth:`Video.frames`) and as clips around key frames for the action model.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from acrn.data.video import VIDEO_EXTENSIONS, VideoReader
from acrn.errors import InputError


@dataclass(frozen=True)
class KeyFrame:
    """A frame the action model labels: 0-based frame ``index`` at ``time`` seconds."""

    index: int
    time: float


@dataclass
class Video:
    """One opened video: ``reader`` gives upright RGB frames; ``size`` is ``(h, w)`` of those frames."""

    path: Path
    reader: VideoReader
    num_frames: int
    fps: float
    size: tuple[int, int]
    keyframes: list[KeyFrame]

    @property
    def stem(self) -> str:
        """The video id in output files (the file name without extension)."""
        return self.path.stem

    def frames(self, step: int = 1) -> Iterator[tuple[int, float, np.ndarray]]:
        """``(index, seconds, uint8 [H, W, 3] RGB)`` of frames ``0, step, 2 step, ...``, decoded in order."""
        return self.reader.frames(step=step)


def keyframe_times(duration: float, every: float) -> list[float]:
    """``0, every, 2 every, ...`` inside ``[0, duration)`` seconds."""
    if every <= 0:
        raise InputError(f"--every must be > 0 seconds, got {every}")
    return [round(float(t), 6) for t in np.arange(0.0, duration, every)]


def open_video(path: str | Path, every: float = 1.0) -> Video:
    """Open ``path`` and place key frames every ``every`` seconds (:class:`InputError` on a bad file)."""
    reader = VideoReader(path)
    n = reader.count_frames()
    if n == 0:
        raise InputError(f"{reader.path}: the video stream has no decodable frame")
    times = keyframe_times(reader.time_of(n - 1) - reader.time_of(0) + 1.0 / reader.fps, every)
    start = reader.time_of(0)
    keys, seen = [], set()
    for t in times:
        i = min(reader.index_at(start + t), n - 1)
        if i not in seen:  # a low frame rate can map two times to one frame
            seen.add(i)
            keys.append(KeyFrame(i, t))
    return Video(reader.path, reader, n, reader.fps, tuple(reader.size), keys)


def expand_videos(sources: Sequence[str | Path]) -> list[Path]:
    """Video files named in ``sources``; a folder contributes its videos (sorted, by known extension).

    :class:`InputError` for a missing path, a folder with no videos, or two videos with the same stem
    (the stem is the video id in the output files).
    """
    paths: list[Path] = []
    for s in sources:
        p = Path(s)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in VIDEO_EXTENSIONS)
            if not found:
                raise InputError(f"{p}: folder has no videos ({', '.join(VIDEO_EXTENSIONS)})")
            paths += found
        elif p.is_file():
            paths.append(p)
        else:
            raise InputError(f"{p}: video file not found")
    stems = [p.stem for p in paths]
    dup = sorted({s for s in stems if stems.count(s) > 1})
    if dup:
        raise InputError(f"videos must have distinct file names (the stem is the video id): {dup[0]!r} repeats")
    return paths
