"""The runs of ``acrn study relations``: which head, clip length, input and seed, and their fine-tune config.

Every run fine-tunes from the *same* pretrained checkpoint (:mod:`acrn.study.pretrain`) with the
paper's settings (section 4.1: frozen BN, gradient multiplier 0.01 from the relation head into the
feature map) on the ``relational`` synthetic set. For one seed every run sees the same data order and
augmentations (they are functions of ``(seed, step)``, :mod:`acrn.engine.data_order`), so results of
one seed are paired across heads.

A finished run leaves ``result.json`` (written atomically) in its folder with a fingerprint of its
config and of the pretrained checkpoint; a study started again reuses every run whose fingerprint
matches and redoes only the others.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from acrn.config import Config, changed_values

HEADS = {"none": "Base-Model", "resize_concat": "Resize+Concat", "santoro": "Santoro RN", "acrn": "ACRN"}
# Fine-tuning (section 4.1) on top of the demo recipe: frozen BN of the pretrained features, the relation
# head's 0.01 gradient multiplier (the recipe's), 8 RoIs per clip (a key frame has 4-6 actors). The stem up
# to Conv2d_2c keeps its pretrained weights (as torchvision's detectors keep theirs by default): a step costs
# ~40 % less on a CPU, and the relation is decided at Mixed_4f, far above it.
FINETUNE = ("model.freeze_bn=true", "model.rois_per_clip=8", "model.trainable_from=Mixed_3b",
            "runtime.tensorboard=false", "runtime.ckpt_every=100000")


@dataclass(frozen=True)
class StudyJob:
    """One fine-tuning run of the study."""

    head: str  # model.head
    frames: int  # data.num_frames (Table 1b)
    seed: int
    crop_only: bool = False  # the crop-only control (data.crop_only)
    video_ap: bool = False  # also link tubes and score video-AP (ACT protocol)

    @property
    def model(self) -> str:
        return HEADS[self.head] + (" (crop-only)" if self.crop_only else "")

    @property
    def tag(self) -> str:
        return f"{self.head}-T{self.frames}{'-crop' if self.crop_only else ''}-seed{self.seed}"

    def overrides(self, pretrained: Path) -> list[str]:
        return [*FINETUNE, f"model.head={self.head}", f"data.num_frames={self.frames}",
                f"model.init_from={pretrained}", f"data.crop_only={str(self.crop_only).lower()}"]


def plan(seeds: list[int], heads: list[str], frames: int, other_frames: list[int], crop_only: bool,
         video_ap: bool = True, side_seeds: int | None = None) -> list[StudyJob]:
    """The study's runs, seed-major so that an interrupted study has whole seeds done.

    Base-Model and ACRN at ``frames`` for every seed (the main comparison, with video-AP); for the first
    ``side_seeds`` seeds (None: all) also the other ``heads`` (Table 1a), the crop-only Base-Model and
    Base-Model / ACRN at each of ``other_frames`` (Table 1b), paired on the same seeds."""
    jobs = []
    main = [h for h in ("none", "acrn") if h in heads]
    for i, s in enumerate(seeds):
        jobs += [StudyJob(h, frames, s, video_ap=video_ap) for h in main]
        if side_seeds is not None and i >= side_seeds:
            continue
        jobs += [StudyJob(h, frames, s) for h in heads if h not in main]
        if crop_only:
            jobs.append(StudyJob("none", frames, s, crop_only=True))
        jobs += [StudyJob(h, t, s) for t in other_frames for h in ("none", "acrn") if t != frames]
    return jobs


def config_identity(cfg: Config) -> dict:
    """The config values that decide a run's weights: those that differ from the defaults, without the
    output folder and display settings (a field added later, at its default, changes nothing)."""
    plain = changed_values(cfg)
    for k in ("out_dir", "progress", "log_every", "threads"):
        plain.get("runtime", {}).pop(k, None)
    return plain


def fingerprint(cfg: Config, pretrained_digest: str, job: StudyJob) -> str:
    """What decides a run's result: its config identity and the pretrained weights' bytes."""
    plain = config_identity(cfg)
    plain.get("model", {}).pop("init_from", None)
    ident = {"config": plain, "pretrained": pretrained_digest, "job": asdict(job)}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()


def load_result(folder: Path, fp: str) -> dict[str, Any] | None:
    """The finished result in ``folder`` if its fingerprint is ``fp`` (else None: the run is redone)."""
    path = folder / "result.json"
    if not path.is_file():
        return None
    try:
        res = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return res if res.get("fingerprint") == fp else None


def save_result(folder: Path, result: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "result.json.tmp"
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, folder / "result.json")
