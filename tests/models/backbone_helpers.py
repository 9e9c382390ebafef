"""Helpers of the backbone / importer tests: key dumps of public checkpoints, counting on the meta device."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

# specs/s3dg.md 1.2: (C, T, H, W) of every endpoint for 1x3x20x224x224 and 1x3x8x112x112 (width 1.0).
SHAPES_20x224 = {
    "Conv2d_1a_7x7": (64, 10, 112, 112), "MaxPool_2a_3x3": (64, 10, 56, 56), "Conv2d_2b_1x1": (64, 10, 56, 56),
    "Conv2d_2c_3x3": (192, 10, 56, 56), "MaxPool_3a_3x3": (192, 10, 28, 28), "Mixed_3b": (256, 10, 28, 28),
    "Mixed_3c": (480, 10, 28, 28), "MaxPool_4a_3x3": (480, 5, 14, 14), "Mixed_4b": (512, 5, 14, 14),
    "Mixed_4c": (512, 5, 14, 14), "Mixed_4d": (512, 5, 14, 14), "Mixed_4e": (528, 5, 14, 14),
    "Mixed_4f": (832, 5, 14, 14), "MaxPool_5a_2x2": (832, 3, 7, 7), "Mixed_5b": (832, 3, 7, 7),
    "Mixed_5c": (1024, 3, 7, 7),
}
SHAPES_8x112 = {"Conv2d_1a_7x7": (64, 4, 56, 56), "Mixed_3c": (480, 4, 14, 14), "Mixed_4f": (832, 2, 7, 7),
                "Mixed_5c": (1024, 1, 4, 4)}

KEYS_DIR = Path(__file__).parent / "checkpoint_keys"  # copies of specs/checkpoint-keys/*.tsv


def read_keys(name: str) -> list[tuple[str, tuple[int, ...]]]:
    """``(key, shape)`` rows of ``checkpoint_keys/<name>.tsv`` in file order."""
    rows = []
    for line in (KEYS_DIR / f"{name}.tsv").read_text().splitlines():
        key, shape = line.split("\t")
        rows.append((key, tuple(int(s) for s in shape.strip("()").split(",") if s.strip())))
    return rows


def random_state(name: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict with the exact keys and shapes of a public checkpoint and random values."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in read_keys(name):
        if key.endswith("num_batches_tracked"):
            out[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            out[key] = torch.rand(shape, generator=g) + 0.5
        else:
            out[key] = torch.randn(shape, generator=g)
    return out


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def gflops(m: nn.Module, *shape: int) -> float:
    """Forward GFLOPs (2 x MACs) of ``m`` on a zero input of ``shape`` (run on the meta device if ``m`` is)."""
    device = next(m.parameters()).device
    with FlopCounterMode(display=False) as counter:
        m(torch.zeros(shape, device=device))
    return counter.get_total_flops() / 1e9


def meta_shapes(m: nn.Module, *shape: int) -> dict[str, tuple[int, ...]]:
    with torch.no_grad():
        return {k: tuple(v.shape) for k, v in m(torch.zeros(shape, device="meta")).items()}
