"""Person recall and precision on real footage: FastestDet and HOG against hand-labelled boxes. JSON.

Ground truth: ``tests/fixtures/persons/demo_mp4_persons.json`` (every person on 24 frames of
``../shared/videos/demo.mp4``, labelled by hand; how is written in the file). Matching at IoU 0.5 with
ignore regions (:mod:`acrn.persons.recall`). Recall is also given per visible-height bin, to say how
small a person the detector still finds, and frames/s of each detector on these frames (2 threads).

    python benchmarks/bench_person_recall.py [--thresholds 0.3 0.4 0.5 0.6]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
FIXTURE = ROOT / "tests" / "fixtures" / "persons" / "demo_mp4_persons.json"
BINS = ((0, 60), (60, 100), (100, 150), (150, 1000))


def load(video: Path) -> tuple[list[int], list, list[dict]]:
    import av

    labels = json.loads(FIXTURE.read_text())
    want = {f["index"]: f for f in labels["frames"]}
    with av.open(str(video)) as c:
        frames = {i: f.to_ndarray(format="rgb24") for i, f in enumerate(c.decode(video=0)) if i in want}
    idx = sorted(want)
    return idx, [frames[i] for i in idx], [want[i] for i in idx]


def score(out: list, truth: list[dict]) -> dict:
    from acrn.persons.recall import match_frame, recall_precision

    matches, heights = [], []
    for (boxes, scores), f in zip(out, truth):
        gt = torch.tensor([p["box"] for p in f["persons"]], dtype=torch.float32).reshape(-1, 4)
        ign = torch.tensor([bool(p["ignore"]) for p in f["persons"]], dtype=torch.bool)
        matches.append(match_frame(boxes, scores, gt, ign))
        heights += [(float(b[3] - b[1]), bool(p["occluded"])) for b, p in zip(gt, f["persons"]) if not p["ignore"]]
    res = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in recall_precision(matches).items()}
    hits = [h for m in matches for h in m.hit]
    by_bin = {}
    for lo, hi in BINS:
        sel = [h for h, (ht, _) in zip(hits, heights) if lo <= ht < hi]
        by_bin[f"{lo}-{hi}px"] = {"persons": len(sel), "recall": round(sum(sel) / len(sel), 4) if sel else None}
    res["recall_by_visible_height"] = by_bin
    for occ in (False, True):
        sel = [h for h, (_, o) in zip(hits, heights) if o == occ]
        res["recall_occluded" if occ else "recall_unoccluded"] = round(sum(sel) / len(sel), 4) if sel else None
    return res


def timed(detector, frames: list) -> tuple[list, float]:
    detector(frames[:2])  # warm-up
    t = time.perf_counter()
    out = detector(frames)
    return out, len(frames) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.3, 0.4, 0.5, 0.6])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    video = SHARED / "videos" / "demo.mp4"
    if not video.is_file() or not (SHARED / "models").is_dir():
        sys.exit(f"{SHARED}: the real video and the FastestDet weights are needed")
    from acrn import hub
    from acrn.persons import build_person_detector

    hub.seed(SHARED / "models")
    idx, frames, truth = load(video)
    res = {"video": "demo.mp4 (340x256)", "frames": len(idx), "iou": 0.5, "threads": args.threads,
           "fastestdet": {}, "hog": {}}
    for t in args.thresholds:
        out, fps = timed(build_person_detector("fastestdet", score_thresh=t), frames)
        res["fastestdet"][f"score>={t}"] = {**score(out, truth), "frames_per_s": round(fps, 1)}
    for t in (0.5, 0.7):
        out, fps = timed(build_person_detector("hog", score_thresh=t), frames)
        res["hog"][f"score>={t}"] = {**score(out, truth), "frames_per_s": round(fps, 1)}
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
