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
