"""The training loop (nanoGPT style: one loop, top to bottom).

lr from a pure function of the step -> forward under bf16 autocast (CUDA only) -> loss dict ->
non-finite check -> backward -> clip -> SGD step -> log -> checkpoint (rank 0) -> periodic eval.
Distributed runs come from torchrun (see :mod:`acrn.engine.distributed`); DDP averages gradients.
``resume=True`` continues from ``<out_dir>/checkpoint_last.pt`` and ends with the same weights as an
uninterrupted run: the data order and every augmentation are functions of ``(seed, step)``
(:mod:`acrn.engine.data_order`), the schedule is a function of the step, and the model, optimizer and
every rank's RNG states are restored.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from acrn.cli.common import atomic_write_text
from acrn.config import Config, SolverConfig, dump_yaml, to_dict
from acrn.engine import checkpoint as ckpt
from acrn.engine.data_order import SeededDataset, StepBatchSampler
from acrn.engine.distributed import DistInfo, all_reduce_mean, any_rank, gather_objects, init_distributed
from acrn.engine.schedule import build_schedule
from acrn.errors import AcrnError, InputError
from acrn.models.postprocess import contrastive_heatmaps
from acrn.structures import Batch

CHECKPOINT_NAME = "checkpoint_last.pt"
Criterion = Callable[[dict, Batch], dict[str, torch.Tensor]]
Evaluator = Callable[[nn.Module, int], dict[str, Any]]


class TrainingDiverged(AcrnError):
    """The loss became NaN or infinite; the message names the step and the last good checkpoint."""


@dataclass
class TrainResult:
    step: int
    checkpoint: Path
    losses: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


RELATION_PARAMS = ("head.g_theta.", "head.f_phi.", "head.fuse.", "head.mixed5.")


def relation_param(name: str, model: nn.Module) -> bool:
    """A parameter of the relation head's own layers (``head.mixed5`` is f_phi only inside a relation head)."""
    wrapped = hasattr(getattr(model, "head", None), "actor_head")
    return wrapped and name.startswith(RELATION_PARAMS)


