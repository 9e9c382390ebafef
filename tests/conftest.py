"""Shared test setup: one torch thread per xdist worker, deterministic seeds, a private weights cache."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
# Tests never read or write the user's weights cache (~/.cache/acrn): each process gets its own.
os.environ["ACRN_HOME"] = tempfile.mkdtemp(prefix="acrn-home-")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

# Real weights and videos that nobody here made live beside the checkout (never copied into it).
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SHARED_MODELS = SHARED / "models"
SHARED_VIDEOS = SHARED / "videos"


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(scope="session")
def fastestdet_weights() -> Path:
    """The registered FastestDet state dict, in the (per-process) cache seeded from ``../shared/models``."""
    from acrn import hub

    if not (SHARED_MODELS / hub.REGISTRY["fastestdet"].filename).is_file():
        pytest.skip(f"{SHARED_MODELS}: FastestDet weights are not there (the shared models folder is absent)")
    hub.seed(SHARED_MODELS)
    return hub.weight_path("fastestdet", download=False)


def shared_video(name: str) -> Path:
    """``../shared/videos/<name>``, or skip the test when it is absent."""
    path = SHARED_VIDEOS / name
    if not path.is_file():
        pytest.skip(f"{path}: real test video is absent (the shared videos folder is not beside the checkout)")
    return path


# Tiny versions of the study's two synthetic sets and training settings (smoke tests of `acrn demo` / `acrn study`).
SMOKE_SETS = ["solver.batch_size=2", "data.num_workers=0", "data.test_short_side=64", "data.train_short_side=[64, 64]"]
SMOKE_FINETUNE = [a for s in SMOKE_SETS for a in ("--set", s)]
SMOKE_PRETRAIN = [a for s in [*SMOKE_SETS, "solver.max_steps=2"] for a in ("--pretrain-set", s)]


@pytest.fixture(scope="session")
def smoke_sets(tmp_path_factory) -> dict[str, Path]:
    """``--data``, ``--pretrain-data`` and ``--cache`` folders of 10-video sets, generated once per session."""
    from acrn.synth import generate

    top = tmp_path_factory.mktemp("smoke_sets")
    generate(top / "rel", "relational", seed=0, videos=10, workers=0)
    generate(top / "pre", "pretrain", seed=1, videos=10, workers=0)
    return {"data": top / "rel", "pretrain": top / "pre", "cache": top / "cache"}


def smoke_args(sets: dict[str, Path]) -> list[str]:
    return ["--data", str(sets["data"]), "--pretrain-data", str(sets["pretrain"]), "--cache", str(sets["cache"]),
            "--videos", "10", "--steps", "2", *SMOKE_FINETUNE, *SMOKE_PRETRAIN]
