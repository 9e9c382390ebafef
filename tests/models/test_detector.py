"""The whole detector: every head end to end, gradient multiplier, frozen BN, empty proposals, relation
heatmaps (section 4.4 identity), actor sources, post-processing back to original pixels."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from detector_fixtures import NUM_CLASSES, make_batch, tiny_config

from acrn.errors import InputError
from acrn.models import build_model
from acrn.models.backbone import FrozenBatchNorm
from acrn.models.postprocess import to_original

HEADS = ["none", "resize_concat", "santoro", "acrn"]


@pytest.mark.parametrize("head", HEADS)
def test_train_step_and_eval_for_every_head(head: str) -> None:
    model, criterion, post = build_model(tiny_config(f"model.head={head}"))
    batch = make_batch()
    out = model(batch)
    c5c = 256
    r = out["rois"].shape[0]
    assert out["rois_per_clip"] == [8, 8] and r == 16  # 8 sampled ROIs per clip (model.rois_per_clip)
    assert out["logits"].shape == (r, NUM_CLASSES) and out["box_deltas"].shape == (r, 4)
    assert out["f_a"].shape == (r, c5c)
    if head in ("santoro", "acrn"):
        assert out["f_rn"].shape == (r, c5c)
    assert (out["roi_matched"] >= 0).any()  # ground truth is added to the proposals
    losses = criterion(out, batch)
    assert set(losses) == {"loss_rpn_cls", "loss_rpn_box", "loss_cls", "loss_box", "loss"}
    assert all(torch.isfinite(v) for v in losses.values())
    losses["loss"].backward()
    assert model.actors.rpn.head.conv.weight.grad.abs().sum() > 0  # the RPN trains jointly
    assert model.backbone.rgb.Conv2d_1a_7x7.conv.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        out = model(batch)
        dets = post(out, batch)
    assert all(n <= 8 for n in out["rois_per_clip"]) and len(dets) == 2
    assert ("heatmaps" in out) == (head == "acrn")
    for d in dets:
        assert d.scores.shape == (len(d), NUM_CLASSES) and d.boxes.shape == (len(d), 4)
        assert d.boxes.max() <= 128 and d.boxes.min() >= 0  # original frame is 128 x 128 (scale 0.5)


def test_softmax_head_has_background_logit() -> None:
    model, criterion, post = build_model(tiny_config("model.multilabel=false", "model.actors=gt"))
    batch = make_batch(multilabel=False)
    out = model(batch)
    assert out["logits"].shape == (3, NUM_CLASSES + 1)
    assert set(criterion(out, batch)) == {"loss_cls", "loss_box", "loss"}
    model.eval()
    with torch.no_grad():
        dets = post(model(batch), batch)
    assert dets[0].scores.shape[1] == NUM_CLASSES and torch.all(dets[0].scores.sum(1) < 1)


def test_gradient_multiplier_scales_relation_gradient_into_backbone_exactly() -> None:
    grads = {}
    for m in (1.0, 0.01):
        torch.manual_seed(0)
        model, _, _ = build_model(tiny_config("model.actors=gt", f"model.relation_grad_mult={m}",
                                              "model.relation_layers=[Conv2d_2c_3x3, Mixed_4f]"))
        model.eval()  # deterministic ROIs (no sampling)
        out = model(make_batch())
        params = [model.backbone.rgb.Conv2d_1a_7x7.conv.weight, model.backbone.rgb.Mixed_4f.b0.conv.weight,
                  model.flatten.conv.weight]
        g_rn = torch.autograd.grad(out["f_rn"].square().sum(), params, retain_graph=True)
        g_a = torch.autograd.grad(out["f_a"].square().sum(), params)
        grads[m] = (g_rn, g_a)
    for a, b in zip(grads[0.01][0], grads[1.0][0]):
        assert b.abs().sum() > 0  # exact up to float32 summation order: error <= 1e-5 of the largest entry
        assert (a - 0.01 * b).abs().max() <= 1e-5 * (0.01 * b).abs().max()
    for a, b in zip(grads[0.01][1], grads[1.0][1]):  # the action path is untouched
        torch.testing.assert_close(a, b)


def test_frozen_bn_stays_frozen_after_a_train_step() -> None:
    model, criterion, _ = build_model(tiny_config())
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    frozen = {n: b.clone() for n, b in model.named_buffers() if ".bn" in n or "bn1" in n or "downsample.1" in n}
    assert len(frozen) > 100
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-3)
    batch = make_batch()
    before = [p.clone() for p in params]
    for _ in range(2):
        opt.zero_grad()
        criterion(model(batch), batch)["loss"].backward()
        opt.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, params))  # the step did change the model
    after = dict(model.named_buffers())
    assert all(torch.equal(after[n], v) for n, v in frozen.items())
    assert sum(isinstance(m, FrozenBatchNorm) for m in model.modules()) == len(
        {n.rsplit(".", 1)[0] for n in frozen})


def test_unfrozen_bn_updates_running_stats() -> None:
    """Control for the test above: with freeze_bn off the same step does change BN statistics."""
    model, criterion, _ = build_model(tiny_config("model.freeze_bn=false"))
    bn = model.backbone.rgb.Conv2d_1a_7x7.bn
    mean = bn.running_mean.clone()
    batch = make_batch()
    criterion(model(batch), batch)["loss"].backward()
    assert not torch.equal(mean, bn.running_mean)


@pytest.mark.parametrize("head", HEADS)
def test_no_proposals_gives_empty_outputs_and_finite_losses(head: str) -> None:
    model, criterion, post = build_model(tiny_config(f"model.head={head}", "model.actors=file",
                                                     "model.add_gt_to_proposals=false"))
    batch = dataclasses.replace(make_batch(), proposals=[torch.zeros(0, 4), torch.zeros(0, 4)])
    out = model(batch)
    assert out["logits"].shape == (0, NUM_CLASSES) and out["rois"].shape == (0, 5)
    losses = criterion(out, batch)
    assert all(torch.isfinite(v) and v.item() == 0 for v in losses.values())
    losses["loss"].backward()
    model.eval()
    with torch.no_grad():
        dets = post(model(batch), batch)
    assert [len(d) for d in dets] == [0, 0]


def test_no_actors_in_the_clip_gives_finite_losses_with_rpn() -> None:
    model, criterion, _ = build_model(tiny_config("model.head=acrn"))
    batch = dataclasses.replace(make_batch(), boxes=[torch.zeros(0, 4)] * 2,
                                labels=[torch.zeros(0, NUM_CLASSES)] * 2)
    losses = criterion(model(batch), batch)
    assert all(torch.isfinite(v) for v in losses.values()) and losses["loss_box"].item() == 0
    losses["loss"].backward()


def test_file_actors_need_proposals() -> None:
    model, _, _ = build_model(tiny_config("model.actors=file"))
    with pytest.raises(InputError, match="data.proposals"):
        model(make_batch())


def test_gt_actors_are_the_rois_at_test_time() -> None:
    model, _, _ = build_model(tiny_config("model.actors=gt"))
    batch = make_batch()
    model.eval()
    with torch.no_grad():
        out = model(batch)
    torch.testing.assert_close(out["rois"][:, 1:], torch.cat(batch.boxes))
    assert out["roi_matched"].tolist() == [0, 1, 0] and out["roi_scores"].tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("multilabel", [True, False])
def test_heatmap_mean_equals_relation_half_of_logit(multilabel: bool) -> None:
    """Section 4.4: the classifier's relation half as a 1x1 conv on the relation map; its spatial mean at
    the map's own resolution is the relation half of the class logit."""
    model, _, _ = build_model(tiny_config("model.actors=gt", f"model.multilabel={str(multilabel).lower()}",
                                          "model.relation_layers=[Mixed_3c]"))
    with torch.no_grad():  # make the classifier's weights large enough for the check to mean something
        model.predictor.cls_score.weight.normal_()
    model.eval()
    with torch.no_grad():
        out = model(make_batch(multilabel=multilabel))
    heat = out["heatmaps"]
    assert heat.shape == (3, NUM_CLASSES, 8, 8)  # Mixed_3c at 64 px: 8 x 8
    w = model.predictor.cls_score.weight[:, -out["f_rn"].shape[1]:]
    rel_logit = out["f_rn"] @ w.T
    rel_logit = rel_logit if multilabel else rel_logit[:, 1:]
    assert rel_logit.abs().max() > 0.1
    torch.testing.assert_close(heat.mean(dim=(2, 3)), rel_logit, atol=1e-5, rtol=1e-5)
    bias = model.predictor.cls_score.bias if multilabel else model.predictor.cls_score.bias[1:]
    f_a_logit = out["f_a"] @ model.predictor.cls_score.weight[:, :out["f_a"].shape[1]].T
    f_a_logit = f_a_logit if multilabel else f_a_logit[:, 1:]
    logits = out["logits"] if multilabel else out["logits"][:, 1:]
    torch.testing.assert_close(logits, f_a_logit + heat.mean(dim=(2, 3)) + bias, atol=1e-5, rtol=1e-5)


