"""The training loop on a small real model: it learns, resumes exactly, stops on NaN, logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from toy import ToyClips, ToyDetector, toy_collate, toy_config, toy_criterion

from acrn.engine import checkpoint as ckpt
from acrn.engine.data_order import StepBatchSampler
from acrn.engine.train import CHECKPOINT_NAME, TrainingDiverged, train
from acrn.errors import InputError


def _run(out: Path, *overrides: str, resume: bool = False, dataset=None, evaluate=None) -> dict:
    cfg = toy_config(str(out), *overrides)
    torch.manual_seed(cfg.runtime.seed)
    model = ToyDetector()
    train(cfg, model, toy_criterion, dataset or ToyClips(32), toy_collate, resume=resume, evaluate=evaluate)
    return model.state_dict()


def test_learns(tmp_path: Path) -> None:
    _run(tmp_path, "solver.max_steps=48", "solver.warmup_steps=4")
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 49))
    first = sum(r["loss"] for r in rows[:8]) / 8
    last = sum(r["loss"] for r in rows[-8:]) / 8
    assert last < 0.5 * first, (first, last)
    assert rows[0]["lr"] == pytest.approx(0.05) and rows[4]["lr"] == pytest.approx(0.2)
    assert rows[-1]["lr"] == pytest.approx(0.01)
    payload = ckpt.load_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert payload["step"] == 48 and payload["config"]["solver"]["max_steps"] == 48


class _Interrupt(Exception):
    pass


@pytest.mark.parametrize("workers", [0, 2])
def test_interrupted_run_resumes_bit_exactly(tmp_path: Path, workers: int) -> None:
    sets = (f"data.num_workers={workers}", "runtime.ckpt_every=1", "solver.max_steps=11")
    ref = _run(tmp_path / "ref", *sets)

    def stop_at_7(model, step):  # called after the step-7 checkpoint was written
        if step == 7:
            raise _Interrupt
        return {}

    with pytest.raises(_Interrupt):
        _run(tmp_path / "cut", *sets, "eval.every=1", evaluate=stop_at_7)
    assert ckpt.load_checkpoint(tmp_path / "cut" / CHECKPOINT_NAME)["step"] == 7
    resumed = _run(tmp_path / "cut", *sets, resume=True)
    assert ref.keys() == resumed.keys()
    for k in ref:
        assert torch.equal(ref[k], resumed[k]), k  # bit-exact on CPU
    # Crossing an epoch boundary (32 clips / 4 = 8 steps per epoch) is part of the check.
    rows = (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["step"] for r in rows] == list(range(1, 12))


def test_resume_without_checkpoint_is_clear(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--resume: no checkpoint"):
        _run(tmp_path, resume=True)


class _NaNAt(ToyClips):
    """Clip 5 is broken (NaN pixels), as a corrupted frame would be."""

    def __getitem__(self, i):
        s = super().__getitem__(i)
        if i == 5:
            s.clip[0, 0, 0, 0] = float("nan")
        return s


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path: Path) -> None:
    ds = _NaNAt(32)
    order = StepBatchSampler(32, 4, 0, 1, 0, 0, 40)
    bad_step = next(s for s, b in enumerate(order) if any(i == 5 for i, _ in b))
    assert bad_step >= 2, "the test needs a checkpoint before the bad clip"
    with pytest.raises(TrainingDiverged) as e:
        _run(tmp_path, "solver.max_steps=40", "runtime.ckpt_every=2", dataset=ds)
    kept = ckpt.load_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert kept["step"] == bad_step // 2 * 2
    msg = str(e.value)
    assert f"step {bad_step}: loss is not finite" in msg and f"(step {kept['step']})" in msg and "nan" in msg
    assert all(torch.isfinite(v).all() for v in kept["model"].values())


def test_data_order_shards_and_resumes() -> None:
    one = list(StepBatchSampler(30, 6, 0, 1, seed=3, start_step=0, max_steps=12))
    two = [list(StepBatchSampler(30, 3, r, 2, seed=3, start_step=0, max_steps=12)) for r in (0, 1)]
    for s in range(12):
        assert sorted(one[s]) == sorted(two[0][s] + two[1][s])  # same clips, same per-clip seeds
    assert list(StepBatchSampler(30, 6, 0, 1, seed=3, start_step=7, max_steps=12)) == one[7:]
    epoch0 = [i for b in one[:5] for i, _ in b]
    assert sorted(epoch0) == list(range(30))  # 5 steps of 6 = one full permutation
    assert [i for b in one[5:10] for i, _ in b] != epoch0  # a new permutation per epoch


def test_tensorboard_scalars_and_heatmaps(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _run(tmp_path, "runtime.tensorboard=true", "solver.max_steps=4", evaluate=lambda m, s: {"frame_ap": 0.25})
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    tags = acc.Tags()
    assert {"train/loss", "train/lr", "train/clips_per_s", "eval/frame_ap"} <= set(tags["scalars"])
    assert "relation/heatmaps" in tags["images"]
    assert [e.value for e in acc.Scalars("eval/frame_ap")] == [0.25]
