"""``acrn data check ava|jhmdb|ucf24|custom|synthetic --root DIR [--skip-bad] [--decode]``."""

from __future__ import annotations

import argparse
import sys

from acrn.config import apply_overrides, validate
from acrn.data.check import check_dataset, config_for

KINDS = ("ava", "jhmdb", "ucf24", "custom", "synthetic")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="dataset tools")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    ck = dsub.add_parser("check", help="report missing videos/frames, frame counts, fps and bad annotation rows")
    ck.add_argument("kind", choices=KINDS, help="dataset layout")
    ck.add_argument("--root", required=True, help="dataset root folder")
    ck.add_argument("--split", dest="splits", action="append", default=None,
                    help="split to check (repeatable; default: train and val, or train and test for JHMDB/UCF)")
    ck.add_argument("--skip-bad", action="store_true", help="warn about bad rows/samples and count them")
    ck.add_argument("--decode", action="store_true", help="also decode every key-frame clip (slow)")
    ck.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="data config override, e.g. --set data.val_csv=my.csv (repeatable)")
    ck.add_argument("--no-progress", action="store_true", help="no progress bar")
    ck.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    cfg = config_for(args.kind, args.root, args.skip_bad)
    apply_overrides(cfg, args.overrides)
    cfg.data.dataset, cfg.data.root = args.kind, args.root
    validate(cfg)
    splits = tuple(args.splits or (("train", "test") if args.kind in ("jhmdb", "ucf24") else ("train", "val")))
    rep = check_dataset(cfg, splits, decode=args.decode, progress=not args.no_progress and sys.stderr.isatty(),
                        optional_splits=not args.splits)
    for w in rep.warnings:
        print(f"warning: {w}")
    for e in rep.errors:
        print(f"error: {e}")
    skipped = f", {rep.skipped_rows} bad rows skipped" if args.skip_bad else ""
    if args.decode:
        skipped += f", {rep.skipped_samples} samples skipped"
    print(f"{args.kind} {args.root}: {rep.videos} videos, {rep.keyframes} key frames, {len(rep.errors)} errors, "
          f"{len(rep.warnings)} warnings{skipped}")
    return 0 if rep.ok else 1
