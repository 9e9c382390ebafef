"""roi_align (pure PyTorch path) against the naive torchvision-semantics loop, gradients, edge cases."""

from __future__ import annotations

import pytest
import reference_ops as ref
import torch

from acrn.ops import _backend, roi_align
from acrn.ops.roi_align import _roi_align_torch


@pytest.fixture(autouse=True)
def _pure_path(monkeypatch):
    """These tests check the pure PyTorch implementation even where torchvision is installed."""
    monkeypatch.setattr(_backend, "USE_TORCHVISION", False)


def random_rois(k: int, n: int, h: int, w: int, scale: float, gen: torch.Generator) -> torch.Tensor:
    """ROIs in input pixels spanning tiny to larger-than-map boxes, some partly or wholly outside."""
    size = torch.tensor([w, h], dtype=torch.float64) / scale
    x1y1 = (torch.rand(k, 2, generator=gen, dtype=torch.float64) * 1.6 - 0.4) * size
    wh = torch.rand(k, 2, generator=gen, dtype=torch.float64) * 0.9 * size
    wh[: k // 4] *= 0.05  # some sub-pixel ROIs
    b = torch.randint(0, n, (k, 1), generator=gen).to(torch.float64)
    return torch.cat((b, x1y1, x1y1 + wh), dim=1)


CASES = [
    # (spatial_scale, sampling_ratio, aligned, output_size)
    (1.0, 2, False, (3, 3)),
    (0.25, 0, False, (2, 3)),
    (0.5, -1, True, (3, 2)),
    (1 / 16, 0, True, (7, 7)),
    (0.5, 1, True, (1, 1)),
]


@pytest.mark.parametrize("scale,ratio,aligned,out_hw", CASES)
def test_matches_naive_loop_4d(scale, ratio, aligned, out_hw):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 9, 11, generator=gen, dtype=torch.float64)
    rois = random_rois(12, 2, 9, 11, scale, gen)
    got = roi_align(x, rois, out_hw, scale, ratio, aligned)
    want = ref.roi_align(x, rois, out_hw, scale, ratio, aligned)
    assert got.shape == (12, 3, *out_hw)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_adaptive_ratio_mixes_grid_sizes():
    """sampling_ratio=0 with ROIs needing grids 1..6 per bin: per-ROI grids must not leak between ROIs."""
    x = torch.randn(1, 2, 20, 20, dtype=torch.float64)
    rois = torch.tensor([[0, 1, 1, 1 + 2 * s, 1 + 3 * s] for s in (0.5, 1.0, 2.0, 3.0, 5.5, 6.0)], dtype=torch.float64)
    got = roi_align(x, rois, 2, 1.0, 0, False)
    torch.testing.assert_close(got, ref.roi_align(x, rois, (2, 2), 1.0, 0, False), rtol=1e-5, atol=1e-5)


def test_matches_naive_loop_5d_per_frame():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 4, 7, 8, generator=gen, dtype=torch.float64)
    rois = random_rois(6, 2, 7, 8, 0.5, gen)
    got = roi_align(x, rois, (2, 3), 0.5, 0, True)
    assert got.shape == (6, 3, 4, 2, 3)
    torch.testing.assert_close(got, ref.roi_align(x, rois, (2, 3), 0.5, 0, True), rtol=1e-5, atol=1e-5)


def test_float32_close_to_float64_reference():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(1, 832, 14, 14, generator=gen)
    rois = random_rois(8, 1, 14, 14, 1 / 16, gen)
    got = roi_align(x, rois.float(), 7, 1 / 16, 2, False)
    assert got.dtype == torch.float32
    torch.testing.assert_close(
        got.double(), ref.roi_align(x.double(), rois, (7, 7), 1 / 16, 2, False), atol=1e-5, rtol=1e-5
    )


def test_many_images_in_shuffled_order():
    """ROIs of 4 images interleaved (one image without ROIs): each reads its own map, output in input order."""
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(4, 2, 6, 7, generator=gen, dtype=torch.float64)
    rois = random_rois(10, 3, 6, 7, 0.5, gen)
    rois[:, 0] = torch.tensor([2, 0, 3, 3, 0, 2, 0, 3, 2, 0], dtype=torch.float64)  # image 1 has none
    got = roi_align(x, rois, 3, 0.5, 0, False)
    torch.testing.assert_close(got, ref.roi_align(x, rois, (3, 3), 0.5, 0, False), rtol=1e-5, atol=1e-5)


