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
