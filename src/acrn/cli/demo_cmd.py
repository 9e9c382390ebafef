"""``acrn demo [--out DIR]``: the short form of ``acrn study relations``, measured, on a laptop CPU.

Generates (or reuses) the ``relational`` benchmark and the ``pretrain`` set, pretrains a Base-Model on
actor-only labels (cached in --cache, shared with ``acrn study``), fine-tunes the Base-Model and ACRN
from it for two paired seeds, evaluates frame-AP (AVA protocol), video-AP (ACT protocol after linking)
and the pointing game of ACRN's relation heatmaps, and writes DIR/report.html (self-contained),
DIR/report.md and DIR/results.json, with the paired difference and its 95 % interval.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="pretrain, fine-tune Base-Model and ACRN on the relational benchmark, report",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="report folder (default: runs/demo)")
    p.add_argument("--data", type=Path, default=Path("data/synth-relational"),
                   help="where the relational benchmark is generated or reused (default: data/synth-relational)")
    p.add_argument("--pretrain-data", type=Path, default=Path("data/synth-pretrain"),
                   help="where the pretraining set is generated or reused (default: data/synth-pretrain)")
    p.add_argument("--cache", type=Path, default=Path("runs/pretrain"), help="pretrained checkpoints (reused)")
    p.add_argument("--seeds", type=int, default=2, help="paired seeds (default: 2)")
    p.add_argument("--steps", type=int, default=None, help="fine-tuning steps per run (default: 400)")
    p.add_argument("--videos", type=int, default=None, help="videos of both synthetic sets (default: the presets')")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value of both fine-tuning runs (repeatable)")
    p.add_argument("--pretrain-set", dest="pretrain_overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value of the pretraining run (repeatable)")
    p.add_argument("--workers", type=int, default=2, help="runs in parallel, one torch thread each (default: 2)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from acrn.demo.demo import DemoOptions, run_demo
    from acrn.errors import InputError

    if args.seeds < 2:
        raise InputError(f"--seeds must be >= 2 (the paired interval needs two seeds), got {args.seeds}")
    opts = DemoOptions(out=args.out, data=args.data, pretrain_data=args.pretrain_data, cache=args.cache,
                       seeds=list(range(args.seeds)), steps=args.steps, videos=args.videos,
                       progress=not args.no_progress, workers=args.workers, overrides=args.overrides,
                       pretrain_overrides=args.pretrain_overrides)
    res = run_demo(opts)
    heads = res["heads"]
    print(json.dumps({"report": str(args.out / "report.html"),
                      "frame_mAP": {k: v["frame_mAP"]["mean"] for k, v in heads.items()},
                      "video_mAP@0.5": {k: v["video_mAP"]["mean"] for k, v in heads.items()},
                      "paired_frame_mAP": {k: res["paired"]["frame_mAP"][k] for k in ("mean", "t_interval")},
                      "pointing_hit_rate": (res.get("pointing") or {}).get("hit_rate"), **res["timing"]}, indent=1))
    return 0