def test_list_of_boxes_equals_batch_index_rows():
    x = torch.randn(3, 2, 6, 6, dtype=torch.float64)
    per_image = [torch.tensor([[0.0, 0.0, 4.0, 3.0]]), torch.zeros(0, 4), torch.tensor([[1.0, 2, 5, 5], [0, 0, 2, 2]])]
    rows = torch.tensor([[0, 0, 0, 4, 3], [2, 1, 2, 5, 5], [2, 0, 0, 2, 2]], dtype=torch.float64)
    torch.testing.assert_close(roi_align(x, per_image, 2, sampling_ratio=2), roi_align(x, rows, 2, sampling_ratio=2))


def test_hand_computed_values():
    """Map value 4*y + x is linear, so every in-range bilinear sample equals the formula at its point."""
    x = torch.arange(16.0, dtype=torch.float64).reshape(1, 1, 4, 4)
    # Box 0..3, 2x2 bins of 1.5 px, samples at 0.375 and 1.125 in bin 0 -> bin means at 0.75 and 2.25.
    out = roi_align(x, torch.tensor([[0, 0.0, 0, 3, 3]], dtype=torch.float64), 2, sampling_ratio=2)
    torch.testing.assert_close(out[0, 0], torch.tensor([[3.75, 5.25], [9.75, 11.25]], dtype=torch.float64))
    # aligned=True shifts by -0.5: the box (0.5, 0.5, 1.5, 1.5) becomes (0, 0, 1, 1); its one sample is at
    # the bin centre (0.5, 0.5) -> 4 * 0.5 + 0.5. Without the shift it would read (1, 1) -> 5.
    box = torch.tensor([[0, 0.5, 0.5, 1.5, 1.5]], dtype=torch.float64)
    assert roi_align(x, box, 1, sampling_ratio=1, aligned=True).item() == pytest.approx(2.5)
    assert roi_align(x, box, 1, sampling_ratio=1, aligned=False).item() == pytest.approx(5.0)
    out = roi_align(x, torch.tensor([[0, 1.0, 1.0, 2.0, 2.0]], dtype=torch.float64), 1, sampling_ratio=1, aligned=True)
    assert out.item() == pytest.approx(4 * 1.0 + 1.0)


def test_boxes_outside_the_map():
    x = torch.arange(16.0, dtype=torch.float64).reshape(1, 1, 4, 4) + 1
    one = {"output_size": 1, "sampling_ratio": 1}
    # Wholly beyond -1 (sample at -2.5) or beyond H (sample at 5.5): zeros, as torchvision.
    assert roi_align(x, torch.tensor([[0, -3.0, -3, -2, -2]], dtype=torch.float64), **one).item() == 0.0
    assert roi_align(x, torch.tensor([[0, 5.0, 5, 6, 6]], dtype=torch.float64), **one).item() == 0.0
    # Sample at (-0.5, -0.5) is within one pixel: clamped to (0, 0) -> value at pixel (0, 0).
    assert roi_align(x, torch.tensor([[0, -1.0, -1, 0, 0]], dtype=torch.float64), **one).item() == 1.0
    # Sample at (3.5, 3.5) in (H-1, H]: clamped to the last pixel.
    assert roi_align(x, torch.tensor([[0, 3.0, 3, 4, 4]], dtype=torch.float64), **one).item() == 16.0
    # Exactly at -1 and at H still count (torchvision tests y < -1 and y > H); just beyond gives 0.
    assert roi_align(x, torch.tensor([[0, -1.5, -1.5, -0.5, -0.5]], dtype=torch.float64), **one).item() == 1.0
    assert roi_align(x, torch.tensor([[0, 3.5, 3.5, 4.5, 4.5]], dtype=torch.float64), **one).item() == 16.0
    assert roi_align(x, torch.tensor([[0, -1.85, 0, -0.35, 1]], dtype=torch.float64), **one).item() == 0.0
    assert roi_align(x, torch.tensor([[0, 0.0, 3.85, 1, 4.35]], dtype=torch.float64), **one).item() == 0.0
    # Partly outside: 2 samples per axis at -0.75 (clamped to 0) and 0.75 on a 4 px ramp in x.
    out = roi_align(x, torch.tensor([[0, -1.5, 0, 1.5, 1]], dtype=torch.float64), 1, sampling_ratio=2)
    ys = [0.25, 0.75]
    want = sum(4 * y + xx + 1 for y in ys for xx in (0.0, 0.75)) / 4
    assert out.item() == pytest.approx(want)