def test_relation_heatmaps_api() -> None:
    model, _, _ = build_model(tiny_config("model.actors=gt"))
    model.eval()
    batch = make_batch()
    boxes = [torch.tensor([[0.0, 0, 32, 32]]), torch.tensor([[8.0, 8, 40, 60], [0, 0, 64, 64]])]
    heat = model.relation_heatmaps(batch, boxes)
    assert [tuple(h.shape) for h in heat] == [(1, NUM_CLASSES, 4, 4), (2, NUM_CLASSES, 4, 4)]
    big = model.relation_heatmaps(batch, boxes, upsample=True)
    assert [tuple(h.shape) for h in big] == [(1, NUM_CLASSES, 64, 64), (2, NUM_CLASSES, 64, 64)]
    torch.testing.assert_close(big[1].mean(dim=(2, 3)), heat[1].mean(dim=(2, 3)), atol=1e-5, rtol=1e-5)
    base, _, _ = build_model(tiny_config("model.head=none"))
    with pytest.raises(InputError, match="acrn"):
        base.relation_heatmaps(batch, boxes)


def test_acrn_f_phi_has_own_weights_with_same_initialisation() -> None:
    model, _, _ = build_model(tiny_config())
    a, r = model.head.actor_head.mixed5.state_dict(), model.head.mixed5.state_dict()
    assert a.keys() == r.keys() and all(torch.equal(a[k], r[k]) for k in a)
    assert all(x.data_ptr() != y.data_ptr() for x, y in zip(model.head.actor_head.mixed5.parameters(),
                                                              model.head.mixed5.parameters()))


