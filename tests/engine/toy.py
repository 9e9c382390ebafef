"""A small real detector and dataset for engine tests (independent of the model/data packages).

ToyClips: clip ``Tensor[3, 4, 16, 16]`` whose classes are decided by its content (class c is on when
channel c is brighter than average), one actor box per clip; training augmentation (flip + noise)
draws from the *global* RNGs, which is exactly what the engine's per-item seeding must make
reproducible. ToyDetector: Conv3d -> ReLU -> Dropout -> average pool -> Linear; it learns the task
in a few dozen steps.
"""

from __future__ import annotations

import time

import torch
from torch import nn
from torch.utils.data import Dataset

from acrn.config import Config, load_config
from acrn.structures import Batch, Detections, Sample

C = 3


class ToyClips(Dataset):
    def __init__(self, n: int = 32, train: bool = True, delay: float = 0.0) -> None:
        self.n, self.train, self.delay = n, train, delay
        self.class_ids = [1, 2, 3]
        self.class_names = ["red", "green", "blue"]
        self.multilabel = True
        self.keyframes = [(f"v{i:03d}", 1) for i in range(n)]

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> Sample:
        if self.delay:
            time.sleep(self.delay)
        g = torch.Generator().manual_seed(1000 + i)
        bias = torch.randn(3, 1, 1, 1, generator=g)
        clip = torch.randn(3, 4, 16, 16, generator=g) * 0.5 + bias
        labels = (bias.flatten() > bias.mean()).float()[None]  # Tensor[1, C]
        box = torch.tensor([[2.0, 3.0, 12.0, 14.0]])
        flipped = False
        if self.train:
            clip = clip + 0.1 * torch.randn(clip.shape)  # global RNG on purpose
            if torch.rand(()) < 0.5:
                clip, box, flipped = clip.flip(-1), torch.tensor([[4.0, 3.0, 14.0, 14.0]]), True
        meta = {"video": f"v{i:03d}", "timestamp": 1, "orig_size": (32, 32), "scale": (0.5, 0.5),
                "offset": (0.0, 0.0), "flipped": flipped}
        return Sample(clip=clip, boxes=box, labels=labels, meta=meta)


def toy_collate(samples: list[Sample]) -> Batch:
    return Batch(clips=torch.stack([s.clip for s in samples]),
                 image_sizes=torch.tensor([list(s.clip.shape[-2:]) for s in samples]),
                 boxes=[s.boxes for s in samples], labels=[s.labels for s in samples],
                 metas=[s.meta for s in samples], keyframes=torch.stack([s.keyframe for s in samples]))


class ToyDetector(nn.Module):
    """``Batch -> {"logits": Tensor[B, C], "features": Tensor[B, 8, T, H, W]}``."""

    def __init__(self, num_classes: int = C, width: int = 8, dropout: float = 0.2) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, width, 3, padding=1)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        f = self.drop(torch.relu(self.conv(batch.clips)))
        return {"logits": self.fc(f.mean((2, 3, 4))), "features": f}

    def relation_heatmaps(self, batch: Batch, boxes: list[torch.Tensor]) -> list[torch.Tensor]:
        f = torch.relu(self.conv(batch.clips)).mean(2)  # Tensor[B, 8, H, W]
        maps = torch.einsum("bkhw,ck->bchw", f, self.fc.weight)  # classifier as a 1x1 conv
        return [maps[i][None].expand(len(b), -1, -1, -1) for i, b in enumerate(boxes)]


def toy_criterion(outputs: dict, batch: Batch) -> dict[str, torch.Tensor]:
    target = torch.stack([lab.amax(0) for lab in batch.labels])
    loss = nn.functional.binary_cross_entropy_with_logits(outputs["logits"], target)
    return {"loss_cls": loss, "loss": loss}


def toy_postprocess(outputs: dict, batch: Batch) -> list[Detections]:
    out = []
    for b, meta in enumerate(batch.metas):
        sy, sx = meta["scale"]
        boxes = batch.boxes[b] / torch.tensor([sx, sy, sx, sy])
        scores = torch.sigmoid(outputs["logits"][b]).expand(len(boxes), -1)
        out.append(Detections(boxes, scores, scores.amax(1), {k: meta[k] for k in ("video", "timestamp", "orig_size")}))
    return out


def toy_config(out_dir: str, *overrides: str) -> Config:
    base = [f"runtime.out_dir={out_dir}", "runtime.device=cpu", "runtime.tensorboard=false",
            "runtime.progress=false", "runtime.threads=1", "data.num_workers=0", "solver.batch_size=4",
            "solver.max_steps=12", "solver.warmup_steps=2", "solver.base_lr=0.2", "solver.warmup_start_lr=0.05",
            "solver.final_lr=0.01", "model.num_classes=3", "runtime.log_every=1", "runtime.ckpt_every=4"]
    return load_config(None, base + list(overrides))
