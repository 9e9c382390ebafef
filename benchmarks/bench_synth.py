"""Generation speed of the synthetic benchmark: videos/s per preset on 2 worker processes, next to the
same videos in one process (the baseline), a per-stage breakdown of one demo video, and the whole demo
preset's wall time (target < 60 s on 2 cores), the same for the issue-#17 relational preset.

    .venv/bin/python benchmarks/bench_synth.py [--repeats 3] [--skip-demo] [--skip-relational]

Prints one JSON object. Medians over repeats; the machine is shared, so compare ratios within a run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from acrn.synth import generate, resolve_preset, writers
from acrn.synth.render import render
from acrn.synth.world import simulate

# videos timed per preset (the full preset is timed on a subset and extrapolated)
SUBSET = {"tiny": 6, "demo": 24, "relational": 24, "full": 12}


def _time_generate(tmp: Path, preset: str, videos: int, workers: int, repeats: int) -> float:
    times = []
    for r in range(repeats):
        out = tmp / f"{preset}-{workers}-{r}"
        t0 = time.perf_counter()
        generate(out, preset, seed=r, videos=videos, workers=workers)
        times.append(time.perf_counter() - t0)
        shutil.rmtree(out)
    return statistics.median(times)


def stage_breakdown(tmp: Path, repeats: int) -> dict:
    """Milliseconds per demo video for each stage, in this process (median over videos)."""
    p = resolve_preset("demo")
    stages = {"simulate": [], "render": [], "mp4": [], "jpeg": []}
    for i in range(max(3, repeats)):
        t0 = time.perf_counter()
        sim = simulate(p, 0, i, "v")
        t1 = time.perf_counter()
        frames = render(sim, p.clutter, p.noise, 0)
        t2 = time.perf_counter()
        writers.write_mp4(tmp / "v.mp4", frames, p.fps)
        t3 = time.perf_counter()
        writers.write_jpegs(tmp / "f", "v", frames, p.jpeg_quality)
        t4 = time.perf_counter()
        for k, v in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            stages[k].append(1000 * v)
    out = {k: round(statistics.median(v), 1) for k, v in stages.items()}
    out["frames_per_video"] = p.seconds * p.fps
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-demo", action="store_true", help="skip the whole-demo timing (~30 s)")
    ap.add_argument("--skip-relational", action="store_true", help="skip the whole-relational timing (~20 s)")
    args = ap.parse_args()
    res: dict = {"cpus": os.cpu_count(), "codec": writers.video_codec(), "presets": {}}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for preset, n in SUBSET.items():
            reps = args.repeats if preset == "tiny" else 1
            one = _time_generate(tmp, preset, n, 0, reps)
            two = _time_generate(tmp, preset, n, 2, reps)
            p = resolve_preset(preset)
            res["presets"][preset] = {
                "size": f"{p.width}x{p.height}", "seconds": p.seconds, "fps": p.fps, "videos_timed": n,
                "videos_per_s_1proc": round(n / one, 2), "videos_per_s_2proc": round(n / two, 2),
                "speedup_2proc": round(one / two, 2),
                "estimated_preset_s_2proc": round(two / n * p.videos, 1), "preset_videos": p.videos,
            }
        res["demo_stage_ms_per_video"] = stage_breakdown(tmp, args.repeats)
        if not args.skip_demo:
            t0 = time.perf_counter()
            generate(tmp / "demo", "demo", seed=0, workers=2)
            res["demo_total_s_2proc"] = round(time.perf_counter() - t0, 2)
            res["demo_target_s"] = 60.0
            res["demo_bytes"] = int(sum(f.stat().st_size for f in (tmp / "demo").rglob("*") if f.is_file()))
        if not args.skip_relational:
            t0 = time.perf_counter()
            generate(tmp / "relational", "relational", seed=0, workers=2)
            res["relational_total_s_2proc"] = round(time.perf_counter() - t0, 2)
            res["relational_target_s"] = 60.0
    res["load_avg_1min"] = round(os.getloadavg()[0], 2)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
