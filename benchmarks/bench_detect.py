"""``acrn detect`` end to end on real footage: a 10 s 640x360 video, stage by stage. Prints JSON.

The video is ``../shared/videos/demo.mp4`` (real people, 28 fps, 280 frames) resized to 640x360 and
re-encoded (H.264) into a temporary folder. The action model is the demo recipe's ACRN
(``src/acrn/demo/recipe.yaml``): ``--checkpoint`` a trained one (``runs/demo/.../checkpoint_last.pt``), or
by default the same architecture with random weights (the same compute). Each configuration runs
``--repeats`` times in this process through ``acrn.cli.main``; figures are medians. The baseline in
the same run is a plain sequential PyAV decode of the same file (the floor under any detector), and
the target is <= 30 s end to end on 2 cores.

    python benchmarks/bench_detect.py --repeats 3
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def make_video(dst: Path, size: tuple[int, int] = (640, 360)) -> Path:
    """demo.mp4 resized to ``size`` (w, h), H.264, same frame rate."""
    import av
    import cv2

    src = SHARED / "videos" / "demo.mp4"
    if not src.is_file():
        sys.exit(f"{src}: the real test video is absent")
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        st = out.add_stream("libx264", rate=vin.average_rate)
        st.width, st.height, st.pix_fmt = size[0], size[1], "yuv420p"
        for f in inp.decode(vin):
            img = cv2.resize(f.to_ndarray(format="rgb24"), size, interpolation=cv2.INTER_LINEAR)
            for p in st.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in st.encode():
            out.mux(p)
    return dst


def demo_checkpoint(dst: Path) -> Path:
    """The demo recipe's ACRN with random weights, saved as an acrn checkpoint."""
    from acrn.config import load_config, to_dict
    from acrn.engine.checkpoint import make_checkpoint, save_checkpoint
    from acrn.models import build_model

    cfg = load_config(str(ROOT / "src" / "acrn" / "demo" / "recipe.yaml"), ["runtime.device=cpu"])
    torch.manual_seed(0)
    model, _, _ = build_model(cfg)
    names = ["stand", "walk", "run", "jump", "wave", "catch", "throw", "give", "receive"]
    payload = make_checkpoint(step=0, model_state=model.state_dict(), config=to_dict(cfg),
                              extra={"class_ids": list(range(1, 10)), "class_names": names})
    return save_checkpoint(dst, payload)


CPU: list[float] = []  # CPU seconds of each run_detect call (less disturbed than wall time on a shared machine)


def run_detect(argv: list[str]) -> tuple[float, dict]:
    from acrn.cli.main import main

    buf = io.StringIO()
    t, c = time.perf_counter(), time.process_time()
    with redirect_stdout(buf):
        rc = main(argv)
    wall = time.perf_counter() - t
    CPU.append(time.process_time() - c)
    if rc != 0:
        sys.exit(f"acrn {' '.join(argv)} failed with exit code {rc}")
    summary = json.loads([ln for ln in buf.getvalue().splitlines() if ln.startswith("{")][-1])
    return wall, summary["videos"][0]


def decode_only(video: Path) -> float:
    import av

    t = time.perf_counter()
    with av.open(str(video)) as c:
        for f in c.decode(video=0):
            f.to_ndarray(format="rgb24")
    return time.perf_counter() - t


def median_stages(runs: list[dict]) -> dict:
    keys = sorted({k for r in runs for k in r["seconds"]})
    return {k: round(statistics.median(r["seconds"].get(k, 0.0) for r in runs), 3) for k in keys}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--checkpoint", default="", help="a trained demo checkpoint (default: random weights)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="acrn-bench-detect-"))
    video = make_video(tmp / "demo640.mp4")
    ckpt = args.checkpoint or str(demo_checkpoint(tmp / "demo_acrn.pt"))
    from acrn import hub

    if (SHARED / "models").is_dir():
        hub.seed(SHARED / "models")
    configs = {
        "persons_tracks": ["detect", str(video), "--out", str(tmp / "p")],
        "full": ["detect", str(video), "--checkpoint", ckpt, "--out", str(tmp / "f")],
        "full_no_render": ["detect", str(video), "--checkpoint", ckpt, "--out", str(tmp / "n"), "--no-render"],
    }
    result = {"video": "demo.mp4 resized to 640x360, 280 frames at 28 fps (10 s)", "threads": args.threads,
              "checkpoint": args.checkpoint or "demo recipe ACRN, random weights", "repeats": args.repeats}
    base = [decode_only(video) for _ in range(args.repeats)]
    result["baseline_decode_s"] = round(statistics.median(base), 3)
    for name, argv in configs.items():
        walls, runs = [], []
        CPU.clear()
        for _ in range(args.repeats):
            wall, summary = run_detect(argv)
            walls.append(wall)
            runs.append(summary)
        result[name] = {"wall_s": round(statistics.median(walls), 3), "cpu_s": round(statistics.median(CPU), 3),
                        "stages_s": median_stages(runs),
                        "over_decode": round(statistics.median(walls) / result["baseline_decode_s"], 2),
                        "keyframes": runs[0]["keyframes"], "tracks": runs[0]["tracks"],
                        "person_boxes": runs[0]["person_boxes"], "actors": runs[0]["actors"]}
    result["target_full_s"] = 30.0
    result["meets_target"] = bool(result["full"]["wall_s"] <= 30.0)
    print(json.dumps(result, indent=1, default=lambda o: float(np.asarray(o))))


if __name__ == "__main__":
    main()
