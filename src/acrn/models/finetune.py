"""Start a detector from a pretrained detector checkpoint: the paper's pretrain-then-fine-tune regime.

Section 4.1: the S3D-G backbone is Kinetics-pretrained, and "the classification head (Mixed_5b,
Mixed_5c) [is] initialized from [the] RGB stream pre-trained on Kinetics for both RN and actor
classification, but they are updated separately (weights are not shared)". Here the pretrained source
is an acrn checkpoint of a Base-Model trained on actor-only labels (``acrn study``'s pretraining stage,
our stand-in for Kinetics), and :func:`init_from_detector` copies into a detector with *any* head:

- ``backbone.*`` (up to Mixed_4f) and ``flatten.*`` (the temporal flattening; kept at its
  temporal-average init when the clip length, hence its kernel, differs);
- the pretrained ``Mixed_5b``/``Mixed_5c`` into *every* Mixed_5b/5c of the target: the actor head's and,
  for ACRN, f_phi's;
- nothing else: the classifier (other classes) and the relation head's own layers (g_theta, the
  Resize+Concat fusion, Santoro's f_phi) start from the run's seeded random init.

A checkpoint of another backbone or input size is refused in one line naming the setting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from acrn.errors import InputError

# settings of the pretrained model that the fine-tuned one must share (the weights only fit these)
MODEL_KEYS = ("backbone", "modality", "fusion", "width", "min_depth", "first_temporal_kernel",
              "temporal_conv_startat", "gating_startat")
DATA_KEYS = ("test_short_side", "mean", "std")  # the input the features were learned on
MIXED5 = ("Mixed_5b", "Mixed_5c")


@dataclass
class InitReport:
    """What :func:`init_from_detector` did: target keys loaded, kept at init, and why."""

    path: str
    loaded: list[str] = field(default_factory=list)
    fresh: list[str] = field(default_factory=list)  # no counterpart in the pretrained model: seeded init
    reinit: list[str] = field(default_factory=list)  # counterpart of another shape (flatten at another T)

    def summary(self) -> str:
        return (f"{self.path}: {len(self.loaded)} tensors loaded, {len(self.fresh)} new (seeded init), "
                f"{len(self.reinit)} re-initialised (other clip length)")


def check_compatible(pre_cfg: dict, model_cfg: dict, data_cfg: dict, path: str | Path) -> None:
    """Refuse a pretrained checkpoint whose backbone or input differs from the fine-tuning config."""
    pm, pd = pre_cfg.get("model", {}), pre_cfg.get("data", {})
    for section, keys, ours, theirs in (("model", MODEL_KEYS, model_cfg, pm), ("data", DATA_KEYS, data_cfg, pd)):
        for k in keys:
            if theirs.get(k) != ours.get(k):
                raise InputError(f"{path}: pretrained with {section}.{k}={theirs.get(k)!r}, but this run has "
                                 f"{section}.{k}={ours.get(k)!r}; pretrain with the same setting "
                                 f"(acrn study/demo --pretrain-set {section}.{k}=...) or change the run")


def source_key(key: str) -> str | None:
    """The pretrained Base-Model key that initialises target ``key`` (None: no counterpart)."""
    if key.startswith(("backbone.", "flatten.")):
        return key
    parts = key.split(".")
    for i, p in enumerate(parts):
        if p in MIXED5 and key.startswith("head."):
            return "head.mixed5." + ".".join(parts[i:])
    return None


def init_from_detector(model: nn.Module, state: dict[str, torch.Tensor], path: str | Path = "<memory>") -> InitReport:
    """Copy the pretrained tensors of ``state`` (a Base-Model's state dict) into ``model`` in place."""
    report = InitReport(str(path))
    own = model.state_dict()
    updates = {}
    for key, value in own.items():
        src = source_key(key)
        if src is None or src not in state:
            if src is not None and not key.startswith("flatten."):
                raise InputError(f"{path}: has no tensor {src!r} for {key!r} (expected a Base-Model checkpoint "
                                 f"of the same backbone, e.g. from acrn study's pretraining)")
            report.fresh.append(key)
            continue
        if state[src].shape != value.shape:
            if key.startswith("flatten."):
                report.reinit.append(key)
                continue
            raise InputError(f"{path}: {src!r} has shape {list(state[src].shape)}, {key!r} needs "
                             f"{list(value.shape)}")
        updates[key] = state[src]
        report.loaded.append(key)
    model.load_state_dict(updates, strict=False)
    return report


def load_pretrained_detector(model: nn.Module, path: str | Path, model_cfg: dict, data_cfg: dict) -> InitReport:
    """Read an acrn detector checkpoint safely, check it fits, and initialise ``model`` from it."""
    from acrn.engine.checkpoint import load_checkpoint

    payload = load_checkpoint(path)
    check_compatible(payload.get("config", {}), model_cfg, data_cfg, path)
    return init_from_detector(model, payload["model"], path)
