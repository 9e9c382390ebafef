"""``acrn demo [--out DIR]``: the paper's story on the synthetic benchmark, measured, on a laptop CPU.

Generates (or reuses) the `demo` synthetic set, trains the Base-Model and ACRN, evaluates frame-AP
(AVA protocol), video-AP (ACT protocol after linking) and the pointing game of ACRN's relation heatmaps,
and writes DIR/report.html (self-contained), DIR/report.md and DIR/results.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from acrn.synth.presets import PRESETS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="train Base-Model and ACRN on the synthetic benchmark and write a report",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="report folder (default: runs/demo)")
    p.add_argument("--data", type=Path, default=Path("data/synth-demo"),
                   help="where the synthetic set is generated or reused (default: data/synth-demo)")
    p.add_argument("--seeds", type=int, default=1, help="training seeds per model (default: 1)")
    p.add_argument("--steps", type=int, default=None, help="training steps per model (default: the recipe's)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value of the demo recipe for both models (repeatable)")
    p.add_argument("--preset", default="demo", choices=tuple(PRESETS),
                   help="synthetic preset (default: demo; wide: see the README; tiny is for smoke tests)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from acrn.demo.demo import DemoOptions, run_demo
    from acrn.errors import InputError

    if args.seeds < 1:
        raise InputError(f"--seeds must be >= 1, got {args.seeds}")
    opts = DemoOptions(out=args.out, data=args.data, seeds=list(range(args.seeds)), steps=args.steps,
                       preset=args.preset, progress=not args.no_progress, overrides=args.overrides)
    results = run_demo(opts)
    m = results["models"]
    print(json.dumps({"report": str(args.out / "report.html"),
                      "frame_mAP": {k: v["frame_mAP"] for k, v in m.items()},
                      "video_mAP@0.5": {k: v["video_mAP"].get("0.5") for k, v in m.items()},
                      "pointing_hit_rate": m["ACRN"].get("pointing", {}).get("hit_rate"),
                      "gain_frame_mAP": results["gain_frame_mAP"], **results["timing"]}, indent=1))
    return 0
