"""Actor RPN: anchors, head layout, matching, sampling, losses, and learning boxes on a toy set."""

from __future__ import annotations

import math

import torch

from acrn.models.resnet import ResNet
from acrn.models.rpn import AnchorGenerator, RegionProposalNetwork, RPNHead, match_anchors, rpn_loss, sample_labels
from acrn.ops import box_iou


def test_anchor_values_and_order() -> None:
    gen = AnchorGenerator((32.0,), (0.5, 1.0, 2.0))
    a = gen(2, 3, 16)  # 2 rows, 3 columns, 3 anchors
    assert a.shape == (2 * 3 * 3, 4)
    # ratio = height / width: 0.5 -> w = 32 / sqrt(0.5) = 45.25, h = 22.63 (halves rounded)
    torch.testing.assert_close(a[0], torch.tensor([-23.0, -11.0, 23.0, 11.0]))
    torch.testing.assert_close(a[1], torch.tensor([-16.0, -16.0, 16.0, 16.0]))
    torch.testing.assert_close(a[2], torch.tensor([-11.0, -23.0, 11.0, 23.0]))
    # anchor a at row y, column x is at index (y * w + x) * A + a, shifted by (x, y) * stride
    torch.testing.assert_close(a[(1 * 3 + 2) * 3 + 1], torch.tensor([-16.0 + 32, -16.0 + 16, 16.0 + 32, 16.0 + 16]))


def test_head_layout_matches_anchor_order() -> None:
    head = RPNHead(4, 3)
    with torch.no_grad():
        head.cls_logits.bias.copy_(torch.tensor([0.0, 5.0, 0.0]))
        head.bbox_pred.bias.copy_(torch.arange(12.0))
    logits, deltas = head(torch.zeros(2, 4, 2, 3))
    assert logits.shape == (2, 18) and deltas.shape == (2, 18, 4)
    assert torch.all(logits.reshape(2, 6, 3)[:, :, 1] == 5.0) and torch.all(logits.reshape(2, 6, 3)[:, :, 0] == 0.0)
    torch.testing.assert_close(deltas[0, 4], torch.tensor([4.0, 5.0, 6.0, 7.0]))  # cell 1, anchor 1


def test_match_anchors_thresholds_and_best_anchor() -> None:
    anchors = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 6], [50, 50, 60, 60], [0, 0, 10, 2.5], [100, 100, 104, 104]])
    gt = torch.tensor([[0.0, 0, 10, 10], [100, 100, 110, 110]])
    labels = match_anchors(anchors, gt, 0.7, 0.3)
    # IoU 1 -> pos; 0.6 -> ignored; 0 -> neg; 0.25 -> neg; the only anchor touching gt 1 (IoU 0.16) -> pos
    assert labels.tolist() == [0, -2, -1, -1, 1]
    assert match_anchors(anchors, torch.zeros(0, 4), 0.7, 0.3).tolist() == [-1] * 5


def test_sample_labels_caps_positives_at_half() -> None:
    labels = torch.cat([torch.zeros(300, dtype=torch.long), torch.full((1000,), -1), torch.full((50,), -2)])
    pos, neg = sample_labels(labels, 256, 0.5)
    assert pos.numel() == 128 and neg.numel() == 128
    assert torch.all(labels[pos] >= 0) and torch.all(labels[neg] == -1)
    pos, neg = sample_labels(labels[250:], 256, 0.5)
    assert pos.numel() == 50 and neg.numel() == 206


def test_rpn_loss_without_actors_is_finite_and_has_no_box_term() -> None:
    obj = torch.zeros(2, 30, requires_grad=True)
    deltas = torch.zeros(2, 30, 4, requires_grad=True)
    anchors = AnchorGenerator((16.0,), (1.0,))(5, 6, 8)
    lc, lb = rpn_loss(obj, deltas, anchors, [torch.zeros(0, 4), torch.zeros(0, 4)])
    assert math.isclose(lc.item(), math.log(2), rel_tol=1e-6) and lb.item() == 0.0
    (lc + lb).backward()
    assert torch.isfinite(obj.grad).all() and deltas.grad.abs().sum() == 0