def build_optimizer(solver: SolverConfig, model: nn.Module) -> torch.optim.Optimizer:
    """SGD with momentum (section 4.1) or AdamW over the trainable parameters; the relation head's own
    layers in a second group whose lr is ``solver.relation_lr_mult`` times the schedule's."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise InputError("the model has no trainable parameters")
    rel = [p for n, p in named if relation_param(n, model)]
    groups = [{"params": [p for n, p in named if not relation_param(n, model)], "lr_mult": 1.0}]
    if rel:
        groups.append({"params": rel, "lr_mult": solver.relation_lr_mult})
    if solver.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=solver.warmup_start_lr, momentum=solver.momentum,
                               weight_decay=solver.weight_decay)
    return torch.optim.AdamW(groups, lr=solver.warmup_start_lr, weight_decay=solver.weight_decay)


def _worker_init(_: int) -> None:
    # Workers decode and transform; one torch thread each avoids oversubscribing the cores.
    torch.set_num_threads(1)


def build_train_loader(cfg: Config, dataset: Dataset, collate_fn: Callable, info: DistInfo,
                       start_step: int) -> DataLoader:
    """The DataLoader of steps ``start_step .. max_steps - 1`` for this rank (see data_order)."""
    if cfg.solver.batch_size % info.world_size:
        raise InputError(f"solver.batch_size={cfg.solver.batch_size} must be divisible by the number of "
                         f"processes ({info.world_size})")
    sampler = StepBatchSampler(len(dataset), cfg.solver.batch_size // info.world_size, info.rank,
                               info.world_size, cfg.runtime.seed, start_step, cfg.solver.max_steps)
    g = torch.Generator().manual_seed(cfg.runtime.seed)  # worker base seeds; items reseed themselves
    return DataLoader(SeededDataset(dataset), batch_sampler=sampler, collate_fn=collate_fn,
                      num_workers=cfg.data.num_workers, pin_memory=info.device.type == "cuda",
                      worker_init_fn=_worker_init, generator=g)


def _save(path: Path, step: int, model: nn.Module, opt: torch.optim.Optimizer, cfg: Config,
          info: DistInfo, extra: dict) -> None:
    """Every rank contributes its RNG state; rank 0 writes the file atomically."""
    rng = gather_objects(ckpt.rng_state())
    if info.is_main:
        payload = ckpt.make_checkpoint(step=step, model_state=ckpt.model_state_for_save(model),
                                       optimizer_state=opt.state_dict(), config=to_dict(cfg),
                                       rng={"ranks": rng}, extra=extra)
        ckpt.save_checkpoint(path, payload)


def _restore(path: Path, model: nn.Module, opt: torch.optim.Optimizer, info: DistInfo) -> int:
    if not path.is_file():
        raise InputError(f"--resume: no checkpoint at {path} (start without --resume, or point "
                         f"runtime.out_dir at the run to continue)")
    payload = ckpt.load_checkpoint(path)
    try:
        model.load_state_dict(payload["model"])
        opt.load_state_dict(payload["optimizer"])
    except (RuntimeError, ValueError, KeyError) as e:
        raise InputError(f"{path}: does not fit this model/optimizer: {str(e).splitlines()[0][:300]}") from None
    ranks = payload["rng"].get("ranks", [])
    if len(ranks) == info.world_size:
        ckpt.set_rng_state(ranks[info.rank])
    return int(payload["step"])


class _Logger:
    """Rank-0 sinks: ``metrics.jsonl``, TensorBoard scalars/images, the progress bar."""

    def __init__(self, cfg: Config, out: Path, info: DistInfo, start: int) -> None:
        self.main = info.is_main
        self.out = out
        self.tb = None
        if self.main and cfg.runtime.tensorboard:
            from torch.utils.tensorboard import SummaryWriter  # imported only when used (slow import)
            self.tb = SummaryWriter(str(out / "tensorboard"), purge_step=start)
        self.bar = tqdm(total=cfg.solver.max_steps, initial=start, disable=not (self.main and cfg.runtime.progress),
                        dynamic_ncols=True, desc="train")

    def scalars(self, step: int, values: dict[str, float], prefix: str, file: str) -> None:
        if not self.main:
            return
        with open(self.out / file, "a") as f:
            f.write(json.dumps({"step": step, **values}) + "\n")
        if self.tb is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)) and math.isfinite(v):
                    self.tb.add_scalar(f"{prefix}/{k}", v, step)

    def close(self) -> None:
        self.bar.close()
        if self.tb is not None:
            self.tb.close()


def log_heatmaps(tb: Any, model: nn.Module, batch: Batch, step: int, max_clips: int = 4) -> None:
    """TensorBoard images: the relation heatmap of each clip's first GT actor, for its top class."""
    if tb is None or not hasattr(model, "relation_heatmaps") or not any(len(b) for b in batch.boxes):
        return
    n = min(max_clips, len(batch))
    boxes = [batch.boxes[i][:1] for i in range(n)]
    sub = Batch(clips=batch.clips[:n], image_sizes=batch.image_sizes[:n], boxes=boxes,
                labels=[batch.labels[i][:1] for i in range(n)], metas=batch.metas[:n],
                keyframes=None if batch.keyframes is None else batch.keyframes[:n],
                flows=None if batch.flows is None else batch.flows[:n],
                proposals=None if batch.proposals is None else batch.proposals[:n],
                proposal_scores=None if batch.proposal_scores is None else batch.proposal_scores[:n])
    try:
        with torch.no_grad():
            maps = model.relation_heatmaps(sub, boxes)  # list of Tensor[R_b, C, h, w]
    except InputError:  # a model without a relation head has no heatmaps
        return
    imgs = [contrastive_heatmaps(m[0]).amax(0, keepdim=True).float() for m in maps if m is not None and len(m)]
    if not imgs:
        return
    h = max(i.shape[-2] for i in imgs)
    w = max(i.shape[-1] for i in imgs)
    imgs = [nn.functional.interpolate(i[None], size=(h, w), mode="nearest")[0] for i in imgs]
    x = torch.stack(imgs)  # Tensor[n, 1, h, w]
    lo, hi = x.amin((1, 2, 3), keepdim=True), x.amax((1, 2, 3), keepdim=True)
    tb.add_images("relation/heatmaps", ((x - lo) / (hi - lo).clamp_min(1e-12)).cpu(), step)


