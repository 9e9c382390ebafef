"""Stage 2 of ``acrn detect``: :class:`~acrn.detect.decode.Video` -> :class:`PersonFrames`.

Person boxes on sampled frames: every ``step``-th frame through a person detector
(:mod:`acrn.persons`), or the key frames' boxes of a proposals file (AVA practice), or the key frames'
proposals of a checkpoint's own actor RPN. Boxes are xyxy pixels of the original (upright) frame.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from acrn.detect.decode import Video
from acrn.persons import PersonDetector


@dataclass
class PersonFrames:
    """Person boxes of one video on the frames that were looked at.

    Attributes:
        indices: sorted 0-based frame indices that were looked at (a frame with no person is listed).
        boxes: per index ``Tensor[N_i, 4]`` xyxy original pixels.
        scores: per index ``Tensor[N_i]`` person scores in ``[0, 1]``.
        step: frames between two looked-at frames (for tracking: gaps are counted in steps).
        seconds: time spent (decoding and detecting).
    """

    indices: list[int]
    boxes: list[Tensor]
    scores: list[Tensor]
    step: int = 1
    seconds: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (len(self.indices) == len(self.boxes) == len(self.scores)):
            raise ValueError("PersonFrames: indices, boxes and scores must have one entry per frame")

    @property
    def count(self) -> int:
        return sum(len(b) for b in self.boxes)


def detect_persons(video: Video, detector: PersonDetector, step: int = 1, batch_size: int = 8) -> PersonFrames:
    """Run ``detector`` on frames ``0, step, 2 step, ...`` of ``video`` (decoded in order, in batches)."""
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    indices, boxes, scores = [], [], []
    pending: list[tuple[int, np.ndarray]] = []
    t_detect = 0.0
    t0 = time.perf_counter()

    def flush() -> None:
        nonlocal t_detect
        t = time.perf_counter()
        for (i, _), (b, s) in zip(pending, detector([f for _, f in pending])):
            indices.append(i)
            boxes.append(b.float())
            scores.append(s.float())
        t_detect += time.perf_counter() - t
        pending.clear()

    for i, _, frame in video.frames(step):
        pending.append((i, frame))
        if len(pending) == batch_size:
            flush()
    if pending:
        flush()
    total = time.perf_counter() - t0
    return PersonFrames(indices, boxes, scores, step, {"decode": total - t_detect, "persons": t_detect})


def file_persons(video: Video, proposals: dict) -> PersonFrames:
    """Key-frame boxes from a proposals file ``{(video, second): float32 [P, 5]}`` (normalised + score,
    as :func:`acrn.data.ava.read_proposals` returns), looked up by the key frame's whole second."""
    h, w = video.size
    scale = torch.tensor([w, h, w, h], dtype=torch.float32)
    indices, boxes, scores = [], [], []
    for k in video.keyframes:
        arr = np.asarray(proposals.get((video.stem, int(round(k.time))), np.zeros((0, 5), np.float32)), np.float32)
        indices.append(k.index)
        boxes.append(torch.from_numpy(arr[:, :4].copy()) * scale)
        scores.append(torch.from_numpy(arr[:, 4].copy()))
    step = max(1, int(round(np.median(np.diff([k.index for k in video.keyframes]))))) if len(indices) > 1 else 1
    return PersonFrames(indices, boxes, scores, step)


@torch.inference_mode()
def rpn_persons(video: Video, am, max_persons: int = 50, min_score: float = 0.0) -> PersonFrames:
    """Key-frame proposals of the checkpoint's own actor network (ResNet + RPN, ``model.actors = "rpn"``)."""
    from acrn.data import ClipRecord, collate
    from acrn.detect.actions import clip_dataset, empty_labels, forward
    from acrn.engine.proposals import ProposalPostProcess

    if am.rpn is None:
        raise ValueError("rpn_persons needs an ActionModel loaded with actors='rpn'")
    net, post = am.rpn, ProposalPostProcess(max_persons, min_score)
    recs = [ClipRecord(video.stem, k.time, np.zeros((0, 4), np.float32), empty_labels(am), frame=k.index, time=k.time)
            for k in video.keyframes]
    ds = clip_dataset(video, am, recs)
    boxes, scores = [], []
    for i in range(len(ds)):
        batch = collate([ds[i]]).to(am.device)
        d = post(forward(net, batch), batch)[0]
        boxes.append(d.boxes.float())
        scores.append(d.actor_scores.float())
    idx = [k.index for k in video.keyframes]
    step = max(1, int(round(np.median(np.diff(idx))))) if len(idx) > 1 else 1
    return PersonFrames(idx, boxes, scores, step)
