"""SlowFast backbone: pathway shapes, lateral fusion, and use under every acrn head (reduced widths)."""

from __future__ import annotations

import pytest
import torch

from acrn.config import load_config
from acrn.models import build_model
from acrn.models.slowfast import SlowFast
from acrn.structures import Batch


def test_pathway_shapes_and_stride():
    net = SlowFast(depth=50, tau=4, alpha=4, beta=2, base_channels=4).eval()
    with torch.no_grad():
        out = net(torch.randn(1, 3, 16, 64, 64))
    assert out["slow"].shape == (1, 128, 4, 4, 4) and out["fast"].shape == (1, 64, 16, 4, 4)
    assert out["Mixed_4f"].shape == (1, 192, 1, 4, 4) and net.strides["Mixed_4f"] == (1, 16, 16)
    torch.testing.assert_close(out["Mixed_4f"][:, :128, 0], out["slow"].mean(2))


def test_bad_ratios_are_refused():
    with pytest.raises(ValueError, match="multiple of alpha"):
        SlowFast(tau=4, alpha=3)


@pytest.mark.parametrize("head", ["none", "resize_concat", "santoro", "acrn", "acrn_tiled"])
def test_slowfast_under_every_head(head):
    cfg = load_config(None, ["model.backbone=slowfast", f"model.head={head}", "model.num_classes=5",
                             "model.actors=gt", "model.slowfast.base_channels=4", "model.slowfast.beta=2",
                             "data.num_frames=8", "model.tiled_channels=8"])
    model, criterion, _ = build_model(cfg)
    batch = Batch(clips=torch.randn(1, 3, 8, 64, 64), image_sizes=torch.tensor([[64, 64]]),
                  boxes=[torch.tensor([[4.0, 4.0, 40.0, 60.0]])], labels=[torch.tensor([[1.0, 0, 0, 0, 0]])],
                  metas=[{}])
    out = model(batch)
    assert out["logits"].shape[1] == 5
    sum(v for v in criterion(out, batch).values() if v.requires_grad).backward()
    model.eval()
    with torch.no_grad():
        out = model(batch)
    if head in ("acrn", "acrn_tiled"):
        assert out["heatmaps"].shape[:2] == (1, 5)
