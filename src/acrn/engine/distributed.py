"""torch.distributed helpers: torchrun detection, data sharding, gathering results.

Launch with ``torchrun --nproc_per_node N --no-python acrn train ...`` (multi-node with torchrun's own
``--nnodes/--node_rank/--rdzv_*`` flags): torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT``, which :func:`init_distributed` reads. gloo on CPU, NCCL on GPU.
Without those variables everything runs in one process and the helpers are no-ops.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from acrn.errors import AcrnError


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: ``rank`` of ``world_size``, ``local_rank`` on its node, its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(pref: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` -> CUDA (this process's local GPU) when available, else CPU."""
    if pref == "cuda" and not torch.cuda.is_available():
        raise AcrnError("runtime.device=cuda but CUDA is not available; use runtime.device=cpu or auto")
    if pref == "cuda" or (pref == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))
    return torch.device("cpu")


def init_distributed(device_pref: str = "auto") -> DistInfo:
    """Join the process group when launched by torchrun (``RANK``/``WORLD_SIZE`` set), else one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_pref, local_rank)
    if world > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    if dist.is_initialized():
        world, rank = dist.get_world_size(), dist.get_rank()
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=device)


def cleanup(synchronise: bool = True) -> None:
    """Leave the process group. ``synchronise``: a barrier first, because a rank that destroys its gloo
    group while another is still finishing its last collective makes that one abort ("terminate called
    without an active exception", seen under CPU load in 2 of 8 two-process runs). Skipped after an
    error, where the other ranks may never reach the barrier."""
    if dist.is_initialized():
        if synchronise:
            dist.barrier()
        dist.destroy_process_group()


@contextmanager
def teardown() -> Iterator[None]:
    """Run the block, then :func:`cleanup` (synchronised only if the block did not raise)."""
    try:
        yield
    except BaseException:
        cleanup(synchronise=False)
        raise
    cleanup()


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def all_reduce_mean(values: dict[str, float], device: torch.device) -> dict[str, float]:
    """Mean of each scalar over ranks (one collective for the whole dict)."""
    if not dist.is_initialized() or dist.get_world_size() == 1 or not values:
        return dict(values)
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    t /= dist.get_world_size()
    return dict(zip(keys, t.tolist()))


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on at least one (e.g. a non-finite loss)."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def shard_indices(n: int, rank: int, world_size: int) -> list[int]:
    """Items ``rank, rank + world, ...`` of ``range(n)``: this rank's share for inference (no padding)."""
    return list(range(rank, n, world_size))


def gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (picklable; tensors moved to CPU first) in rank order, on every rank."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def gather_sharded(items: list[Any], n: int) -> list[Any]:
    """Reassemble per-rank results of :func:`shard_indices` into index order ``0..n-1``."""
    parts = gather_objects(items)
    world = len(parts)
    merged: list[Any] = [None] * n
    for rank, part in enumerate(parts):
        for j, item in enumerate(part):
            merged[rank + j * world] = item
    return merged
