"""Run several demo variants at once: one process per variant, one torch thread each.

At the demo's small size a convolution does not keep two threads busy (many 8-64 channel layers), so
two single-threaded trainings side by side finish sooner than the same two one after the other with two
threads each. The parent shows one progress bar fed by each run's ``metrics.jsonl``.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from acrn.config import Config
from acrn.demo.run import VariantResult, run_variant


@dataclass
class Job:
    name: str
    cfg: Config
    dense_stride: int = 4
    video_ap: bool = True


def _run_job(job: Job) -> VariantResult:
    import torch

    torch.set_num_threads(1)
    return run_variant(job.name, job.cfg, job.dense_stride, job.video_ap)


def _steps_done(out: Path) -> int:
    path = out / "metrics.jsonl"
    if not path.is_file():
        return 0
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return int(json.loads(lines[-1])["step"]) if lines else 0


def run_jobs(jobs: list[Job], workers: int = 2, progress: bool = True) -> list[VariantResult]:
    """Results of ``jobs`` in order. ``workers = 1`` runs them here, one after the other."""
    for job in jobs:  # a re-run must not resume from (or count) an older run's logs
        for name in ("metrics.jsonl", "checkpoint_last.pt"):
            (Path(job.cfg.runtime.out_dir) / name).unlink(missing_ok=True)
    if workers <= 1:  # here, with torch's default threads
        return [run_variant(j.name, j.cfg, j.dense_stride, j.video_ap) for j in jobs]
    total = sum(j.cfg.solver.max_steps for j in jobs)
    ctx = mp.get_context("spawn")  # no fork: the parent may hold OpenMP / OpenCV thread pools
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures: list[Future] = [pool.submit(_run_job, j) for j in jobs]
        bar = tqdm(total=total, desc="training " + ", ".join(j.name for j in jobs), disable=not progress,
                   unit="step", dynamic_ncols=True)
        while not all(f.done() for f in futures):
            done = sum(min(_steps_done(Path(j.cfg.runtime.out_dir)), j.cfg.solver.max_steps) for j in jobs)
            bar.update(done - bar.n)
            time.sleep(1.0)
        bar.update(total - bar.n)
        bar.close()
        return [f.result() for f in futures]
