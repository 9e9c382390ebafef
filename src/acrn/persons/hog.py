"""OpenCV's HOG + linear SVM people detector (Dalal & Triggs), the zero-file fallback.

It needs no weight file (the SVM ships inside OpenCV) but it is slow and finds only upright, mostly
unoccluded people whose height is at least the 128-pixel detection window after ``upscale``; use
FastestDet (:mod:`acrn.persons.fastestdet`) unless no weights can be had.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
from torch import Tensor

from acrn.ops import nms


class HOGPersons:
    """``__call__(frames) -> [(boxes Tensor[N, 4] xyxy original pixels, scores Tensor[N])]`` per frame.

    Args:
        score_thresh: minimum detection score; scores are ``sigmoid(SVM margin)`` so that 0.5 is the
            SVM's own decision boundary.
        nms_iou: IoU above which the lower-scoring of two boxes is removed (OpenCV's grouping is off:
            NMS keeps the best window rather than averaging overlapping ones).
        max_persons: at most this many boxes per frame.
        upscale: frames are enlarged by this factor first, so people down to ``128 / upscale`` pixels
            tall fit the window (at the cost of ``upscale**2`` the time).
        win_stride: window step in pixels of the (upscaled) frame.
        scale: pyramid step between detection scales.
    """

    def __init__(self, score_thresh: float = 0.5, nms_iou: float = 0.45, max_persons: int = 50,
                 upscale: float = 1.5, win_stride: int = 8, scale: float = 1.05) -> None:
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.score_thresh, self.nms_iou, self.max_persons = score_thresh, nms_iou, max_persons
        self.upscale, self.win_stride, self.scale = upscale, win_stride, scale

    def __call__(self, frames: Sequence[np.ndarray]) -> list[tuple[Tensor, Tensor]]:
        return [self._one(f) for f in frames]

    def _one(self, rgb: np.ndarray) -> tuple[Tensor, Tensor]:
        img = rgb
        if self.upscale != 1.0:
            img = cv2.resize(rgb, None, fx=self.upscale, fy=self.upscale, interpolation=cv2.INTER_LINEAR)
        s = self.win_stride
        rects, weights = self.hog.detectMultiScale(img, hitThreshold=0.0, winStride=(s, s), padding=(8, 8),
                                                   scale=self.scale, groupThreshold=0)
        if len(rects) == 0:
            return torch.zeros(0, 4), torch.zeros(0)
        r = torch.as_tensor(np.asarray(rects, np.float32).reshape(-1, 4)) / self.upscale
        boxes = torch.stack([r[:, 0], r[:, 1], r[:, 0] + r[:, 2], r[:, 1] + r[:, 3]], 1)
        h, w = rgb.shape[:2]
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
        scores = torch.sigmoid(torch.as_tensor(np.asarray(weights, np.float32).reshape(-1)))
        keep = torch.nonzero(scores >= self.score_thresh).flatten()
        keep = keep[nms(boxes[keep], scores[keep], self.nms_iou)][: self.max_persons]
        return boxes[keep], scores[keep]
