"""benchmarks/probe_features.py's linear read-out: hand-checkable cases (separable, shared, random)."""

import importlib.util
from pathlib import Path

import torch

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "probe_features.py"
_spec = importlib.util.spec_from_file_location("probe_features", _PATH)
probe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(probe)


def _clusters(n: int, gen: torch.Generator, dims: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """Four well-separated Gaussian clusters, one per label, with a large offset and scale per dimension
    (the read-out standardises them away)."""
    y = torch.arange(n) % 4
    centres = torch.eye(4, dims) * 6.0
    x = centres[y] + torch.randn(n, dims, generator=gen)
    return x * torch.arange(1, dims + 1) * 100.0 + 5e3, y


def test_separable_labels_are_read_out_exactly():
    gen = torch.Generator().manual_seed(0)
    xtr, ytr = _clusters(200, gen)
    xte, yte = _clusters(100, gen)
    acc = probe.linear_readout(xtr, ytr, xte, yte)
    assert acc["train"] == 1.0 and acc["test"] == 1.0 and acc["test_pair_type"] == 1.0


def test_a_feature_shared_by_both_roles_tells_the_pair_type_only():
    # like entity_cell: labels 0 and 1 (catch / throw of one ball) share one feature, as do 2 and 3
    gen = torch.Generator().manual_seed(1)
    centres = torch.tensor([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0]])

    def shared(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(n) % 4
        return centres[y // 2] + torch.randn(n, 3, generator=gen), y

    acc = probe.linear_readout(*shared(400), *shared(200))
    assert acc["test_pair_type"] >= 0.95
    assert 0.4 <= acc["test"] <= 0.6  # the 50 % ceiling: within a pair the role is a coin flip


def test_random_labels_stay_near_chance_on_test():
    gen = torch.Generator().manual_seed(2)
    xtr, xte = torch.randn(400, 8, generator=gen), torch.randn(400, 8, generator=gen)
    ytr, yte = torch.randint(0, 4, (400,), generator=gen), torch.randint(0, 4, (400,), generator=gen)
    acc = probe.linear_readout(xtr, ytr, xte, yte)
    assert abs(acc["test"] - 0.25) < 0.08


def _entity_maps(n: int, gen: torch.Generator) -> dict:
    """1 x 6 maps, 2 channels: the actor at cell 2 or 3 (channel 1), its entity two cells to one side carrying
    a motion sign m = +-1 in channel 0 and nothing else does; role = (m < 0), pair type = (row % 2), which
    only the actor feature tells."""
    x = torch.randint(2, 4, (n,), generator=gen)
    side = torch.randint(0, 2, (n,), generator=gen) * 2 - 1
    m = torch.randint(0, 2, (n,), generator=gen).float() * 2 - 1
    rows = torch.arange(n)
    fmaps = torch.zeros(n, 2, 1, 6)
    fmaps[:, 1] = 0.1  # every cell has some content (an all-zero cell normalises to zero)
    fmaps[rows, 0, 0, x + 2 * side] = m
    fmaps[rows, 1, 0, x] = 1.0
    f_a = torch.stack([x.float(), side.float(), (rows % 2).float()], 1)
    box = torch.stack([x / 6, torch.zeros(n), (x + 1) / 6, torch.ones(n)], 1)
    return {"actor_f_a": f_a, "box": box, "fmaps": fmaps, "clip": rows, "label": (m < 0).long() + 2 * (rows % 2)}


def test_the_frozen_relation_head_reads_the_role_from_the_scene_cells():
    gen = torch.Generator().manual_seed(3)
    acc = probe.relation_readout(_entity_maps(400, gen), _entity_maps(200, gen), hidden=32, epochs=40)
    assert acc["test_pair_type"] >= 0.95 and acc["test"] >= 0.95  # f_a alone is at 0.5 given the pair type


def test_the_frozen_relation_head_stays_at_chance_on_shuffled_roles():
    gen = torch.Generator().manual_seed(4)
    train, test = _entity_maps(400, gen), _entity_maps(200, gen)
    for d in (train, test):  # the role made independent of the maps, the pair type kept
        d["label"] = d["label"] // 2 * 2 + torch.randint(0, 2, (len(d["label"]),), generator=gen)
    acc = probe.relation_readout(train, test, hidden=32, epochs=40)
    assert acc["test_pair_type"] >= 0.95 and abs(acc["test"] - 0.5) <= 0.12
