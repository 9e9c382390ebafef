"""Detector outputs -> :class:`acrn.structures.Detections` per clip, in original-frame pixels.

Per clip: class probabilities (sigmoid, or softmax without the background column), refined boxes
(class-agnostic deltas decoded on the ROIs, when the model regresses boxes), clipped to the input;
actors whose best class score is below ``score_thresh`` are dropped, NMS over actor boxes ranked by
that best score, at most ``detections_per_frame`` kept; boxes mapped back with ``Sample.meta``
(``input = orig * scale - offset``, then a horizontal flip of the input width if ``flipped``, as
``acrn.data.transforms``) and clipped to ``orig_size``. ``actor_scores`` are the ROI scores (RPN
objectness, proposal-file score, or 1 for ground-truth boxes). ``heatmaps`` (ACRN in eval mode) are
attached only with ``keep_heatmaps=True``: at R x C x h x w floats per frame they are for visualisation,
not for holding a whole evaluation set in memory.
"""

from __future__ import annotations

import torch
from torch import Tensor

from acrn.models.losses import BOX_CODER_WEIGHTS
from acrn.ops import clip_boxes, decode_boxes, nms
from acrn.structures import Batch, Detections


def to_original(boxes: Tensor, meta: dict, input_width: int) -> Tensor:
    """Input-pixel boxes ``Tensor[N, 4]`` -> original-frame pixels (undo flip, crop offset and scale)."""
    b = boxes.clone()
    if meta.get("flipped", False):
        b[:, [0, 2]] = input_width - boxes[:, [2, 0]]
    sy, sx = meta.get("scale", (1.0, 1.0))
    oy, ox = meta.get("offset", (0.0, 0.0))
    b[:, [0, 2]] = (b[:, [0, 2]] + ox) / sx
    b[:, [1, 3]] = (b[:, [1, 3]] + oy) / sy
    if "orig_size" in meta:
        b = clip_boxes(b, (int(meta["orig_size"][0]), int(meta["orig_size"][1])))
    return b


def contrastive_heatmaps(heatmaps: Tensor) -> Tensor:
    """Class-contrastive relation heatmaps: ``CAM_c - mean_k CAM_k`` over the C classes.

    ``Tensor[..., C, h, w] -> Tensor[..., C, h, w]``. The CAM of section 4.4 (:meth:`Detector.heatmaps_from_map`)
    contains a part that every class's classifier weights share: it follows "there is structure here"
    (and the zero padding of Mixed_5 at the map's corners), not the action. For a softmax head that part
    does not change any prediction (adding one vector to every class's weights leaves the softmax as it
    is), so only differences between classes are meaningful there; we remove it the same way for sigmoid
    heads. What remains is where the relation features favour class c over the others (measured on the
    demo: the pointing game rises from 1.7 % to 41 % on the same model, chance 6 %).
    """
    return heatmaps - heatmaps.mean(dim=-3, keepdim=True)


class PostProcess:
    """``postprocess(outputs, batch) -> list[Detections]`` (one per clip; see the module docstring)."""

    def __init__(self, multilabel: bool = True, score_thresh: float = 0.05, detections_per_frame: int = 20,
                 nms_thresh: float = 0.5, keep_heatmaps: bool = False) -> None:
        self.multilabel = multilabel
        self.keep_heatmaps = keep_heatmaps
        self.score_thresh = score_thresh
        self.detections_per_frame = detections_per_frame
        self.nms_thresh = nms_thresh

    def probabilities(self, logits: Tensor) -> Tensor:
        """``Tensor[R, K] -> Tensor[R, C]`` class probabilities."""
        return torch.sigmoid(logits) if self.multilabel else torch.softmax(logits, dim=1)[:, 1:]

    @torch.no_grad()
    def __call__(self, outputs: dict, batch: Batch) -> list[Detections]:
        rois = outputs["rois"]
        probs = self.probabilities(outputs["logits"].float())
        boxes = rois[:, 1:]
        if outputs.get("box_deltas") is not None and rois.shape[0]:
            boxes = decode_boxes(outputs["box_deltas"].float(), boxes, BOX_CODER_WEIGHTS)
        counts = outputs["rois_per_clip"]
        heat = outputs.get("heatmaps") if self.keep_heatmaps else None
        parts = zip(boxes.split(counts), probs.split(counts), outputs["roi_scores"].split(counts),
                    heat.split(counts) if heat is not None else [None] * len(counts))
        dets = []
        for b, (bx, pr, sc, hm) in enumerate(parts):
            h, w = (int(v) for v in batch.image_sizes[b])
            bx = clip_boxes(bx, (h, w))
            best = pr.max(dim=1).values if pr.shape[0] else pr.new_zeros(0)
            keep = torch.nonzero(best >= self.score_thresh).flatten()
            keep = keep[nms(bx[keep], best[keep], self.nms_thresh)][:self.detections_per_frame]
            meta = {k: batch.metas[b][k] for k in ("video", "timestamp", "orig_size") if k in batch.metas[b]}
            dets.append(Detections(to_original(bx[keep], batch.metas[b], w).cpu(), pr[keep].cpu(),
                                   sc[keep].float().cpu(), meta, hm[keep].cpu() if hm is not None else None))
        return dets
