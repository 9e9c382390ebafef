"""Training losses of the action detector, separate from the model (DETR-style criterion).

``criterion(outputs, batch) -> dict`` of scalar tensors:

* ``loss_rpn_cls``, ``loss_rpn_box``: Faster R-CNN RPN losses (only when actors come from the RPN).
* ``loss_cls``: sigmoid binary cross-entropy averaged over ROIs x classes (multi-label, AVA; a
  background ROI has an all-zero target), or softmax cross-entropy over classes + background averaged
  over ROIs (single-label, JHMDB/UCF101-24; background is class 0).
* ``loss_box``: smooth-L1 (beta 1/9) of the class-agnostic box deltas of positive ROIs, summed and
  divided by the number of ROIs (Faster R-CNN's normalisation).
* ``loss``: the weighted total.

Every term is finite when a batch has no ROIs or no actors (it is then 0 and keeps the graph).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from acrn.errors import InputError
from acrn.models.rpn import rpn_loss
from acrn.ops import encode_boxes
from acrn.structures import Batch

BOX_CODER_WEIGHTS = (10.0, 10.0, 5.0, 5.0)  # Faster R-CNN's second-stage delta weights


def multi_hot(labels: Tensor, num_classes: int) -> Tensor:
    """``Tensor[K]`` class indices or ``Tensor[K, C]`` multi-hot -> ``Tensor[K, C]`` float."""
    if labels.dim() == 1:
        return F.one_hot(labels.long(), num_classes).float()
    if labels.shape[1] != num_classes:
        raise InputError(f"labels have {labels.shape[1]} classes, the model has {num_classes} (model.num_classes)")
    return labels.float()


def class_index(labels: Tensor, num_classes: int) -> Tensor:
    """``Tensor[K]`` class indices from indices or one-hot rows (a softmax head needs one action per actor)."""
    if labels.dim() == 1:
        return labels.long()
    if labels.shape[0] and not torch.all(labels.sum(1) == 1):
        raise InputError("a softmax (single-label) head needs exactly one action per actor; set "
                         "model.multilabel=true for multi-label data")
    return labels.argmax(1).long()


def roi_targets(outputs: dict, batch: Batch, num_classes: int, multilabel: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Per ROI: class targets (``Tensor[R, C]`` multi-hot or ``Tensor[R]`` index with background 0),
    positive mask ``Tensor[R]`` bool, and matched gt boxes ``Tensor[R, 4]`` (zeros for background)."""
    rois, matched = outputs["rois"], outputs["roi_matched"]
    cls, boxes = [], []
    for b, m in enumerate(matched.split(outputs["rois_per_clip"])):
        n, fg = m.shape[0], m >= 0
        gt_boxes = batch.boxes[b].to(rois)
        box_t = torch.zeros(n, 4, dtype=rois.dtype, device=rois.device)
        box_t[fg] = gt_boxes[m[fg]]
        labels = batch.labels[b].to(rois.device)
        if multilabel:
            t = torch.zeros(n, num_classes, device=rois.device)
            t[fg] = multi_hot(labels, num_classes)[m[fg]]
        else:
            t = torch.zeros(n, dtype=torch.long, device=rois.device)
            t[fg] = class_index(labels, num_classes)[m[fg]] + 1
        cls.append(t)
        boxes.append(box_t)
    return torch.cat(cls), matched >= 0, torch.cat(boxes)


class DetectionCriterion(nn.Module):
    """Losses of the detector (see the module docstring).

    Args:
        num_classes: action classes without background.
        multilabel: sigmoid (True) or softmax with background (False).
        rpn: keyword arguments of :func:`rpn_loss` (fg_iou, bg_iou, batch_per_image, positive_fraction).
        weights: multipliers of ``loss_rpn_cls``, ``loss_rpn_box``, ``loss_cls``, ``loss_box`` in ``loss``.
    """

    def __init__(self, num_classes: int, multilabel: bool = True, rpn: dict | None = None,
                 weights: dict[str, float] | None = None) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.multilabel = multilabel
        self.rpn = dict(rpn or {})
        self.weights = {"loss_rpn_cls": 1.0, "loss_rpn_box": 1.0, "loss_cls": 1.0, "loss_box": 1.0}
        self.weights.update(weights or {})

    def forward(self, outputs: dict, batch: Batch) -> dict[str, Tensor]:
        losses: dict[str, Tensor] = {}
        if "rpn" in outputs:
            r = outputs["rpn"]
            losses["loss_rpn_cls"], losses["loss_rpn_box"] = rpn_loss(
                r["objectness"], r["deltas"], r["anchors"], batch.boxes, **self.rpn)
        losses.update(self.roi_losses(outputs, batch))
        losses["loss"] = sum(self.weights[k] * v for k, v in losses.items())
        return losses

    def roi_losses(self, outputs: dict, batch: Batch) -> dict[str, Tensor]:
        logits, deltas = outputs["logits"], outputs["box_deltas"]
        zero = logits.sum() * 0.0
        if deltas is not None:
            zero = zero + deltas.sum() * 0.0
        if logits.shape[0] == 0:
            out = {"loss_cls": zero}
            if deltas is not None:
                out["loss_box"] = zero
            return out
        target, fg, gt_boxes = roi_targets(outputs, batch, self.num_classes, self.multilabel)
        if self.multilabel:
            loss_cls = F.binary_cross_entropy_with_logits(logits, target)
        else:
            loss_cls = F.cross_entropy(logits, target)
        out = {"loss_cls": loss_cls + zero}
        if deltas is not None:
            if fg.any():
                reg = encode_boxes(gt_boxes[fg], outputs["rois"][fg, 1:], BOX_CODER_WEIGHTS)
                loss_box = F.smooth_l1_loss(deltas[fg], reg, beta=1 / 9, reduction="sum") / logits.shape[0]
            else:
                loss_box = zero
            out["loss_box"] = loss_box + zero
        return out
