"""The relation head's own layers get their own learning-rate multiplier; nothing else changes."""

from __future__ import annotations

import torch

from acrn.config import load_config
from acrn.engine.train import build_optimizer, relation_param
from acrn.models import build_model

SMALL = ["model.width=0.125", "model.min_depth=4", "model.num_classes=3", "model.actors=gt", "data.num_frames=4"]


def test_groups_split_the_relation_head_and_cover_every_trainable_parameter() -> None:
    cfg = load_config(None, [*SMALL, "model.head=acrn", "solver.relation_lr_mult=10", "model.trainable_from=Mixed_3b"])
    model = build_model(cfg)[0]
    opt = build_optimizer(cfg.solver, model)
    assert [g["lr_mult"] for g in opt.param_groups] == [1.0, 10.0]
    ids = [id(p) for g in opt.param_groups for p in g["params"]]
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert sorted(ids) == sorted(id(p) for p in trainable) and len(set(ids)) == len(ids)
    rel = {n for n, _ in model.named_parameters() if relation_param(n, model)}
    assert any(n.startswith("head.g_theta.") for n in rel) and any(n.startswith("head.mixed5.") for n in rel)
    assert not any(n.startswith(("head.actor_head.", "backbone.", "predictor.")) for n in rel)


def test_the_base_models_own_mixed5_is_not_a_relation_layer() -> None:
    cfg = load_config(None, [*SMALL, "model.head=none", "solver.relation_lr_mult=10"])
    model = build_model(cfg)[0]
    opt = build_optimizer(cfg.solver, model)
    assert len(opt.param_groups) == 1 and opt.param_groups[0]["lr_mult"] == 1.0
    assert isinstance(opt, torch.optim.SGD)
