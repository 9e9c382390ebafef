"""The data structures that flow through acrn, and the one box convention.

Box convention (the only one inside the code)
---------------------------------------------
Every box tensor is ``Tensor[N, 4]`` in **xyxy, absolute pixels**: ``(x1, y1, x2, y2)`` with
``(x1, y1)`` the top-left corner, ``x2 > x1`` and ``y2 > y1`` for a valid box, measured in pixels of
the image the tensor refers to (a dataset sample's boxes are in pixels of the *network input*, a
:class:`Detections` in pixels of the *original frame*). Areas are ``(x2 - x1) * (y2 - y1)`` with no
``+1``. Conversions to other conventions (AVA's normalised ``[0, 1]`` CSV columns, ACT's inclusive
``+1`` pixel areas) happen only where files are read or written (``data/``, ``eval/``).

Labels are ``Tensor[K, C]`` multi-hot float (AVA style, several actions per actor) or ``Tensor[K]``
long class indices (JHMDB style, one action per actor).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor


@dataclass
class Sample:
    """One training or evaluation example: a clip centred on a key frame.

    Attributes:
        clip: ``Tensor[3, T, H, W]`` float RGB, normalised, ``T`` frames centred on the key frame.
        flow: ``Tensor[2, T, H, W]`` float optical flow aligned with ``clip`` (or ``None``).
        keyframe: ``Tensor[3, H, W]`` the key frame itself (input of the actor RPN); usually
            ``clip[:, T // 2]``.
        boxes: ``Tensor[K, 4]`` ground-truth actor boxes, xyxy pixels of the network input.
        labels: ``Tensor[K, C]`` multi-hot float, or ``Tensor[K]`` long class indices.
        proposals: ``Tensor[P, 4]`` actor proposals (xyxy input pixels) read from a file, or ``None``.
        proposal_scores: ``Tensor[P]`` scores of ``proposals``, or ``None``.
        meta: ``video`` (str), ``timestamp`` (key-frame time: AVA second or 1-based frame number),
            ``orig_size`` ``(h, w)`` of the original frame, ``scale`` ``(sy, sx)`` from original to
            input pixels, ``offset`` ``(oy, ox)`` crop offset in scaled pixels, ``flipped`` (bool).
    """

    clip: Tensor
    boxes: Tensor
    labels: Tensor
    meta: dict[str, Any] = field(default_factory=dict)
    flow: Tensor | None = None
    keyframe: Tensor | None = None
    proposals: Tensor | None = None
    proposal_scores: Tensor | None = None

    def __post_init__(self) -> None:
        if self.clip.dim() != 4:
            raise ValueError(f"Sample.clip must be Tensor[C, T, H, W], got shape {tuple(self.clip.shape)}")
        if self.boxes.dim() != 2 or self.boxes.shape[-1] != 4:
            raise ValueError(f"Sample.boxes must be Tensor[K, 4], got shape {tuple(self.boxes.shape)}")
        if self.labels.shape[0] != self.boxes.shape[0]:
            raise ValueError(f"Sample.labels has {self.labels.shape[0]} rows for {self.boxes.shape[0]} boxes")
        if self.keyframe is None:
            self.keyframe = self.clip[:, self.clip.shape[1] // 2]


@dataclass
class Batch:
    """A padded batch of :class:`Sample` (see ``data.clips.collate``).

    Attributes:
        clips: ``Tensor[B, 3, T, H, W]``; clips of different size are zero-padded bottom/right.
        flows: ``Tensor[B, 2, T, H, W]`` or ``None``.
        keyframes: ``Tensor[B, 3, H, W]``.
        image_sizes: ``Tensor[B, 2]`` long, the unpadded ``(h, w)`` of each clip.
        boxes: list of B ``Tensor[K_b, 4]`` ground-truth boxes (xyxy input pixels).
        labels: list of B ``Tensor[K_b, C]`` or ``Tensor[K_b]``.
        proposals: list of B ``Tensor[P_b, 4]`` or ``None``.
        proposal_scores: list of B ``Tensor[P_b]`` or ``None``.
        metas: list of B meta dicts.
        num_skipped: samples of this batch dropped as unreadable (``data.skip_bad``).
    """

    clips: Tensor
    image_sizes: Tensor
    boxes: list[Tensor]
    labels: list[Tensor]
    metas: list[dict[str, Any]]
    keyframes: Tensor | None = None
    flows: Tensor | None = None
    proposals: list[Tensor] | None = None
    proposal_scores: list[Tensor] | None = None
    num_skipped: int = 0

    def __len__(self) -> int:
        return self.clips.shape[0]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """A copy with every tensor moved to ``device``."""

        def mv(x: Any) -> Any:
            if isinstance(x, Tensor):
                return x.to(device, non_blocking=non_blocking)
            if isinstance(x, list):
                return [mv(v) for v in x]
            return x

        return replace(self, clips=mv(self.clips), image_sizes=mv(self.image_sizes), boxes=mv(self.boxes),
                       labels=mv(self.labels), keyframes=mv(self.keyframes), flows=mv(self.flows),
                       proposals=mv(self.proposals), proposal_scores=mv(self.proposal_scores))


@dataclass
class Detections:
    """Post-processed detections of one key frame.

    Attributes:
        boxes: ``Tensor[N, 4]`` actor boxes, xyxy pixels of the **original** frame.
        scores: ``Tensor[N, C]`` per-class scores in [0, 1] (sigmoid for multi-label, softmax without
            the background column for single-label).
        actor_scores: ``Tensor[N]`` confidence that the box is an actor (RPN objectness, proposal
            score, or the best class score).
        heatmaps: ``Tensor[N, C, h, w]`` relation heatmaps at the relation map's resolution, or ``None``.
        meta: ``video``, ``timestamp``, ``orig_size`` ``(h, w)``.
    """

    boxes: Tensor
    scores: Tensor
    actor_scores: Tensor
    meta: dict[str, Any] = field(default_factory=dict)
    heatmaps: Tensor | None = None

    def __len__(self) -> int:
        return self.boxes.shape[0]

    def __post_init__(self) -> None:
        n = self.boxes.shape[0]
        if self.scores.shape[0] != n or self.actor_scores.shape[0] != n:
            raise ValueError(f"Detections: {n} boxes but {self.scores.shape[0]} score rows and "
                             f"{self.actor_scores.shape[0]} actor scores")

    def topk_labels(self, k: int = 3) -> tuple[Tensor, Tensor]:
        """Top-``k`` ``(scores, class indices)`` per box: ``Tensor[N, k]`` each."""
        k = min(k, self.scores.shape[1])
        return self.scores.topk(k, dim=1)

    @staticmethod
    def empty(num_classes: int, meta: dict[str, Any] | None = None) -> Detections:
        """No detections (``N = 0``) for a frame."""
        return Detections(torch.zeros(0, 4), torch.zeros(0, num_classes), torch.zeros(0), meta or {})