def test_degenerate_box_with_adaptive_grid_is_zero():
    """aligned=True keeps a zero-height ROI; ceil(0 / oh) = 0 samples, and torchvision returns 0 there."""
    x = torch.randn(1, 2, 6, 6, dtype=torch.float64) + 5
    rois = torch.tensor([[0, 1.0, 2, 4, 2], [0, 1.0, 2, 4, 5]], dtype=torch.float64)
    out = roi_align(x, rois, 2, sampling_ratio=0, aligned=True)
    assert (out[0] == 0).all() and (out[1] != 0).all()
    torch.testing.assert_close(out, ref.roi_align(x, rois, (2, 2), 1.0, 0, True))
    # Without aligned, the ROI is widened to 1 pixel and sampled normally.
    assert (roi_align(x, rois, 2, sampling_ratio=0, aligned=False)[0] != 0).all()


@pytest.mark.parametrize("five_d", [False, True])
def test_zero_boxes_give_empty_output_and_zero_grad(five_d):
    shape = (2, 3, 2, 5, 5) if five_d else (2, 3, 5, 5)
    x = torch.randn(*shape, requires_grad=True)
    for boxes in (torch.zeros(0, 5), [torch.zeros(0, 4), torch.zeros(0, 4)], []):
        out = roi_align(x, boxes, (2, 3), 0.5, 0, True)
        assert out.shape == ((0, 3, 2, 2, 3) if five_d else (0, 3, 2, 3))
        (out.sum() * 2).backward()
        assert x.grad is not None and torch.isfinite(x.grad).all() and (x.grad == 0).all()
        x.grad = None


@pytest.mark.parametrize("aligned", [False, True])
@pytest.mark.parametrize("ratio", [0, 2])
@pytest.mark.parametrize("five_d", [False, True])
def test_gradcheck(aligned, ratio, five_d):
    gen = torch.Generator().manual_seed(4)
    shape = (2, 2, 2, 4, 5) if five_d else (2, 2, 5, 6)
    x = torch.randn(*shape, generator=gen, dtype=torch.float64, requires_grad=True)
    rois = random_rois(3, 2, 5, 6, 0.5, gen)
    assert torch.autograd.gradcheck(lambda t: roi_align(t, rois, (2, 2), 0.5, ratio, aligned), (x,))


def test_no_gradient_into_boxes_and_bad_shapes():
    x = torch.randn(1, 1, 4, 4, requires_grad=True)
    rois = torch.tensor([[0, 0.0, 0, 2, 2]], requires_grad=True)
    _roi_align_torch(x, rois, (2, 2), 1.0, 2, False).sum().backward()
    assert rois.grad is None
    with pytest.raises(ValueError, match="Tensor\\[K, 5\\]"):
        roi_align(x, torch.zeros(3, 4), 2)
    with pytest.raises(ValueError, match="batch index 3 out of range for 2"):
        roi_align(torch.randn(2, 1, 4, 4), torch.tensor([[3, 0.0, 0, 2, 2]]), 2)
    with pytest.raises(ValueError, match="input must be"):
        roi_align(x[0], torch.zeros(0, 5), 2)


def test_bfloat16_map_keeps_float32_sample_positions():
    """Box coordinates like 600.9 px would round to 0.5 px steps in 16-bit floats; the positions stay fp32,
    so a bf16 map gives the fp32 result up to bf16 rounding of values and weights (~1e-2)."""
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(1, 4, 40, 40, generator=gen)
    rois = torch.tensor([[0, 100.3, 200.7, 400.1, 600.9], [0, 10.1, 5.2, 60.3, 33.3]])
    want = roi_align(x, rois, 7, 1 / 16, 2, True)
    got = roi_align(x.bfloat16(), rois, 7, 1 / 16, 2, True)
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), want, atol=3e-2, rtol=2e-2)
