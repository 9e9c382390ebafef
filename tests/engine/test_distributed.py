"""torchrun with 2 gloo processes on CPU == 1 process with the same global batch.

Tolerance: the two runs differ only in floating-point summation order (DDP all-reduces per-rank mean
gradients and divides by 2; one process takes the mean over the whole batch), so the weights after 6
SGD steps agree to ~1.3e-7 absolute (measured); we assert ``rtol=1e-5, atol=1e-6``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from toy import ToyClips, ToyDetector, toy_collate, toy_config, toy_criterion

from acrn.engine import checkpoint as ckpt
from acrn.engine.train import CHECKPOINT_NAME, train

HERE = Path(__file__).resolve().parent
SETS = ["solver.max_steps=6", "solver.batch_size=4", "data.num_workers=0"]


def test_two_gloo_processes_match_one(tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(HERE / "toy_train.py"), str(tmp_path / "ddp"), "--dropout", "0"]
    for s in SETS:
        cmd += ["--set", s]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]

    cfg = toy_config(str(tmp_path / "one"), *SETS)
    torch.manual_seed(cfg.runtime.seed)
    model = ToyDetector(dropout=0.0)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    train(cfg, model, toy_criterion, ToyClips(32), toy_collate)

    ddp = ckpt.load_checkpoint(tmp_path / "ddp" / CHECKPOINT_NAME)
    assert ddp["step"] == 6 and len(ddp["rng"]["ranks"]) == 2
    for k, v in model.state_dict().items():
        assert not torch.equal(v, init[k]), f"{k} did not train"
        torch.testing.assert_close(ddp["model"][k], v, rtol=1e-5, atol=1e-6)
    # Rank 0 alone wrote the log.
    assert len((tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()) == 6


def test_sharded_inference_gathers_in_dataset_order(tmp_path: Path) -> None:
    from toy_infer import toy_predictions

    out = tmp_path / "dets.json"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(HERE / "toy_infer.py"), str(out)]
    proc = subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(out.read_text())
    assert got["world"] == 2
    ref = toy_predictions()
    assert [d["video"] for d in got["dets"]] == [f"v{i:03d}" for i in range(11)]  # 11 clips: uneven shards
    for g, r in zip(got["dets"], ref):
        assert g["boxes"] == r["boxes"]
        torch.testing.assert_close(torch.tensor(g["scores"]), torch.tensor(r["scores"]), rtol=1e-6, atol=1e-7)
