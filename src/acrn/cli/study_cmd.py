"""``acrn study relations``: ACRN against the Base-Model in the paper's regime, with intervals.

Generates (or reuses) the ``relational`` benchmark and the ``pretrain`` set, pretrains a Base-Model on
actor-only labels (cached under --cache and reused), fine-tunes Base-Model, Resize+Concat, Santoro RN
and ACRN from that one checkpoint for every seed (paired), plus the crop-only control and Table 1b's
clip lengths, and writes DIR/report.{html,md} and DIR/results.json. Started again, it resumes:
finished runs are read back, not redone.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _ints(text: str) -> list[int]:
    from acrn.errors import InputError

    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"expected comma-separated integers, got {text!r}") from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("study", help="a powered, paired study: does the relation head help (issue #17)?",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("study", choices=("relations",), help="the study to run")
    p.add_argument("--out", type=Path, default=Path("runs/study"), help="report folder (default: runs/study)")
    p.add_argument("--data", type=Path, default=Path("data/synth-relational"), help="the relational benchmark")
    p.add_argument("--pretrain-data", type=Path, default=Path("data/synth-pretrain"), help="the pretraining set")
    p.add_argument("--cache", type=Path, default=Path("runs/pretrain"), help="pretrained checkpoints (reused)")
    p.add_argument("--pretrained", type=Path, default=None,
                   help="start every run from this acrn Base-Model checkpoint instead of the pretraining stage")
    p.add_argument("--seeds", type=int, default=5, help="paired seeds (default: 5)")
    p.add_argument("--side-seeds", type=int, default=3,
                   help="seeds of Table 1a's other heads, the crop-only control and Table 1b (default: 3; the "
                        "Base-Model / ACRN comparison always runs every seed)")
    p.add_argument("--steps", type=int, default=None, help="fine-tuning steps per run (default: 600)")
    p.add_argument("--frames", type=int, default=8, help="input frames of the main comparison (default: 8)")
    p.add_argument("--other-frames", type=_ints, default=[1], metavar="T,T",
                   help="Table 1b clip lengths besides --frames (default: 1; '' for none)")
    p.add_argument("--no-crop-only", action="store_true", help="skip the crop-only control")
    p.add_argument("--videos", type=int, default=None, help="videos of both synthetic sets (default: the presets')")
    p.add_argument("--heads", default="none,resize_concat,santoro,acrn",
                   help="model.head values of Table 1a (default: none,resize_concat,santoro,acrn)")
    p.add_argument("--pretrain-set", dest="pretrain_overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value of the pretraining run (repeatable)")
    p.add_argument("--synth-set", dest="synth_knobs", action="append", default=[], metavar="KNOB=VALUE",
                   help="a knob of both synthetic sets, e.g. width=448 (repeatable; see acrn synth)")
    p.add_argument("--workers", type=int, default=2, help="runs in parallel, one torch thread each (default: 2)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value of every fine-tuning run (repeatable)")
    p.set_defaults(func=run)


def _knobs(items: list[str]) -> dict:
    """``--synth-set`` values: KNOB=VALUE with a known knob; numbers as numbers."""
    import yaml

    from acrn.errors import InputError
    from acrn.synth.presets import KNOBS

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in KNOBS:
            raise InputError(f"--synth-set {item!r}: expected KNOB=VALUE with KNOB one of {', '.join(KNOBS)}")
        out[key] = yaml.safe_load(value)
    return out


def run(args: argparse.Namespace) -> int:
    from acrn.errors import InputError
    from acrn.study.jobs import HEADS
    from acrn.study.relations import StudyOptions, run_study

    heads = [h for h in args.heads.split(",") if h]
    if not heads or "none" not in heads or any(h not in HEADS for h in heads):
        raise InputError(f"--heads: expected a comma-separated subset of {', '.join(HEADS)} with 'none' "
                         f"(the Base-Model every head is compared with), got {args.heads!r}")
    if args.seeds < 2:
        raise InputError(f"--seeds must be >= 2 (a paired interval needs two seeds), got {args.seeds}")
    opts = StudyOptions(out=args.out, data=args.data, pretrain_data=args.pretrain_data, cache=args.cache,
                        pretrained=args.pretrained, seeds=list(range(args.seeds)), frames=args.frames,
                        other_frames=args.other_frames, crop_only=not args.no_crop_only, workers=args.workers,
                        overrides=args.overrides, pretrain_overrides=args.pretrain_overrides, videos=args.videos,
                        heads=heads, side_seeds=min(args.side_seeds, args.seeds),
                        synth_knobs=_knobs(args.synth_knobs))
    if args.steps is not None:
        opts.steps = args.steps
    res = run_study(opts)
    print(json.dumps({"report": str(args.out / "report.html"),
                      "paired": {k: None if v is None else {x: v[x] for x in ("mean", "t_interval", "sd")}
                                 for k, v in res["paired"].items()},
                      "goals": [{"goal": g["goal"], "met": g["met"]} for g in res["goals"]], **res["timing"]},
                     indent=1))
    return 0
