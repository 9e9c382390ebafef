"""``acrn detect`` for one video, as one straight line of stages (read it top to bottom)::

    decode   video file            -> Video             (acrn.detect.decode)
    persons  Video                 -> PersonFrames      (acrn.detect.persons)
    tracks   PersonFrames          -> Tracks            (acrn.detect.tracks)
    actions  Video, Tracks         -> KeyFrameActions   (acrn.detect.actions; only with a checkpoint)
    outputs  Video, Tracks, ...    -> files             (acrn.detect.outputs)

Where the person boxes come from is the caller's choice of ``find_persons`` (a person detector on every
n-th frame, a proposals file, or a checkpoint's RPN), bound before the call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from acrn.detect.actions import ActionModel, classify_actions
from acrn.detect.decode import Video, open_video
from acrn.detect.outputs import write_outputs
from acrn.detect.persons import PersonFrames
from acrn.detect.tracks import link_tracks


@dataclass(frozen=True)
class TrackOptions:
    """How person boxes are linked into tracks (:func:`acrn.detect.tracks.link_tracks`)."""

    iou: float = 0.3  # least IoU to continue a track
    max_gap: int = 20  # looked-at frames a track may miss before it ends (measured on demo.mp4: 10 split more)
    min_hits: int = 3  # fewest detections of a kept track


def detect_video(path: str | Path, out_dir: str | Path, find_persons: Callable[[Video], PersonFrames], *,
                 every: float = 1.0, action_model: ActionModel | None = None, tracking: TrackOptions = TrackOptions(),
                 top_k: int = 3, render: bool = True, extra: dict | None = None) -> dict:
    """Run the five stages on one video and write its files under ``out_dir``; return a summary with the
    time of each stage in seconds."""
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    video = open_video(path, every)                                                      # 1. decode
    seconds["open"] = time.perf_counter() - t

    t = time.perf_counter()
    persons = find_persons(video)                                                        # 2. persons
    seconds.update(persons.seconds or {"persons": time.perf_counter() - t})

    t = time.perf_counter()
    tracks = link_tracks(persons, tracking.iou, tracking.max_gap, tracking.min_hits)     # 3. tracks
    seconds["tracks"] = time.perf_counter() - t

    actions = None
    if action_model is not None:
        actions = classify_actions(video, tracks, action_model)                          # 4. actions
        seconds.update(action_model.seconds)

    t = time.perf_counter()
    class_ids = action_model.class_ids if action_model else []
    class_names = action_model.class_names if action_model else []
    written = write_outputs(video, tracks, actions, Path(out_dir), class_ids=class_ids,  # 5. outputs
                            class_names=class_names, top_k=top_k, render=render, extra=extra)
    seconds["outputs"] = time.perf_counter() - t
    video.reader.close()
    return {"video": video.stem, "frames": video.num_frames, "keyframes": len(video.keyframes),
            "person_boxes": persons.count, "tracks": len(tracks),
            "actors": sum(len(a.track_ids) for a in actions) if actions is not None else None,
            **written, "seconds": {k: round(v, 3) for k, v in seconds.items()}}