def test_postprocess_maps_boxes_to_original_pixels() -> None:
    boxes = torch.tensor([[10.0, 20.0, 30.0, 60.0]])
    meta = {"scale": (0.5, 0.25), "offset": (4, 8), "orig_size": (400, 400)}
    torch.testing.assert_close(to_original(boxes, meta, 64), torch.tensor([[72.0, 48.0, 152.0, 128.0]]))
    flipped = to_original(boxes, dict(meta, flipped=True), 64)  # x -> 64 - x before undoing the crop
    torch.testing.assert_close(flipped, torch.tensor([[(34 + 8) / 0.25, 48.0, (54 + 8) / 0.25, 128.0]]))


def test_postprocess_threshold_nms_cap_and_heatmaps() -> None:
    from acrn.models.postprocess import PostProcess

    rois = torch.tensor([[0, 0.0, 0, 20, 20], [0, 1, 1, 21, 21], [0, 40, 40, 60, 60], [0, 30, 0, 50, 20],
                         [1, 5, 5, 25, 25]])
    logits = torch.tensor([[3.0, -9], [2.0, -9], [-9, 1.0], [-9, -9], [0.0, 0.0]])
    heat = torch.arange(5.0)[:, None, None, None].expand(5, 2, 3, 3)
    out = {"rois": rois, "logits": logits, "box_deltas": None, "roi_scores": torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5]),
           "rois_per_clip": [4, 1], "heatmaps": heat}
    batch = make_batch()
    dets = PostProcess(True, score_thresh=0.1, detections_per_frame=5, nms_thresh=0.5, keep_heatmaps=True)(out, batch)
    # roi 1 overlaps roi 0 (IoU 0.82) and scores lower -> suppressed; roi 3 is below the threshold
    torch.testing.assert_close(dets[0].boxes, torch.tensor([[0.0, 0, 40, 40], [80, 80, 120, 120]]))
    torch.testing.assert_close(dets[0].actor_scores, torch.tensor([0.9, 0.7]))
    torch.testing.assert_close(dets[0].scores, torch.sigmoid(logits[[0, 2]]))
    assert dets[0].heatmaps[:, 0, 0, 0].tolist() == [0.0, 2.0] and dets[1].heatmaps.shape == (1, 2, 3, 3)
    assert dets[0].meta == {"video": "v0", "timestamp": 900, "orig_size": (128, 128)}
    capped = PostProcess(True, score_thresh=0.0, detections_per_frame=1)(out, batch)
    assert [len(d) for d in capped] == [1, 1] and capped[0].heatmaps is None


