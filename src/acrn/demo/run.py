"""Train and evaluate one variant of the detector on the synthetic benchmark (used by demo and ablate).

A *variant* is the demo recipe (``recipe.yaml``) plus ``--set``-style overrides, e.g. the Base-Model is
``model.head=none`` and ACRN ``model.head=acrn``. :func:`run_variant` trains it with the engine's training
loop and scores it on the test split: frame-AP with the AVA protocol at the key frames, video-AP with
the ACT protocol on tubes linked from detections every ``dense_stride`` frames, and (ACRN) the
pointing game of its relation heatmaps.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from acrn.config import Config, load_config
from acrn.demo.pointing import gt_people, pointing_game, read_relations
from acrn.structures import Detections

RECIPE = Path(__file__).with_name("recipe.yaml")


def variant_config(data: Path, out: Path, overrides: list[str], seed: int, steps: int | None = None,
                   progress: bool = True) -> Config:
    """The demo recipe with ``overrides`` for one run (``out`` is its own folder).

    The recipe's square training crop fits the square presets; on a non-square set (the ``wide`` preset)
    it would cut half of each frame away, often with the deciding entity, so those train on whole frames
    (``data.train_crop=0``; an explicit override still wins)."""
    meta = json.loads((Path(data) / "meta.json").read_text())
    frame = [] if meta["width"] == meta["height"] else ["data.train_crop=0"]
    sets = [f"data.root={data}", f"runtime.out_dir={out}", f"runtime.seed={seed}",
            f"runtime.progress={str(progress).lower()}", *frame, *overrides]
    if steps is not None:
        sets.append(f"solver.max_steps={steps}")
        sets.append(f"solver.warmup_steps={min(steps // 10, 100)}")
    return load_config(RECIPE, sets)


@dataclass
class VariantResult:
    """Everything one trained variant produced: metrics (JSON-able) and test detections (for figures)."""

    name: str
    metrics: dict[str, Any]
    dets: list[Detections | None] = field(default_factory=list)
    curve: list[tuple[int, float]] = field(default_factory=list)


def _curve(out: Path) -> list[tuple[int, float]]:
    path = out / "metrics.jsonl"
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [(int(r["step"]), float(r["loss"])) for r in rows if "loss" in r]


def train_variant(cfg: Config) -> tuple[torch.nn.Module, Any, float]:
    """Train from scratch (seeded); returns ``(model, postprocess, seconds)``."""
    from acrn.data import build_dataset, collate
    from acrn.engine.train import train
    from acrn.models import build_model

    t0 = time.perf_counter()
    train_set = build_dataset(cfg, "train", train=True)
    torch.manual_seed(cfg.runtime.seed)
    model, criterion, postprocess = build_model(cfg)
    train(cfg, model, criterion, train_set, collate,
          extra={"class_ids": list(train_set.class_ids), "class_names": list(train_set.class_names)})
    return model, postprocess, time.perf_counter() - t0


def evaluate_variant(cfg: Config, model: torch.nn.Module, postprocess: Any, dense_stride: int = 2,
                     video_ap: bool = True) -> tuple[dict[str, Any], list[Detections | None]]:
    """Score a trained model on the test split; returns ``(metrics, key-frame detections)``."""
    from acrn.data import build_dataset, collate
    from acrn.engine.evaluate import score_detections
    from acrn.engine.infer import predict

    root = Path(cfg.data.root)
    test_set = build_dataset(cfg, "test", train=False)
    relational = cfg.model.head == "acrn"
    postprocess.keep_heatmaps = relational  # only the key frames of the test split: small
    t0 = time.perf_counter()
    dets = predict(model, postprocess, test_set, collate, device=torch.device("cpu"),
                   progress=cfg.runtime.progress, desc="test key frames")
    scored = score_detections(cfg, dets, test_set)
    frame = scored["frame"]
    metrics: dict[str, Any] = {"frame_mAP": frame["mAP"], "per_class": frame["per_class"],
                               "names": frame.get("names", {}), "num_gt": frame.get("num_gt"),
                               "test_keyframes": len(test_set)}
    if relational:
        people = gt_people(root / "annotations" / "test.csv")
        relations = read_relations(root / "annotations" / "test_relations.csv")
        for key, contrastive in (("pointing", True), ("pointing_cam", False)):
            game = pointing_game(dets, people, relations, list(test_set.class_ids), contrastive=contrastive)
            metrics[key] = game.as_dict()
    postprocess.keep_heatmaps = False
    if video_ap:
        metrics["video"] = dense_video_ap(cfg, model, postprocess, test_set.class_ids, test_set.class_names,
                                          dense_stride, tuple(cfg.eval.video_iou))
        metrics["video_mAP"] = metrics["video"]["video_mAP"]
    metrics["eval_seconds"] = time.perf_counter() - t0
    return metrics, dets


def dense_proposals(gt: dict, video: str, frame: int, rng: np.random.Generator) -> np.ndarray:
    """``float32 [P, 5]`` person proposals (pixels + score) at a 1-based ``frame`` of a synthetic video.

    The benchmark's proposals files simulate a person detector at the key frames (every actor's box
    jittered by 5 % of its size, score 0.7-1.0); this simulates the same detector on any frame from the
    ground-truth tubes, so that video-AP can be measured on densely sampled frames.
    """
    boxes: list[np.ndarray] = []
    for tubes in gt["gttubes"][video].values():
        for tube in tubes:
            rows = tube[tube[:, 0] == frame]
            for b in rows[:, 1:5]:
                if not any(np.abs(b - o).max() < 0.5 for o in boxes):  # one actor, several label tubes
                    boxes.append(b.astype(np.float64))
    out = []
    for b in boxes:
        size = np.array([b[2] - b[0], b[3] - b[1]] * 2)
        j = b + rng.normal(0.0, 0.05, 4) * size
        out.append([*j, rng.uniform(0.7, 1.0)])
    return np.asarray(out, np.float32).reshape(-1, 5)


def dense_dataset(cfg: Config, gt: dict, videos: list[str], stride: int, class_ids: list[int],
                  class_names: list[str]) -> torch.utils.data.Dataset:
    """Every ``stride``-th frame of the test videos as clips with simulated proposals (each clip's
    timestamp is its 1-based frame number)."""
    from acrn.data import ClipDataset, ClipRecord, FrameSources
    from acrn.data import transforms as T

    root = Path(cfg.data.root)
    fps = float(json.loads((root / "meta.json").read_text())["fps"])
    rng = np.random.default_rng(cfg.runtime.seed)
    records = []
    for v in videos:
        for k in range(0, int(gt["nframes"][v]), stride):
            props = dense_proposals(gt, v, k + 1, rng)
            records.append(ClipRecord(v, k + 1, np.zeros((0, 4), np.float32), np.zeros((0, len(class_ids)), np.float32),
                                      frame=k, proposals=props, normalised=False))
    ds = ClipDataset(records, FrameSources("folder", root / "frames", fps=fps), class_ids=class_ids,
                     class_names=class_names, multilabel=True, num_frames=cfg.data.num_frames,
                     sample_rate=cfg.data.sample_rate, transform=T.TestTransform(cfg.data.test_short_side),
                     mean=cfg.data.mean, std=cfg.data.std)
    return ds


def dense_video_ap(cfg: Config, model: torch.nn.Module, postprocess: Any, class_ids: list[int],
                   class_names: list[str], stride: int, thresholds: tuple[float, ...]) -> dict[str, Any]:
    """ACT video-AP of the test videos: detect every ``stride`` frames, link tubes, score against gt.pkl.

    The linker (Gkioxari & Malik) bridges the frames between detections by linear interpolation, so the
    tubes cover consecutive frames as ACT's spatio-temporal IoU expects.
    """
    from acrn.data import collate
    from acrn.engine.act_adapter import frame_rows
    from acrn.engine.infer import predict
    from acrn.eval import act_video_ap, link_tubes, linked_to_tubes, load_gt_file, split_videos

    gt = load_gt_file(Path(cfg.data.root) / "gt.pkl")
    videos = split_videos(gt, 1)
    ds = dense_dataset(cfg, gt, videos, stride, class_ids, class_names)
    dets = predict(model, postprocess, ds, collate, device=torch.device("cpu"), progress=cfg.runtime.progress,
                   desc="test videos (dense)")
    dv, df, dl, dsc, db = frame_rows(dets, videos)  # each clip's timestamp is its 1-based frame number
    if not len(dv):
        return {"video_mAP": {str(t): 0.0 for t in thresholds}, "frames": len(ds)}
    tubes = linked_to_tubes(link_tubes(dv, df, dl, dsc, db))
    res = act_video_ap(gt, videos, tubes, thresholds=thresholds)
    return {"video_mAP": res["video_mAP"], "video_per_class": res.get("video_per_class", {}), "frames": len(ds)}


def run_variant(name: str, cfg: Config, dense_stride: int = 2, video_ap: bool = True) -> VariantResult:
    """Train ``cfg`` and evaluate it (see the module docstring)."""
    model, postprocess, seconds = train_variant(cfg)
    metrics, dets = evaluate_variant(cfg, model, postprocess, dense_stride, video_ap)
    metrics["train_seconds"] = seconds
    metrics["steps"] = cfg.solver.max_steps
    return VariantResult(name, metrics, dets, _curve(Path(cfg.runtime.out_dir)))
