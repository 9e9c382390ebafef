"""Actor ROIs for the action classifier: label assignment and training-time sampling (section 4.1:
"mini-batch size of ... 64 for action classifier", following [13]).

A proposal takes the labels of the ground-truth actor it overlaps most if that IoU is >= ``fg_iou``;
otherwise it is background (all-zero multi-hot target, or the background class of a softmax head).
"""

from __future__ import annotations

import torch
from torch import Tensor

from acrn.ops import box_iou


def match_rois(rois: Tensor, gt: Tensor, fg_iou: float) -> Tensor:
    """``Tensor[R]`` long: index of the matched gt box per ROI, -1 for background.

    Args:
        rois: ``Tensor[R, 4]``; gt: ``Tensor[K, 4]`` (xyxy, same pixels).
    """
    if gt.shape[0] == 0 or rois.shape[0] == 0:
        return torch.full((rois.shape[0],), -1, dtype=torch.long, device=rois.device)
    best, idx = box_iou(rois, gt.to(rois)).max(dim=1)
    return torch.where(best >= fg_iou, idx, torch.full_like(idx, -1))


class ROISampler:
    """Picks ``num`` ROIs per clip for the classifier in training.

    Args:
        num: ROIs per clip (64 in the paper).
        fg_iou: IoU with a ground-truth actor that makes a ROI positive.
        positive_fraction: at most ``num * positive_fraction`` positives; background fills the rest.
            Softmax heads use the configured fraction; for the sigmoid multi-label head the builder passes
            1.0 (positives first, then background), since a background ROI there only teaches "no action".
        add_gt: append the ground-truth boxes to the proposals first (standard Faster R-CNN practice; it
            guarantees positives early in training when the RPN is still poor).

    ``__call__(proposals: Tensor[P, 4], scores: Tensor[P], gt: Tensor[K, 4]) ->
    (rois Tensor[n, 4], scores Tensor[n], matched Tensor[n])`` with ``n <= num``; gt boxes added
    here get score 1.
    """

    def __init__(self, num: int = 64, fg_iou: float = 0.5, positive_fraction: float = 0.25,
                 add_gt: bool = True) -> None:
        self.num = num
        self.fg_iou = fg_iou
        self.positive_fraction = positive_fraction
        self.add_gt = add_gt

    def __call__(self, proposals: Tensor, scores: Tensor, gt: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if self.add_gt and gt.shape[0]:
            proposals = torch.cat([proposals, gt.to(proposals)])
            scores = torch.cat([scores, torch.ones(gt.shape[0], dtype=scores.dtype, device=scores.device)])
        matched = match_rois(proposals, gt, self.fg_iou)
        pos = torch.nonzero(matched >= 0).flatten()
        neg = torch.nonzero(matched < 0).flatten()
        n_pos = min(pos.numel(), int(round(self.num * self.positive_fraction)))
        n_neg = min(neg.numel(), self.num - n_pos)
        pos = pos[torch.randperm(pos.numel(), device=pos.device)[:n_pos]]
        neg = neg[torch.randperm(neg.numel(), device=neg.device)[:n_neg]]
        keep = torch.cat([pos, neg])
        return proposals[keep], scores[keep], matched[keep]
