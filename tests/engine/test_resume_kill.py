"""SIGKILL a training process at a random step, resume it, and get the uninterrupted weights bit-exactly."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from toy import ToyClips, ToyDetector, toy_collate, toy_config, toy_criterion

from acrn.engine import checkpoint as ckpt
from acrn.engine.train import CHECKPOINT_NAME, train

HERE = Path(__file__).resolve().parent
SETS = ["solver.max_steps=24", "runtime.ckpt_every=1", "data.num_workers=1"]


def _cmd(out: Path, *extra: str) -> list[str]:
    cmd = [sys.executable, str(HERE / "toy_train.py"), str(out), *extra]
    for s in SETS:
        cmd += ["--set", s]
    return cmd


def _steps_logged(out: Path) -> int:
    f = out / "metrics.jsonl"
    return len(f.read_text().splitlines()) if f.is_file() else 0


def test_sigkill_then_resume_is_bit_exact(tmp_path: Path) -> None:
    kill_after = random.Random(time.time_ns()).randint(3, 16)
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # 20 ms per clip read keeps the run slow enough for the kill to land mid-run.
    proc = subprocess.Popen(_cmd(out, "--delay", "0.02"), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while _steps_logged(out) < kill_after and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        # The whole process group: the DataLoader worker must die too.
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL, f"not killed mid-run (kill_after={kill_after}): {proc.stderr.read()}"
    cut = ckpt.load_checkpoint(out / CHECKPOINT_NAME)["step"]
    assert kill_after - 1 <= cut < 24, (kill_after, cut)  # logged step k may not be saved yet

    res = subprocess.run(_cmd(out, "--resume"), env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]

    cfg = toy_config(str(tmp_path / "ref"), *SETS)
    torch.manual_seed(cfg.runtime.seed)
    model = ToyDetector()
    train(cfg, model, toy_criterion, ToyClips(32), toy_collate)
    final = ckpt.load_checkpoint(out / CHECKPOINT_NAME)
    assert final["step"] == 24
    for k, v in model.state_dict().items():
        assert torch.equal(final["model"][k], v), f"{k} differs after kill at step {cut} and resume"
