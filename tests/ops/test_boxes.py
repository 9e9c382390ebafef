"""Box geometry and Faster R-CNN box coding against per-box loops and hand-computed values."""

from __future__ import annotations

import math

import pytest
import reference_ops as ref
import torch

from acrn.ops import (
    BBOX_XFORM_CLIP,
    BoxCoder,
    box_area,
    box_iou,
    clip_boxes,
    decode_boxes,
    encode_boxes,
    remove_small_boxes,
)


def rand_boxes(n: int, gen: torch.Generator, scale: float = 100.0) -> torch.Tensor:
    xy = torch.rand(n, 2, generator=gen, dtype=torch.float64) * scale
    wh = torch.rand(n, 2, generator=gen, dtype=torch.float64) * scale / 2 + 1
    return torch.cat((xy, xy + wh), dim=1)


def test_area_and_iou_hand_values():
    a = torch.tensor([[0.0, 0, 10, 10], [5, 5, 15, 25]])
    b = torch.tensor([[0.0, 0, 10, 10], [10, 10, 20, 20], [20, 0, 30, 10]])
    assert box_area(a).tolist() == [100.0, 200.0]
    iou = box_iou(a, b)
    assert iou.shape == (2, 3)
    torch.testing.assert_close(iou[0], torch.tensor([1.0, 0.0, 0.0]))
    torch.testing.assert_close(iou[1], torch.tensor([25 / 275, 50 / 250, 0.0]))


def test_iou_equals_loop_and_broadcasts():
    gen = torch.Generator().manual_seed(0)
    a, b = rand_boxes(17, gen), rand_boxes(9, gen)
    torch.testing.assert_close(box_iou(a, b), ref.box_iou(a, b), rtol=1e-5, atol=1e-5)
    batched = box_iou(torch.stack((a, a.flip(0))), b)  # Tensor[2, 17, 4] x Tensor[9, 4]
    assert batched.shape == (2, 17, 9)
    torch.testing.assert_close(batched[1], ref.box_iou(a.flip(0), b), rtol=1e-5, atol=1e-5)
    assert box_iou(a[:0], b).shape == (0, 9)


def test_clip_and_remove_small():
    boxes = torch.tensor([[-5.0, -1, 50, 30], [10, 20, 12, 21], [3, 4, 5, 9]])
    torch.testing.assert_close(
        clip_boxes(boxes, (24, 40)), torch.tensor([[0.0, 0, 40, 24], [10, 20, 12, 21], [3, 4, 5, 9]])
    )
    assert remove_small_boxes(boxes, 2.0).tolist() == [0, 2]
    assert remove_small_boxes(boxes[:0], 2.0).shape == (0,)


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)])
def test_encode_decode_equal_loops_and_roundtrip(weights):
    gen = torch.Generator().manual_seed(1)
    gt, anchors = rand_boxes(23, gen), rand_boxes(23, gen)
    deltas = encode_boxes(gt, anchors, weights)
    torch.testing.assert_close(deltas, ref.encode(gt, anchors, weights), rtol=1e-5, atol=1e-5)
    decoded = decode_boxes(deltas, anchors, weights)
    torch.testing.assert_close(decoded, ref.decode(deltas, anchors, weights, BBOX_XFORM_CLIP), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(decoded, gt, rtol=1e-5, atol=1e-5)


def test_decode_per_class_and_clamp():
    gen = torch.Generator().manual_seed(2)
    anchors = rand_boxes(5, gen)
    deltas = torch.randn(5, 4 * 3, generator=gen, dtype=torch.float64) * 3
    deltas[0, 2] = 50.0  # exp(50) would be absurd: clamped at log(1000/16)
    weights = (10.0, 10.0, 5.0, 5.0)
    got = decode_boxes(deltas, anchors, weights)
    assert got.shape == (5, 12)
    torch.testing.assert_close(got, ref.decode(deltas, anchors, weights, BBOX_XFORM_CLIP), rtol=1e-5, atol=1e-5)
    width0 = got[0, 2] - got[0, 0]
    assert width0.item() == pytest.approx(
        (anchors[0, 2] - anchors[0, 0]).item() * math.exp(min(50 / 5, BBOX_XFORM_CLIP))
    )
    assert (width0 / (anchors[0, 2] - anchors[0, 0])).item() == pytest.approx(1000 / 16)


def test_box_coder_and_hand_value():
    coder = BoxCoder((10.0, 10.0, 5.0, 5.0))
    anchor = torch.tensor([[0.0, 0, 10, 20]])  # centre (5, 10), size (10, 20)
    gt = torch.tensor([[2.0, 0, 12, 40]])  # centre (7, 20), size (10, 40)
    torch.testing.assert_close(
        coder.encode(gt, anchor), torch.tensor([[10 * 2 / 10, 10 * 10 / 20, 0.0, 5 * math.log(2)]])
    )
    torch.testing.assert_close(coder.decode(coder.encode(gt, anchor), anchor), gt)
    assert coder.decode(torch.zeros(0, 4), torch.zeros(0, 4)).shape == (0, 4)
    with pytest.raises(ValueError, match="positive"):
        BoxCoder((1.0, 0.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="deltas must be"):
        decode_boxes(torch.zeros(2, 5), torch.zeros(2, 4))


def test_gradients_flow_through_decode():
    anchors = torch.tensor([[0.0, 0, 10, 10]], dtype=torch.float64)
    deltas = torch.tensor([[0.1, -0.2, 0.3, 0.1]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda d: decode_boxes(d, anchors, (10.0, 10.0, 5.0, 5.0)), (deltas,))