def test_two_stream_acrn_with_proposals_file() -> None:
    model, criterion, _ = build_model(tiny_config("model.modality=two_stream", "model.actors=file",
                                                  "model.relation_layers=[Conv2d_2c_3x3]"))
    batch = make_batch()
    props = [torch.tensor([[2.0, 2, 30, 40]], dtype=torch.float64), torch.tensor([[0.0, 0, 20, 20], [9, 9, 41, 45]])]
    batch = dataclasses.replace(batch, flows=torch.randn(2, 2, 8, 64, 64), proposals=props,
                                proposal_scores=[torch.tensor([0.7]), torch.tensor([0.2, 0.9])])
    out = model(batch)  # training: 1 + 2 proposals + 3 gt boxes, fewer than rois_per_clip
    assert out["rois_per_clip"] == [3, 3] and out["rois"].dtype == torch.float32
    criterion(out, batch)["loss"].backward()
    assert model.backbone.flow.Conv2d_1a_7x7.conv.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        out = model(batch)
    assert out["roi_scores"].tolist() == pytest.approx([0.7, 0.2, 0.9])
    assert out["roi_matched"].tolist() == [0, -1, 0]


def test_roi_sampler_caps_positives_and_adds_gt() -> None:
    from acrn.models.roi_sampler import ROISampler

    gt = torch.tensor([[0.0, 0, 20, 20], [40, 40, 60, 60]])
    near = gt[torch.arange(40) % 2] + torch.rand(40, 4)  # IoU > 0.5 with one gt box
    far = torch.tensor([[100.0, 100, 120, 120]]).repeat(100, 1) + torch.rand(100, 4)
    props, scores = torch.cat([near, far]), torch.rand(140)
    rois, s, matched = ROISampler(64, 0.5, 0.25, add_gt=True)(props, scores, gt)
    assert rois.shape == (64, 4) and (matched >= 0).sum() == 16 and (matched == -1).sum() == 48
    rois, s, matched = ROISampler(64, 0.5, 1.0, add_gt=True)(props, scores, gt)
    assert (matched >= 0).sum() == 42 and (matched == -1).sum() == 22  # multi-label: positives first
    rois, s, matched = ROISampler(64, 0.5, 1.0, add_gt=True)(props[:0], scores[:0], gt)
    torch.testing.assert_close(rois, gt)
    assert s.tolist() == [1.0, 1.0] and matched.tolist() == [0, 1]


@pytest.mark.parametrize("backbone", ["i3d", "frame2d"])
def test_other_backbones_train(backbone: str) -> None:
    model, criterion, _ = build_model(tiny_config(f"model.backbone={backbone}", "model.actors=gt"))
    batch = make_batch()
    out = model(batch)
    assert out["logits"].shape == (3, NUM_CLASSES) and out["f_rn"].shape == (3, 256)
    criterion(out, batch)["loss"].backward()