def _toy(n: int, size: int, g: torch.Generator) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Bright rectangles (12-32 px) on noise, one or two per image."""
    imgs = torch.randn(n, 3, size, size, generator=g) * 0.3
    boxes = []
    for i in range(n):
        bs = []
        for _ in range(int(torch.randint(1, 3, (1,), generator=g))):
            w, h = torch.randint(12, 33, (2,), generator=g).tolist()
            x = int(torch.randint(0, size - w, (1,), generator=g))
            y = int(torch.randint(0, size - h, (1,), generator=g))
            imgs[i, :, y:y + h, x:x + w] += 2.0
            bs.append([x, y, x + w, y + h])
        boxes.append(torch.tensor(bs, dtype=torch.float32))
    return imgs, boxes


def _recall(net: ResNet, rpn: RegionProposalNetwork, imgs: torch.Tensor, boxes: list[torch.Tensor]) -> float:
    net.eval()
    rpn.eval()
    with torch.no_grad():
        out = rpn(net(imgs), torch.tensor([list(imgs.shape[-2:])] * imgs.shape[0]))
    net.train()
    rpn.train()
    hit = sum(int((box_iou(b, p).max(1).values >= 0.5).sum()) for b, p in zip(boxes, out["proposals"]) if p.numel())
    return hit / sum(b.shape[0] for b in boxes)


def test_rpn_learns_boxes_on_toy_set() -> None:
    """~8 s: 400 SGD steps of ResNet-18 (width 0.25) + RPN; recall@IoU0.5 of 10 proposals goes above 0.9."""
    torch.manual_seed(0)
    size = 64
    net = ResNet(18, 0.25, num_stages=3)
    gen = AnchorGenerator((16.0, 32.0), (0.5, 1.0, 2.0))
    rpn = RegionProposalNetwork(gen, RPNHead(net.out_channels, gen.num_anchors), 16, (64, 64), (16, 10), 0.7)
    opt = torch.optim.SGD(list(net.parameters()) + list(rpn.parameters()), lr=0.05, momentum=0.9)
    test_imgs, test_boxes = _toy(32, size, torch.Generator().manual_seed(99))
    before = _recall(net, rpn, test_imgs, test_boxes)
    g = torch.Generator().manual_seed(1)
    sizes = torch.tensor([[size, size]] * 8)
    for _ in range(400):
        imgs, boxes = _toy(8, size, g)
        out = rpn(net(imgs), sizes)
        lc, lb = rpn_loss(out["objectness"], out["deltas"], out["anchors"], boxes)
        opt.zero_grad()
        (lc + lb).backward()
        opt.step()
    after = _recall(net, rpn, test_imgs, test_boxes)
    assert before < 0.5 < 0.9 < after, (before, after)


def test_proposals_are_clipped_sorted_and_capped() -> None:
    torch.manual_seed(0)
    net = ResNet(18, 0.25, num_stages=3).eval()
    gen = AnchorGenerator((16.0, 64.0), (1.0,))
    rpn = RegionProposalNetwork(gen, RPNHead(net.out_channels, gen.num_anchors), 16, (50, 40), (7, 5), 0.7).eval()
    out = rpn(net(torch.randn(2, 3, 64, 80)), torch.tensor([[64, 80], [48, 60]]))
    for props, scores, (h, w) in zip(out["proposals"], out["proposal_scores"], [(64, 80), (48, 60)]):
        assert 0 < props.shape[0] <= 5 and scores.shape == (props.shape[0],)
        assert torch.all(scores[:-1] >= scores[1:]) and torch.all((scores > 0) & (scores < 1))
        assert props[:, 0].min() >= 0 and props[:, 2].max() <= w and props[:, 3].max() <= h
        assert not props.requires_grad
