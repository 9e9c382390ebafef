"""Deterministic data order for exact resume and rank-independent augmentation.

Every training step ``s`` reads a fixed set of clips: epoch ``e = s // steps_per_epoch`` is a
permutation drawn from ``(seed, e)`` by :class:`~torch.utils.data.DistributedSampler` (which also
shards it across ranks), and step ``s`` takes the next ``batch_size / world_size`` items of this
rank's share. Each item carries its own seed, a pure function of ``(seed, epoch, position in the
epoch)``; :class:`SeededDataset` seeds torch/numpy/random with it around ``dataset[index]``. So the
random augmentation of a clip does not depend on which DataLoader worker loads it, on the number of
workers, on where a resumed run restarts, or on the number of ranks (the same global batch gives the
same clips with the same crops and flips on 1 process or on N).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler, Sampler

from acrn.errors import InputError


def item_seed(seed: int, epoch: int, position: int) -> int:
    """A 63-bit seed for item ``position`` of ``epoch`` (stable across numpy versions)."""
    return int(np.random.SeedSequence([seed, epoch, position]).generate_state(1, dtype=np.uint64)[0] >> 1)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch, numpy and ``random`` for the block, then put the caller's states back."""
    t, n, p = torch.get_rng_state(), np.random.get_state(), random.getstate()
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)
    try:
        yield
    finally:
        torch.set_rng_state(t)
        np.random.set_state(n)
        random.setstate(p)


class SeededDataset(Dataset):
    """``dataset[(index, seed)]`` = ``dataset[index]`` with every global RNG seeded by ``seed``."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]):
        index, seed = key
        with seeded(seed):
            return self.dataset[index]


class StepBatchSampler(Sampler[list[tuple[int, int]]]):
    """This rank's batches of ``(index, seed)`` for steps ``start_step .. max_steps - 1``.

    Args:
        num_items: dataset length.
        batch_size: clips per step on this rank (global batch / world size).
        rank, world_size: this process and the number of processes.
        seed: run seed; with the epoch it fixes the permutation and every item's seed.
        start_step, max_steps: the half-open range of steps to produce.
    """

    def __init__(self, num_items: int, batch_size: int, rank: int, world_size: int, seed: int,
                 start_step: int, max_steps: int) -> None:
        self.sampler = DistributedSampler(range(num_items), num_replicas=world_size, rank=rank,
                                          shuffle=True, seed=seed, drop_last=False)
        self.steps_per_epoch = len(self.sampler) // batch_size
        if self.steps_per_epoch == 0:
            raise InputError(f"the training set has {num_items} clips, fewer than one step needs "
                             f"({batch_size} per rank x {world_size} ranks); lower solver.batch_size")
        self.batch_size, self.rank, self.world_size, self.seed = batch_size, rank, world_size, seed
        self.start_step, self.max_steps = start_step, max_steps

    def __len__(self) -> int:
        return max(0, self.max_steps - self.start_step)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        epoch, indices = -1, []
        for step in range(self.start_step, self.max_steps):
            e, k = divmod(step, self.steps_per_epoch)
            if e != epoch:
                epoch = e
                self.sampler.set_epoch(e)
                indices = list(self.sampler)
            # Item j of this rank's share sits at global position rank + j * world in the epoch.
            js = range(k * self.batch_size, (k + 1) * self.batch_size)
            yield [(indices[j], item_seed(self.seed, e, self.rank + j * self.world_size)) for j in js]
