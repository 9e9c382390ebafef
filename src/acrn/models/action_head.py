"""The Base-Model action head (paper section 3.1) and the linear classifier / box regressor.

Path of one actor: the flattened ``Mixed_4f`` map F (``Tensor[B, 832, h, w]``, the t x 1 x 1 temporal
convolution is applied by the detector because the relation heads read F too) is cropped at the actor
box with ROI align to 7 x 7 (``crop_actors``), inflated back to 3D, run through ``Mixed_5b`` and
``Mixed_5c`` and average-pooled to f_a (1024-d at width 1).

Inflation: the crop is given a time axis of length ``inflate_t`` by repetition (default 1: a single
"frame"). With t = 1 the temporal 3x1x1 convolutions of Mixed_5b/5c see only their centre tap (the
others read the zero padding), which is what a flattened 2D map holds; repeating the crop t times
costs t times the FLOPs and gives the same centre-tap response plus edge effects, so t = 1 is the
default.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from acrn.ops import roi_align


def crop_actors(fmap: Tensor, rois: Tensor, size: int, spatial_scale: float, sampling_ratio: int) -> Tensor:
    """ROI align of actor boxes on a 2D map (section 3.1, "crop and resize ... ROI Pooling").

    Args:
        fmap: ``Tensor[B, C, h, w]``; rois: ``Tensor[R, 5]`` (batch index, x1, y1, x2, y2 input pixels).
    Returns:
        ``Tensor[R, C, size, size]``.
    """
    if rois.shape[0] == 0:
        return fmap.new_zeros(0, fmap.shape[1], size, size)
    return roi_align(fmap, rois, (size, size), spatial_scale=spatial_scale, sampling_ratio=sampling_ratio,
                     aligned=True)


def inflate(crops: Tensor, t: int = 1) -> Tensor:
    """``Tensor[R, C, h, w] -> Tensor[R, C, t, h, w]`` by repetition along time."""
    x = crops.unsqueeze(2)
    return x.expand(-1, -1, t, -1, -1).contiguous() if t > 1 else x


class ActorHead(nn.Module):
    """Base-Model head: ``Mixed_5b``/``Mixed_5c`` on inflated actor crops, then average pooling.

    Args:
        mixed5: module ``Tensor[R, C4f, t, h, w] -> Tensor[R, C5c, t, h, w]`` with ``out_channels``.
        inflate_t: time length given to the 2D crops (see the module docstring).

    ``forward(crops: Tensor[R, C4f, s, s], boxes: Tensor[R, 4], batch_idx: Tensor[R], scene: list) -> dict``
    with ``features`` = ``f_a`` ``Tensor[R, C5c]``. ``boxes`` (normalised to [0, 1]), ``batch_idx`` and
    ``scene`` (relation maps) are ignored here; every head takes the same arguments so the detector is
    the same for all of them.
    """

    relation_channels = 0

    def __init__(self, mixed5: nn.Module, inflate_t: int = 1) -> None:
        super().__init__()
        self.mixed5 = mixed5
        self.inflate_t = inflate_t
        self.out_channels = mixed5.out_channels

    def actor_features(self, crops: Tensor) -> Tensor:
        """f_a: ``Tensor[R, C4f, s, s] -> Tensor[R, C5c]``."""
        if crops.shape[0] == 0:
            return crops.new_zeros(0, self.mixed5.out_channels)
        return self.mixed5(inflate(crops, self.inflate_t)).mean(dim=(2, 3, 4))

    def forward(self, crops: Tensor, boxes: Tensor, batch_idx: Tensor, scene: list[Tensor]) -> dict:
        f_a = self.actor_features(crops)
        return {"features": f_a, "f_a": f_a}


class Predictor(nn.Module):
    """Dropout, then a linear classifier and (optionally) a class-agnostic box regressor (section 3.1).

    ``forward(features: Tensor[R, D]) -> (logits Tensor[R, K], deltas Tensor[R, 4] | None)``; ``K`` is the
    number of classes (sigmoid multi-label) or classes + 1 with background at index 0 (softmax).
    """

    def __init__(self, in_features: int, num_logits: int, box_regression: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.cls_score = nn.Linear(in_features, num_logits)
        self.bbox_pred = nn.Linear(in_features, 4) if box_regression else None
        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.zeros_(self.cls_score.bias)
        if self.bbox_pred is not None:
            nn.init.normal_(self.bbox_pred.weight, std=0.001)
            nn.init.zeros_(self.bbox_pred.bias)

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor | None]:
        x = self.dropout(features)
        deltas = self.bbox_pred(x) if self.bbox_pred is not None else None
        return self.cls_score(x), deltas


def normalised_boxes(rois: Tensor, height: int, width: int) -> Tensor:
    """b_i of equation 2: ``Tensor[R, 5]`` rois -> ``Tensor[R, 4]`` xyxy divided by the input size."""
    scale = torch.tensor([width, height, width, height], dtype=rois.dtype, device=rois.device)
    return rois[:, 1:] / scale
