"""The pretraining stage of ``acrn study`` and ``acrn demo``: our stand-in for the Kinetics-pretrained S3D-G.

The paper fine-tunes a backbone pretrained on Kinetics (section 4.1); none can be downloaded here, so
a Base-Model is trained on the ``pretrain`` synthetic preset: solo actors with actor-only labels
(stand, walk, run, jump, wave) in the relational preset's frame, with balls and packages moving on
their own, and no pair, so no relational label and no deciding entity. Its backbone, temporal
flattening and Mixed_5b/5c then start every fine-tuned head (:mod:`acrn.models.finetune`).

The checkpoint is cached under ``<cache>/<key>/pretrained.pt``, ``key`` a digest of everything that
decides it (preset, data seed, every config value), so a later study, a demo or another output folder
reuses it; it is written to a temporary name and renamed only when complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from acrn.config import Config, load_config
from acrn.errors import InputError

RECIPE = Path(__file__).resolve().parents[1] / "demo" / "recipe.yaml"
PRESET = "pretrain"
# From scratch on actor-only labels: BN trains here (it is frozen only when fine-tuning, section 4.1).
OVERRIDES = ("model.head=none", "model.num_classes=5", "model.freeze_bn=false", "model.rois_per_clip=8",
             "data.train_crop=0", "runtime.tensorboard=false", "runtime.ckpt_every=100000")
STEPS = 600


@dataclass(frozen=True)
class Pretrained:
    """A finished pretraining: the checkpoint and what it scored on the pretraining set's test split."""

    path: Path
    metrics: dict[str, Any]
    reused: bool


def pretrain_config(data: Path, out: Path, overrides: list[str] = ()) -> Config:
    """The pretraining run's config: the demo recipe, a Base-Model on 5 actor-only classes."""
    steps = STEPS
    for o in overrides:  # the warm-up is a tenth of the steps unless set
        if o.startswith("solver.max_steps="):
            steps = int(o.split("=", 1)[1])
    return load_config(RECIPE, [f"data.root={data}", f"runtime.out_dir={out}", "runtime.seed=0", *OVERRIDES,
                                f"solver.max_steps={steps}", f"solver.warmup_steps={steps // 10}", *overrides])


def cache_key(cfg: Config, meta: dict) -> str:
    """Digest of the generated set's identity and every config value (that differs from the defaults)
    except paths and display."""
    from acrn.study.jobs import config_identity

    plain = config_identity(cfg)
    plain.get("data", {}).pop("root", None)
    ident = {"data": {"preset": meta.get("preset"), "seed": meta.get("seed"), "params": meta.get("params")},
             "config": plain}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


def ensure_pretrained(data: Path, cache: Path, overrides: list[str] = (), threads: int = 0,
                      log=print) -> Pretrained:
    """Reuse or train the pretrained Base-Model for the ``pretrain`` set in ``data``; return it."""
    from acrn.demo.run import evaluate_variant, train_variant

    meta = json.loads((Path(data) / "meta.json").read_text())
    if meta.get("preset") != PRESET:
        raise InputError(f"{data}: is the {meta.get('preset')!r} synthetic set; pretraining needs the "
                         f"{PRESET!r} preset (acrn synth --preset {PRESET})")
    probe = pretrain_config(data, cache, list(overrides))
    folder = Path(cache) / cache_key(probe, meta)
    final, info = folder / "pretrained.pt", folder / "pretrain.json"
    if final.is_file() and info.is_file():
        return Pretrained(final, json.loads(info.read_text()), True)
    work = folder / "run"
    shutil.rmtree(work, ignore_errors=True)  # a pretraining that was interrupted starts over
    cfg = pretrain_config(data, work, list(overrides))
    if threads:
        cfg.runtime.threads = threads
    log(f"pretraining a Base-Model on actor-only labels ({cfg.solver.max_steps} steps) into {folder}")
    model, postprocess, seconds = train_variant(cfg)
    metrics, _ = evaluate_variant(cfg, model, postprocess, video_ap=False)
    metrics = {"frame_mAP": metrics["frame_mAP"], "per_class": metrics["per_class"],
               "names": metrics.get("names", {}), "train_seconds": seconds, "steps": cfg.solver.max_steps,
               "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
    tmp = folder / "pretrained.pt.tmp"
    shutil.copyfile(work / "checkpoint_last.pt", tmp)
    os.replace(tmp, final)
    tmp_info = folder / "pretrain.json.tmp"
    tmp_info.write_text(json.dumps(metrics, indent=1))
    os.replace(tmp_info, info)
    shutil.rmtree(work, ignore_errors=True)
    return Pretrained(final, metrics, False)
