"""Pretrain-then-fine-tune initialisation (section 4.1): what is copied where, and what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from acrn.config import load_config, to_dict
from acrn.engine import checkpoint as ckpt
from acrn.errors import InputError
from acrn.models import build_model
from acrn.models.finetune import check_compatible, init_from_detector, source_key

SMALL = ["model.width=0.125", "model.min_depth=4", "model.num_classes=3", "model.actors=gt", "data.num_frames=4",
         "model.freeze_bn=true"]


def _model(*sets: str):
    torch.manual_seed(len(sets))
    return build_model(load_config(None, [*SMALL, *sets]))[0]


def test_source_keys_map_every_mixed5_to_the_pretrained_one() -> None:
    assert source_key("backbone.rgb.Mixed_4f.b0.conv.weight") == "backbone.rgb.Mixed_4f.b0.conv.weight"
    assert source_key("head.actor_head.mixed5.Mixed_5b.b0.conv.weight") == "head.mixed5.Mixed_5b.b0.conv.weight"
    assert source_key("head.mixed5.Mixed_5c.b3b.bn.running_mean") == "head.mixed5.Mixed_5c.b3b.bn.running_mean"
    assert source_key("predictor.cls_score.weight") is None
    assert source_key("head.g_theta.g_theta.weight") is None


@pytest.mark.parametrize("head", ["acrn", "santoro", "resize_concat", "none"])
def test_backbone_and_every_mixed5_come_from_the_base_model(head: str) -> None:
    base = _model("model.head=none").state_dict()
    target = _model(f"model.head={head}")
    before = {k: v.clone() for k, v in target.state_dict().items()}
    report = init_from_detector(target, base)
    after = target.state_dict()
    for key, value in after.items():
        src = source_key(key)
        if src is None:  # classifier and the relation head's own layers keep the seeded init
            assert torch.equal(value, before[key]), key
            assert key in report.fresh
        else:
            assert torch.equal(value, base[src]), key
    if head == "acrn":  # f_phi and the actor head both start from the pretrained Mixed_5b/5c (not shared)
        f_phi = target.head.mixed5.Mixed_5b.b0.conv.weight
        actor = target.head.actor_head.mixed5.Mixed_5b.b0.conv.weight
        assert torch.equal(f_phi, actor) and f_phi.data_ptr() != actor.data_ptr()
    assert len(report.loaded) > 100 and not report.reinit


def test_another_clip_length_keeps_the_flattening_at_its_temporal_mean() -> None:
    base = _model("model.head=none").state_dict()
    target = _model("model.head=acrn", "data.num_frames=16")
    report = init_from_detector(target, base)
    assert report.reinit == ["flatten.conv.weight"]
    w = target.flatten.conv.weight
    assert torch.allclose(w[0, 0, :, 0, 0], torch.full((w.shape[2],), 1.0 / w.shape[2]))


def test_a_checkpoint_of_another_shape_or_layout_is_refused_by_key() -> None:
    base = _model("model.head=none").state_dict()
    wide = _model("model.head=acrn", "model.width=0.25")
    with pytest.raises(InputError, match=r"has shape .* needs"):
        init_from_detector(wide, base, "pre.pt")
    partial = {k: v for k, v in base.items() if not k.startswith("head.")}
    with pytest.raises(InputError, match=r"pre.pt: has no tensor 'head.mixed5.Mixed_5b"):
        init_from_detector(_model("model.head=acrn"), partial, "pre.pt")


def test_config_mismatch_is_one_line_naming_the_setting() -> None:
    pre = to_dict(load_config(None, SMALL))
    ours = to_dict(load_config(None, [*SMALL, "model.width=0.25"]))
    check_compatible(pre, to_dict(load_config(None, SMALL))["model"], pre["data"], "p.pt")  # same: fine
    with pytest.raises(InputError, match=r"p.pt: pretrained with model.width=0.125, but this run has model.width=0.25"):
        check_compatible(pre, ours["model"], ours["data"], "p.pt")
    other = to_dict(load_config(None, [*SMALL, "data.test_short_side=128"]))
    with pytest.raises(InputError, match="data.test_short_side"):
        check_compatible(pre, other["model"], other["data"], "p.pt")


def test_build_model_reads_init_from(tmp_path: Path) -> None:
    cfg = load_config(None, [*SMALL, "model.head=none"])
    base = _model("model.head=none")
    path = tmp_path / "pre.pt"
    ckpt.save_checkpoint(path, ckpt.make_checkpoint(step=1, model_state=base.state_dict(), config=to_dict(cfg)))
    model = build_model(load_config(None, [*SMALL, "model.head=acrn", f"model.init_from={path}"]))[0]
    assert torch.equal(model.backbone.state_dict()["rgb.Mixed_4f.b0.conv.weight"],
                       base.backbone.state_dict()["rgb.Mixed_4f.b0.conv.weight"])
    assert "tensors loaded" in model.init_report.summary()
    with pytest.raises(InputError, match="checkpoint not found"):
        build_model(load_config(None, [*SMALL, f"model.init_from={tmp_path / 'missing.pt'}"]))


def test_trainable_from_freezes_only_the_earlier_endpoints() -> None:
    model = _model("model.head=acrn", "model.trainable_from=Mixed_3b")
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen and all(n.startswith("backbone.") for n in frozen)
    assert {n.split(".")[2] for n in frozen} == {"Conv2d_1a_7x7", "Conv2d_2b_1x1", "Conv2d_2c_3x3"}
    assert model.backbone.rgb.Mixed_3b.b0.conv.weight.requires_grad
    assert all(p.requires_grad for p in _model("model.head=acrn").parameters())


def test_max_pooled_relation_map_is_the_maximum_of_f_phis_output() -> None:
    torch.manual_seed(0)
    mean = _model("model.head=acrn").head
    pooled = _model("model.head=acrn", "model.relation_pool=max").head
    pooled.load_state_dict(mean.state_dict())
    c = mean.actor_head.mixed5.in_channels
    crops, boxes = torch.randn(3, c, 7, 7), torch.tensor([[0.0, 0, 50, 90]] * 3)
    scene = [torch.randn(1, c, 7, 14)]
    a = mean.eval()(crops, boxes, torch.zeros(3, dtype=torch.long), scene)
    b = pooled.eval()(crops, boxes, torch.zeros(3, dtype=torch.long), scene)
    assert torch.allclose(b["f_rn"], a["relation_map"].amax(dim=(2, 3, 4)))
    assert torch.allclose(a["f_rn"], a["relation_map"].mean(dim=(2, 3, 4)))
