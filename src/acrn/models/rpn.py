"""Actor region proposal network on the key frame (paper section 3.1; Faster R-CNN [40]).

One feature map (ResNet ``layer3``, stride 16) carries ``len(sizes) * len(aspect_ratios)`` anchors per
cell. The head predicts an objectness logit and box deltas per anchor; proposals are the decoded
anchors, clipped, small ones removed, top-``pre_nms_top_n`` by score, NMS, top-``post_nms_top_n``
(different numbers in training and at test time). Proposals are detached, as in Faster R-CNN's
approximate joint training. The loss (:func:`rpn_loss`) samples 256 anchors per image, at most half
positive, positives at IoU >= 0.7 (plus each ground-truth box's best anchors), negatives below 0.3.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from acrn.ops import box_iou, clip_boxes, decode_boxes, encode_boxes, nms, remove_small_boxes


class AnchorGenerator(nn.Module):
    """Anchors of one feature map: ``sizes`` x ``aspect_ratios`` (height / width) at every cell.

    ``forward(h, w, stride) -> Tensor[h * w * A, 4]`` xyxy input pixels, ordered (row, column, anchor)
    to match the head's ``permute(0, 2, 3, 1)`` layout. Anchors are centred on ``(x * stride, y * stride)``
    like torchvision's.
    """

    def __init__(self, sizes: tuple[float, ...], aspect_ratios: tuple[float, ...]) -> None:
        super().__init__()
        sizes_t = torch.as_tensor(sizes, dtype=torch.float32)
        ratios = torch.as_tensor(aspect_ratios, dtype=torch.float32)
        h_ratios = torch.sqrt(ratios)
        w_ratios = 1.0 / h_ratios
        ws = (w_ratios[:, None] * sizes_t[None, :]).reshape(-1)
        hs = (h_ratios[:, None] * sizes_t[None, :]).reshape(-1)
        self.register_buffer("base", (torch.stack([-ws, -hs, ws, hs], dim=1) / 2).round(), persistent=False)

    @property
    def num_anchors(self) -> int:
        return self.base.shape[0]

    def forward(self, h: int, w: int, stride: int) -> Tensor:
        ys = torch.arange(h, dtype=torch.float32, device=self.base.device) * stride
        xs = torch.arange(w, dtype=torch.float32, device=self.base.device) * stride
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")
        shifts = torch.stack([xx, yy, xx, yy], dim=-1).reshape(-1, 1, 4)  # [h*w, 1, 4]
        return (shifts + self.base[None]).reshape(-1, 4)


class RPNHead(nn.Module):
    """3x3 conv + ReLU, then 1x1 convs for objectness and deltas.

    ``Tensor[B, C, h, w] -> (Tensor[B, h*w*A] logits, Tensor[B, h*w*A, 4] deltas)``.
    """

    def __init__(self, in_channels: int, num_anchors: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, in_channels, 3, padding=1)
        self.cls_logits = nn.Conv2d(in_channels, num_anchors, 1)
        self.bbox_pred = nn.Conv2d(in_channels, num_anchors * 4, 1)
        for layer in (self.conv, self.cls_logits, self.bbox_pred):
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        t = F.relu(self.conv(x))
        b, _, h, w = x.shape
        logits = self.cls_logits(t).permute(0, 2, 3, 1).reshape(b, -1)
        deltas = self.bbox_pred(t).reshape(b, -1, 4, h, w).permute(0, 3, 4, 1, 2).reshape(b, -1, 4)
        return logits, deltas


class RegionProposalNetwork(nn.Module):
    """Anchors + head + proposal selection on one stride-``stride`` feature map.

    ``forward(features: Tensor[B, C, h, w], image_sizes: Tensor[B, 2]) -> dict`` with
    ``proposals`` (list of B ``Tensor[P_b, 4]``, xyxy input pixels, detached), ``proposal_scores``
    (list of B ``Tensor[P_b]``, sigmoid objectness), ``objectness`` ``Tensor[B, N]`` logits,
    ``deltas`` ``Tensor[B, N, 4]`` and ``anchors`` ``Tensor[N, 4]`` (for :func:`rpn_loss`).
    """

    def __init__(self, anchor_generator: AnchorGenerator, head: RPNHead, stride: int,
                 pre_nms_top_n: tuple[int, int], post_nms_top_n: tuple[int, int], nms_thresh: float = 0.7,
                 min_size: float = 1e-3) -> None:
        super().__init__()
        self.anchor_generator = anchor_generator
        self.head = head
        self.stride = stride
        self.pre_nms_top_n = pre_nms_top_n  # (train, test)
        self.post_nms_top_n = post_nms_top_n
        self.nms_thresh = nms_thresh
        self.min_size = min_size
        self.bbox_clip = math.log(1000.0 / 16)

    def forward(self, features: Tensor, image_sizes: Tensor) -> dict:
        logits, deltas = self.head(features)
        anchors = self.anchor_generator(features.shape[-2], features.shape[-1], self.stride)
        proposals, scores = [], []
        pre_n = self.pre_nms_top_n[0 if self.training else 1]
        post_n = self.post_nms_top_n[0 if self.training else 1]
        for b in range(features.shape[0]):
            boxes, s = self._select(logits[b].detach(), deltas[b].detach(), anchors, image_sizes[b], pre_n, post_n)
            proposals.append(boxes)
            scores.append(s)
        return {"proposals": proposals, "proposal_scores": scores, "objectness": logits, "deltas": deltas,
                "anchors": anchors}

    def _select(self, logits: Tensor, deltas: Tensor, anchors: Tensor, size: Tensor, pre_n: int,
                post_n: int) -> tuple[Tensor, Tensor]:
        """Top-k, decode, clip, drop tiny boxes, NMS, top-k of one image."""
        k = min(pre_n, logits.shape[0])
        top, idx = logits.topk(k)
        boxes = decode_boxes(deltas[idx], anchors[idx], clamp=self.bbox_clip)
        boxes = clip_boxes(boxes, (int(size[0]), int(size[1])))
        keep = remove_small_boxes(boxes, self.min_size)
        boxes, top = boxes[keep], top[keep]
        keep = nms(boxes, top, self.nms_thresh)[:post_n]
        return boxes[keep], torch.sigmoid(top[keep])


def match_anchors(anchors: Tensor, gt: Tensor, fg_iou: float, bg_iou: float) -> Tensor:
    """Label anchors: ``Tensor[N]`` long, gt index for positives, -1 negative, -2 ignored.

    Positive: IoU >= ``fg_iou`` with some gt box, or among the best anchors of a gt box (Faster R-CNN's
    low-quality matches, so every actor gets an anchor); negative: best IoU < ``bg_iou``.
    """
    n = anchors.shape[0]
    if gt.shape[0] == 0:
        return torch.full((n,), -1, dtype=torch.long, device=anchors.device)
    iou = box_iou(gt, anchors)  # [K, N]
    best, matched = iou.max(dim=0)
    labels = torch.full((n,), -2, dtype=torch.long, device=anchors.device)
    labels[best < bg_iou] = -1
    labels[best >= fg_iou] = matched[best >= fg_iou]
    best_per_gt = iou.max(dim=1, keepdim=True).values
    _, anchor_idx = torch.nonzero((iou == best_per_gt) & (best_per_gt > 0), as_tuple=True)
    labels[anchor_idx] = matched[anchor_idx]
    return labels


def sample_labels(labels: Tensor, num: int, positive_fraction: float,
                  generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Random positive (``labels >= 0``) and negative (``labels == -1``) indices: at most
    ``num * positive_fraction`` positives, negatives fill up to ``num`` in total."""
    pos = torch.nonzero(labels >= 0).flatten()
    neg = torch.nonzero(labels == -1).flatten()
    n_pos = min(pos.numel(), int(num * positive_fraction))
    n_neg = min(neg.numel(), num - n_pos)
    pos = pos[torch.randperm(pos.numel(), generator=generator, device=pos.device)[:n_pos]]
    neg = neg[torch.randperm(neg.numel(), generator=generator, device=neg.device)[:n_neg]]
    return pos, neg


