"""``acrn ablate --study heads|frames|layers [--seeds 3]``: the paper's Table 1 on the synthetic benchmark.

Each variant is the demo recipe plus its overrides, trained per seed and scored with frame-AP (AVA
protocol) on the test split; DIR/report.html, report.md and results.json hold the table as mean ± std.
Runs on CPU at the demo size; on a GPU server add e.g. --set runtime.device=cuda --set model.width=1.0.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from acrn.synth.presets import PRESETS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ablate", help="the paper's Table 1 ablations on the synthetic benchmark",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--study", required=True, choices=("heads", "frames", "layers"))
    p.add_argument("--seeds", type=int, default=3, help="training seeds per variant (default: 3)")
    p.add_argument("--out", type=Path, default=None, help="report folder (default: runs/ablate-<study>)")
    p.add_argument("--data", type=Path, default=Path("data/synth-demo"), help="synthetic set (generated if absent)")
    p.add_argument("--steps", type=int, default=None, help="training steps per run (default: the recipe's)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value of the demo recipe for every variant (repeatable)")
    p.add_argument("--preset", default="demo", choices=tuple(PRESETS),
                   help="synthetic preset (default: demo; tiny is for smoke tests)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from acrn.demo.ablate import AblateOptions, run_ablation
    from acrn.errors import InputError

    if args.seeds < 1:
        raise InputError(f"--seeds must be >= 1, got {args.seeds}")
    out = args.out or Path(f"runs/ablate-{args.study}")
    res = run_ablation(AblateOptions(study=args.study, out=out, data=args.data, seeds=args.seeds, steps=args.steps,
                                     preset=args.preset, progress=not args.no_progress, overrides=args.overrides))
    print(json.dumps({"report": str(out / "report.html"), "mean_frame_mAP": res["mean"], **res["timing"]}, indent=1))
    return 0
