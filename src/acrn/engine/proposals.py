"""Person proposals from a trained detector's actor network (ResNet + RPN on the key frame).

What users of other toolkits need a separate person detector for: boxes and person scores for every key
frame, written in the two AVA proposals formats by :func:`acrn.engine.infer.write_proposals`.
"""

from __future__ import annotations

import torch
from torch import nn

from acrn.errors import InputError
from acrn.structures import Batch, Detections


class ActorProposals(nn.Module):
    """Only the actor branch of an :class:`~acrn.models.detector.ActionDetector`: ``Batch -> {"proposals",
    "proposal_scores"}`` (lists of ``Tensor[P_b, 4]`` input pixels and ``Tensor[P_b]``)."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        if not hasattr(detector, "actors") or not hasattr(detector.actors, "rpn"):
            raise InputError("proposals need a checkpoint trained with model.actors=rpn (it has no RPN)")
        self.actors = detector.actors

    def forward(self, batch: Batch) -> dict:
        return self.actors(batch)


class ProposalPostProcess:
    """RPN proposals -> :class:`Detections` in original pixels (scores ``Tensor[N, 1]`` = person score)."""

    def __init__(self, max_per_frame: int = 10, min_score: float = 0.0) -> None:
        self.max_per_frame, self.min_score = max_per_frame, min_score

    def __call__(self, outputs: dict, batch: Batch) -> list[Detections]:
        from acrn.models.postprocess import to_original

        dets = []
        for b, (boxes, scores) in enumerate(zip(outputs["proposals"], outputs["proposal_scores"])):
            scores = scores.float()
            order = torch.argsort(scores, descending=True, stable=True)
            order = order[scores[order] >= self.min_score][: self.max_per_frame]
            w = int(batch.image_sizes[b][1])
            meta = {k: batch.metas[b][k] for k in ("video", "timestamp", "orig_size") if k in batch.metas[b]}
            boxes = to_original(boxes[order].float(), batch.metas[b], w)
            dets.append(Detections(boxes.cpu(), scores[order, None].cpu(), scores[order].cpu(), meta))
        return dets
