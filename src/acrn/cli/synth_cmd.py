"""``acrn synth --out DIR [--preset tiny|demo|wide|full|relational] [--videos N] [--seed S] [knobs]
[--preview PNG]``."""

from __future__ import annotations

import argparse
import json
import sys
import time

from acrn.synth.presets import PRESETS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="generate the synthetic relational benchmark (AVA + JHMDB formats)",
                       description="Render procedural videos whose relational actions (catch/throw, give/receive, "
                                   "follow/lead) are decided by an entity outside the actor's box, and write them "
                                   "in the AVA layout and as a JHMDB-style gt.pkl. An existing finished dataset "
                                   "with the same settings is reused.")
    p.add_argument("--out", required=True, metavar="DIR", help="dataset folder to create")
    p.add_argument("--preset", default="tiny", choices=tuple(PRESETS),
                   help="size preset: tiny (tests, seconds), demo (CPU training, < 60 s), wide (the demo's "
                        "videos in a 224x112 frame), full (GPU), relational (issue #17: every video has a pass and a "
                        "hand-over, so only the relation decides a relational label)")
    p.add_argument("--videos", type=int, help="number of videos (default: the preset's)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same files)")
    knobs = p.add_argument_group("difficulty knobs (default: the preset's)")
    knobs.add_argument("--distractors", type=int, help="objects moving on their own per video")
    knobs.add_argument("--object-scale", type=float, help="size multiplier of balls and packages")
    knobs.add_argument("--clutter", type=int, help="static background shapes per video")
    knobs.add_argument("--noise", type=float, help="per-pixel Gaussian noise std, fraction of 255")
    knobs.add_argument("--jitter", type=float, help="camera jitter amplitude, percent of the frame width")
    knobs.add_argument("--exclude-prob", type=float, help="probability that a key frame is corrupted and excluded")
    knobs.add_argument("--seconds", type=int, help="video length in seconds")
    knobs.add_argument("--fps", type=int, help="frames per second")
    knobs.add_argument("--size", type=int, metavar="PX", help="frame width and height (even)")
    knobs.add_argument("--classes", help="comma-separated class subset (relational twins together)")
    p.add_argument("--workers", type=int, help="worker processes (default 2; 0 = in this process)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset with other settings")
    p.add_argument("--preview", metavar="PNG", help="also write a contact sheet of a few clips")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from acrn.synth import generate, read_meta
    from acrn.synth.preview import contact_sheet

    knobs = {k: getattr(args, k) for k in ("distractors", "object_scale", "clutter", "noise", "jitter",
                                           "exclude_prob", "seconds", "fps")}
    if args.size is not None:
        knobs["width"] = knobs["height"] = args.size
    if args.classes:
        knobs["classes"] = tuple(c.strip() for c in args.classes.split(",") if c.strip())
    t0 = time.perf_counter()
    root = generate(args.out, preset=args.preset, seed=args.seed, videos=args.videos, workers=args.workers,
                    overwrite=args.overwrite, log=lambda m: print(f"acrn synth: {m}", file=sys.stderr), **knobs)
    meta = read_meta(root)
    counts = {s: {k: c[k] for k in ("videos", "actor_keyframes", "rows", "excluded")}
              for s, c in meta["counts"].items()}
    print(json.dumps({"out": str(root), "preset": meta["preset"], "seed": meta["seed"],
                      "classes": [c["name"] for c in meta["classes"]], "counts": counts,
                      "seconds": round(time.perf_counter() - t0, 2)}))
    if "relational_stats" in meta:  # the issue #17 principles, measured by the generator
        print(json.dumps({"relational_stats": meta["relational_stats"]}, indent=1))
    if args.preview:
        print(f"preview: {contact_sheet(root, args.preview)}", file=sys.stderr)
    return 0
