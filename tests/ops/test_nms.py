"""nms / batched_nms (pure PyTorch path) against the naive greedy loop."""

from __future__ import annotations

import pytest
import reference_ops as ref
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from acrn.ops import _backend, batched_nms, box_nms, nms


@pytest.fixture(autouse=True)
def _pure_path(monkeypatch):
    monkeypatch.setattr(_backend, "USE_TORCHVISION", False)


@st.composite
def box_sets(draw, max_n: int = 40):
    """Integer-grid boxes (so IoUs hit the threshold exactly and boxes repeat) with tied scores."""
    n = draw(st.integers(0, max_n))
    coords = draw(st.lists(st.tuples(*[st.integers(0, 12)] * 4), min_size=n, max_size=n))
    boxes = [[min(a, c), min(b, d), max(a, c) + draw(st.integers(0, 1)), max(b, d) + 1] for a, b, c, d in coords]
    scores = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))  # few values: many ties
    classes = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    thr = draw(st.sampled_from([0.0, 0.25, 0.5, 0.7, 1.0]))
    as_t = torch.tensor(boxes, dtype=torch.float64).reshape(n, 4)
    return as_t, torch.tensor(scores, dtype=torch.float64) / 5, torch.tensor(classes, dtype=torch.long), thr


@settings(max_examples=100, deadline=None)
@given(box_sets())
def test_nms_equals_naive_greedy(data):
    boxes, scores, _, thr = data
    keep = nms(boxes, scores, thr)
    assert keep.dtype == torch.long
    assert keep.tolist() == ref.nms(boxes, scores, thr)


@settings(max_examples=60, deadline=None)
@given(box_sets())
def test_batched_nms_equals_per_class_naive(data):
    boxes, scores, classes, thr = data
    keep = batched_nms(boxes, scores, classes, thr)
    assert keep.tolist() == ref.nms(boxes, scores, thr, classes)
    # ... which is the union of independent per-class runs.
    per_class = [i for c in classes.unique().tolist() for i in _naive_one_class(boxes, scores, classes, c, thr)]
    assert sorted(keep.tolist()) == sorted(per_class)


def _naive_one_class(boxes, scores, classes, c, thr):
    idx = torch.where(classes == c)[0]
    return [idx[i].item() for i in ref.nms(boxes[idx], scores[idx], thr)]


def test_many_boxes_across_blocks(monkeypatch):
    """More boxes than one block, with long suppression chains (shifted copies), float32."""
    monkeypatch.setattr(box_nms, "BLOCK", 64)
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(300, 2, generator=gen) * 100
    chain = torch.arange(60, dtype=torch.float32)[:, None] * torch.tensor([[1.5, 0.0]])  # each overlaps the next
    xy = torch.cat((xy, chain))
    wh = torch.rand(360, 2, generator=gen) * 30 + 5
    wh[300:] = 10
    boxes = torch.cat((xy, xy + wh), dim=1)
    scores = torch.rand(360, generator=gen)
    scores[300:] = torch.linspace(1.0, 0.9, 60) + 1  # chain sorted by position, all on top
    for thr in (0.3, 0.5, 0.8):
        assert nms(boxes, scores, thr).tolist() == ref.nms(boxes, scores, thr)


def test_hand_case_and_empty():
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [20, 20, 30, 30.0]])
    scores = torch.tensor([0.9, 0.95, 0.5, 0.1])
    # IoU(0, 1) = 81 / 119 = 0.68: box 1 (best) removes box 0 at 0.5, but not at 0.7; box 2 duplicates 0.
    assert nms(boxes, scores, 0.5).tolist() == [1, 3]
    assert nms(boxes, scores, 0.7).tolist() == [1, 0, 3]
    assert batched_nms(boxes, scores, torch.tensor([0, 1, 0, 0]), 0.5).tolist() == [1, 0, 3]
    empty = torch.zeros(0, 4)
    assert nms(empty, torch.zeros(0), 0.5).shape == (0,)
    assert batched_nms(empty, torch.zeros(0), torch.zeros(0, dtype=torch.long), 0.5).dtype == torch.long
    with pytest.raises(ValueError, match="scores must be"):
        nms(boxes, scores[:2], 0.5)