def train(cfg: Config, model: nn.Module, criterion: Criterion, train_set: Dataset, collate_fn: Callable,
          *, evaluate: Evaluator | None = None, resume: bool = False, info: DistInfo | None = None,
          extra: dict | None = None) -> TrainResult:
    """Train ``model`` for ``cfg.solver.max_steps`` steps; return the final step, checkpoint and metrics.

    ``model(batch)`` returns an output dict, ``criterion(outputs, batch)`` a dict of scalar losses with
    the total under ``"loss"``. ``evaluate(model, step)`` (optional) returns a JSON-able metrics dict; it
    runs every ``cfg.eval.every`` steps and at the end. ``extra`` (plain values, e.g. the label map's
    ``class_ids``/``class_names``) is stored in every checkpoint. The caller seeds and builds the model so that
    every rank starts from the same weights (DDP also broadcasts rank 0's at construction).
    """
    info = info or init_distributed(cfg.runtime.device)
    if cfg.runtime.threads:
        torch.set_num_threads(cfg.runtime.threads)
    out = Path(cfg.runtime.out_dir)
    path = out / CHECKPOINT_NAME
    model.to(info.device)
    opt = build_optimizer(cfg.solver, model)
    torch.manual_seed(cfg.runtime.seed + info.rank)  # dropout etc.; data has its own seeds
    start = _restore(path, model, opt, info) if resume else 0
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "config.yaml", dump_yaml(cfg))
    # Some branches (RPN or relation head on a clip without actors) may leave parameters unused.
    net = DistributedDataParallel(model, device_ids=[info.device] if info.device.type == "cuda" else None,
                                  find_unused_parameters=True) if info.distributed else model
    loader = build_train_loader(cfg, train_set, collate_fn, info, start)
    log = _Logger(cfg, out, info, start)
    try:
        return _loop(cfg, net, model, criterion, opt, loader, info, log, path, start, evaluate, extra or {})
    finally:
        log.close()


def _loop(cfg: Config, net: nn.Module, model: nn.Module, criterion: Criterion, opt: torch.optim.Optimizer,
          loader: DataLoader, info: DistInfo, log: _Logger, path: Path, start: int,
          evaluate: Evaluator | None, extra: dict) -> TrainResult:
    lr_at = build_schedule(cfg.solver)
    amp = info.device.type == "cuda" and cfg.runtime.amp
    last_saved, losses, metrics, batch = start, {}, {}, None
    t0, n_clips = time.perf_counter(), 0
    net.train()
    for step, batch in enumerate(loader, start=start):
        lr = lr_at(step)
        for g in opt.param_groups:
            g["lr"] = lr * g.get("lr_mult", 1.0)
        if batch is None:
            raise InputError(f"step {step}: every clip of the batch failed to load (data.skip_bad=true skipped them)")
        batch = batch.to(info.device, non_blocking=True)
        with torch.autocast(info.device.type, dtype=torch.bfloat16, enabled=amp):
            loss_dict = criterion(net(batch), batch)
        loss = loss_dict["loss"]
        # One small all-reduce per step so that every rank stops together on a bad loss.
        if any_rank(not bool(torch.isfinite(loss.detach())), info.device):
            bad = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in loss_dict.items())
            kept = f"{path} (step {last_saved})" if path.is_file() else "no checkpoint was written yet"
            raise TrainingDiverged(f"step {step}: loss is not finite ({bad}); training stopped, "
                                   f"last good checkpoint kept: {kept}; try a lower solver.base_lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.solver.clip_grad > 0:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.solver.clip_grad)
        opt.step()
        done, n_clips = step + 1, n_clips + cfg.solver.batch_size
        log.bar.update(1)
        if done % cfg.runtime.log_every == 0 or done == cfg.solver.max_steps:
            losses = all_reduce_mean({k: float(v.detach()) for k, v in loss_dict.items()}, info.device)
            rate = n_clips / max(time.perf_counter() - t0, 1e-9)
            t0, n_clips = time.perf_counter(), 0
            log.scalars(done, {**losses, "lr": lr, "clips_per_s": rate}, "train", "metrics.jsonl")
            log.bar.set_postfix(loss=f"{losses['loss']:.4f}", lr=f"{lr:.2e}", clips_s=f"{rate:.1f}")
        if done % cfg.runtime.ckpt_every == 0 or done == cfg.solver.max_steps:
            _save(path, done, model, opt, cfg, info, {**extra, "losses": losses})
            last_saved = done
        if evaluate is not None and ((cfg.eval.every and done % cfg.eval.every == 0) or done == cfg.solver.max_steps):
            metrics = _evaluate(evaluate, model, batch, done, log)
            net.train()
    return TrainResult(step=max(start, cfg.solver.max_steps), checkpoint=path, losses=losses, metrics=metrics)


def _evaluate(evaluate: Evaluator, model: nn.Module, batch: Batch | None, step: int, log: _Logger) -> dict:
    model.eval()
    metrics = evaluate(model, step)
    scalars = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    log.scalars(step, scalars, "eval", "eval.jsonl")
    if batch is not None and log.main:
        log_heatmaps(log.tb, model, batch, step)
    return metrics
