"""Criterion: hand-computed classification and box losses, targets from matched ROIs, empty cases."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from acrn.errors import InputError
from acrn.models.losses import BOX_CODER_WEIGHTS, DetectionCriterion, class_index, multi_hot
from acrn.ops import encode_boxes
from acrn.structures import Batch


def _batch(labels: list[torch.Tensor]) -> Batch:
    boxes = [torch.tensor([[0.0, 0, 10, 10], [20, 20, 40, 40]]), torch.tensor([[5.0, 5, 15, 25]])]
    return Batch(clips=torch.zeros(2, 3, 1, 64, 64), image_sizes=torch.tensor([[64, 64]] * 2), boxes=boxes,
                 labels=labels, metas=[{}, {}])


def _outputs(logits: torch.Tensor, deltas: torch.Tensor | None) -> dict:
    rois = torch.tensor([[0, 0.0, 0, 10, 10], [0, 21, 19, 41, 42], [0, 50, 50, 60, 60], [1, 4, 6, 16, 24]])
    return {"rois": rois, "roi_matched": torch.tensor([0, 1, -1, 0]), "rois_per_clip": [3, 1], "logits": logits,
            "box_deltas": deltas}


def test_sigmoid_loss_zero_logits_is_log2_and_targets_follow_matches() -> None:
    labels = [torch.tensor([[1.0, 0, 1], [0, 1, 0]]), torch.tensor([[0.0, 0, 1]])]
    crit = DetectionCriterion(3, multilabel=True)
    logits = torch.zeros(4, 3, requires_grad=True)
    losses = crit(_outputs(logits, None), _batch(labels))
    assert set(losses) == {"loss_cls", "loss"}
    assert math.isclose(losses["loss_cls"].item(), math.log(2), rel_tol=1e-6)
    losses["loss"].backward()
    # d(mean BCE)/dlogit = (sigmoid - target) / (R * C): negative exactly where the target is 1
    target = torch.tensor([[1.0, 0, 1], [0, 1, 0], [0, 0, 0], [0, 0, 1]])
    torch.testing.assert_close(logits.grad, (0.5 - target) / 12)


def test_softmax_loss_uses_background_zero() -> None:
    labels = [torch.tensor([2, 0]), torch.tensor([1])]
    crit = DetectionCriterion(3, multilabel=False)
    logits = torch.randn(4, 4)
    loss = crit(_outputs(logits, None), _batch(labels))["loss_cls"]
    torch.testing.assert_close(loss, F.cross_entropy(logits, torch.tensor([3, 1, 0, 2])))
    # one-hot rows work too; several actions per actor do not
    assert class_index(torch.tensor([[0.0, 1, 0]]), 3).tolist() == [1]
    with pytest.raises(InputError, match="multilabel"):
        class_index(torch.tensor([[1.0, 1, 0]]), 3)


def test_box_loss_is_zero_at_the_target_and_ignores_background() -> None:
    labels = [torch.tensor([[1.0, 0, 1], [0, 1, 0]]), torch.tensor([[0.0, 0, 1]])]
    out = _outputs(torch.zeros(4, 3), None)
    gt = torch.tensor([[0.0, 0, 10, 10], [20, 20, 40, 40], [0, 0, 1, 1], [5, 5, 15, 25]])
    target = encode_boxes(gt, out["rois"][:, 1:], BOX_CODER_WEIGHTS)
    target[2] = 100.0  # background row: must not count
    crit = DetectionCriterion(3)
    out["box_deltas"] = target.clone()
    assert crit(out, _batch(labels))["loss_box"].item() == pytest.approx(0.0, abs=1e-6)
    out["box_deltas"] = target + torch.tensor([[0.5, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0.05, 0, 0]])
    # smooth L1 (beta 1/9): |d| >= beta -> |d| - beta/2; |d| < beta -> 0.5 d^2 / beta; summed / 4 ROIs
    expected = ((0.5 - 1 / 18) + 0.5 * 0.05 ** 2 * 9) / 4
    assert crit(out, _batch(labels))["loss_box"].item() == pytest.approx(expected, rel=1e-5)


def test_loss_is_weighted_sum() -> None:
    labels = [torch.tensor([[1.0, 0, 1], [0, 1, 0]]), torch.tensor([[0.0, 0, 1]])]
    crit = DetectionCriterion(3, weights={"loss_cls": 2.0, "loss_box": 0.5})
    losses = crit(_outputs(torch.randn(4, 3), torch.randn(4, 4)), _batch(labels))
    torch.testing.assert_close(losses["loss"], 2 * losses["loss_cls"] + 0.5 * losses["loss_box"])


def test_empty_rois_give_zero_losses_with_graph() -> None:
    crit = DetectionCriterion(3)
    logits = torch.zeros(0, 3, requires_grad=True)
    deltas = torch.zeros(0, 4, requires_grad=True)
    out = {"rois": torch.zeros(0, 5), "roi_matched": torch.zeros(0, dtype=torch.long), "rois_per_clip": [0, 0],
           "logits": logits, "box_deltas": deltas}
    losses = crit(out, _batch([torch.zeros(2, 3), torch.zeros(1, 3)]))
    assert all(v.item() == 0 for v in losses.values())
    losses["loss"].backward()


def test_label_conversions_check_class_count() -> None:
    torch.testing.assert_close(multi_hot(torch.tensor([2, 0]), 3), torch.tensor([[0.0, 0, 1], [1, 0, 0]]))
    with pytest.raises(InputError, match="model.num_classes"):
        multi_hot(torch.zeros(2, 4), 3)