def rpn_loss(objectness: Tensor, deltas: Tensor, anchors: Tensor, gt_boxes: list[Tensor], fg_iou: float = 0.7,
             bg_iou: float = 0.3, batch_per_image: int = 256, positive_fraction: float = 0.5) -> tuple[Tensor, Tensor]:
    """Faster R-CNN RPN losses over ``batch_per_image`` sampled anchors per image.

    Args:
        objectness: ``Tensor[B, N]`` logits; deltas: ``Tensor[B, N, 4]``; anchors: ``Tensor[N, 4]``;
        gt_boxes: list of B ``Tensor[K_b, 4]`` actor boxes (xyxy input pixels).
    Returns:
        ``(loss_objectness, loss_box)``: binary cross-entropy averaged over sampled anchors, and
        smooth-L1 (beta 1/9) of positive anchors' deltas summed and divided by the sampled count.
        An image without actors contributes negatives only (its box loss is 0).
    """
    cls_losses, box_losses, counts = [], [], 0
    for b, gt in enumerate(gt_boxes):
        labels = match_anchors(anchors, gt.to(anchors), fg_iou, bg_iou)
        pos, neg = sample_labels(labels, batch_per_image, positive_fraction)
        idx = torch.cat([pos, neg])
        target = torch.cat([torch.ones_like(pos), torch.zeros_like(neg)]).to(objectness.dtype)
        cls_losses.append(F.binary_cross_entropy_with_logits(objectness[b, idx], target, reduction="sum"))
        if pos.numel():
            reg = encode_boxes(gt[labels[pos]].to(anchors), anchors[pos])
            box_losses.append(F.smooth_l1_loss(deltas[b, pos], reg, beta=1 / 9, reduction="sum"))
        counts += idx.numel()
    denom = max(counts, 1)
    zero = objectness.sum() * 0.0 + deltas.sum() * 0.0  # keeps the graph and stays finite when empty
    loss_cls = torch.stack(cls_losses).sum() / denom if cls_losses else zero
    loss_box = torch.stack(box_losses).sum() / denom if box_losses else zero
    return loss_cls, loss_box
