"""roi_align with a fixed sampling ratio traces with torch.export (dynamic number of boxes), as the ONNX
export of the detector needs; the adaptive ratio refuses with a clear message instead of a deep trace."""

from __future__ import annotations

import pytest
import torch

from acrn.ops import _backend, roi_align


class Crop(torch.nn.Module):
    def __init__(self, ratio: int) -> None:
        super().__init__()
        self.ratio = ratio

    def forward(self, x: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        rois = torch.cat([torch.zeros_like(boxes[:, :1]), boxes], 1)
        return roi_align(x, rois, (3, 3), 1 / 16, self.ratio, True)


@pytest.mark.slow  # ~10 s of tracing; the detector's ONNX export test covers this path by default
def test_fixed_ratio_exports_with_dynamic_boxes(monkeypatch):
    monkeypatch.setattr(_backend, "USE_TORCHVISION", False)
    x = torch.randn(1, 4, 6, 6)
    boxes = torch.tensor([[10.0, 20, 60, 90], [0, 0, 96, 96]])
    r = torch.export.Dim("R", min=1, max=512)
    program = torch.export.export(Crop(2), (x, boxes), dynamic_shapes={"x": None, "boxes": {0: r}})
    more = torch.tensor([[1.0, 2, 50, 70], [5, 0, 90, 96], [50, 60, 70, 80], [-8, -8, 9, 9]])
    torch.testing.assert_close(program.module()(x, more), Crop(2)(x, more))


def test_adaptive_ratio_refuses_export(monkeypatch):
    monkeypatch.setattr(_backend, "USE_TORCHVISION", False)
    x, boxes = torch.randn(1, 4, 6, 6), torch.tensor([[10.0, 20, 60, 90]])
    with pytest.raises(Exception, match="adaptive sampling_ratio"):
        torch.export.export(Crop(0), (x, boxes))
