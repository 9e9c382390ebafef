"""Run the study's fine-tuning jobs, two at a time with one torch thread each, resuming finished ones.

Each worker process trains and scores one run (:func:`acrn.demo.run.run_variant`) and writes its
``result.json`` itself before returning, so an interrupted study keeps every run that finished.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict
from pathlib import Path
from typing import Any

from acrn.config import Config
from acrn.study.jobs import StudyJob, load_result, save_result


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The JSON-able part of a run's metrics that the study reads (no detections)."""
    keep = ("frame_mAP", "per_class", "names", "video_mAP", "pointing", "pointing_cam", "train_seconds",
            "eval_seconds", "steps", "test_keyframes")
    return {k: metrics[k] for k in keep if k in metrics}


def run_one(job: StudyJob, cfg: Config, fp: str, dense_stride: int = 4, threads: int = 1,
            keep: bool = False) -> dict[str, Any]:
    """Train and score ``job`` (in this process) and save its ``result.json``; return the result.
    ``keep``: keep the fine-tuned ``checkpoint_last.pt`` (else deleted: ~10 MB a run)."""
    import torch

    from acrn.demo.run import run_variant

    if threads:
        torch.set_num_threads(threads)
    for name in ("metrics.jsonl", "checkpoint_last.pt"):  # a half-finished run starts over
        (Path(cfg.runtime.out_dir) / name).unlink(missing_ok=True)
    res = run_variant(job.tag, cfg, dense_stride, job.video_ap)
    result = {"job": asdict(job), "model": job.model, "fingerprint": fp, "metrics": scalar_metrics(res.metrics),
              "curve": res.curve}
    save_result(Path(cfg.runtime.out_dir), result)
    if not keep:
        (Path(cfg.runtime.out_dir) / "checkpoint_last.pt").unlink(missing_ok=True)
    return result


def run_all(jobs: list[tuple[StudyJob, Config, str]], workers: int, log: Callable[[str], None],
            dense_stride: int = 4, keep: bool = False) -> list[dict[str, Any]]:
    """Results of every ``(job, cfg, fingerprint)`` in order; finished runs are read, not redone."""
    results: list[dict[str, Any] | None] = [load_result(Path(c.runtime.out_dir), fp) for _, c, fp in jobs]
    todo = [i for i, r in enumerate(results) if r is None]
    if len(todo) < len(jobs):
        log(f"reusing {len(jobs) - len(todo)} finished run(s); {len(todo)} to do")
    t0 = time.perf_counter()

    def note(i: int, done: int) -> None:
        m = results[i]["metrics"]
        eta = (time.perf_counter() - t0) / done * (len(todo) - done)
        log(f"[{done}/{len(todo)}] {jobs[i][0].tag}: frame-AP {100 * m['frame_mAP']:.1f} "
            f"(train {m['train_seconds']:.0f} s, eval {m['eval_seconds']:.0f} s; ~{eta / 60:.0f} min left)")

    if workers <= 1:
        for n, i in enumerate(todo, 1):
            job, cfg, fp = jobs[i]
            results[i] = run_one(job, cfg, fp, dense_stride, threads=0, keep=keep)
            note(i, n)
        return results  # type: ignore[return-value]
    ctx = mp.get_context("spawn")  # no fork: the parent may hold OpenMP / OpenCV thread pools
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        pending: dict[Future, int] = {pool.submit(run_one, *jobs[i], dense_stride, 1, keep): i for i in todo}
        done = 0
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for f in finished:
                i = pending.pop(f)
                results[i] = f.result()
                done += 1
                note(i, done)
    return results  # type: ignore[return-value]
