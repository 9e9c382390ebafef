"""Shared helpers of the detector tests (tiny configs and batches; width 0.25, 8x64x64 clips)."""

from __future__ import annotations

import torch

from acrn.config import Config, load_config
from acrn.structures import Batch

NUM_CLASSES = 5
TINY = ["model.width=0.25", f"model.num_classes={NUM_CLASSES}", "data.num_frames=8", "model.rpn.resnet_depth=18",
        "model.rpn.resnet_width=0.25", "model.rpn.anchor_sizes=[16, 32, 64]", "model.rois_per_clip=8",
        "model.rpn.post_nms_top_n_train=16", "model.rpn.post_nms_top_n_test=8", "model.rpn.pre_nms_top_n_test=64",
        "model.rpn.pre_nms_top_n_train=64"]


def tiny_config(*overrides: str) -> Config:
    """A width-0.25 detector config for 8 x 64 x 64 clips, with ``overrides`` (``key=value``) on top."""
    return load_config(None, TINY + list(overrides))


def make_batch(num_clips: int = 2, t: int = 8, size: int = 64, multilabel: bool = True, seed: int = 0) -> Batch:
    """Random clips with two actors in clip 0 and one in the others; labels multi-hot or indices."""
    g = torch.Generator().manual_seed(seed)
    boxes = [torch.tensor([[4.0, 6.0, 30.0, 50.0], [30.0, 10.0, 60.0, 60.0]])]
    boxes += [torch.tensor([[10.0, 10.0, 40.0, 44.0]]) for _ in range(num_clips - 1)]
    if multilabel:
        labels = [(torch.rand(b.shape[0], NUM_CLASSES, generator=g) > 0.5).float() for b in boxes]
    else:
        labels = [torch.randint(0, NUM_CLASSES, (b.shape[0],), generator=g) for b in boxes]
    metas = [{"video": f"v{i}", "timestamp": 900 + i, "orig_size": (2 * size, 2 * size), "scale": (0.5, 0.5),
              "offset": (0, 0), "flipped": False} for i in range(num_clips)]
    return Batch(clips=torch.randn(num_clips, 3, t, size, size, generator=g),
                 image_sizes=torch.tensor([[size, size]] * num_clips), boxes=boxes, labels=labels, metas=metas)
