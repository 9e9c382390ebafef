"""``acrn evaluate ava|act``: official-protocol evaluation of detection files.

The ``run`` action (evaluate a trained checkpoint) is registered by the engine's module at the marked
line in :func:`register`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from acrn.cli.common import atomic_write_text
from acrn.errors import InputError
from acrn.eval.ava import PROTOCOLS


def register(subparsers) -> None:
    p = subparsers.add_parser("evaluate", help="evaluate detections (AVA frame-AP, ACT frame/video-AP)",
                              description="Evaluate detections with the official AVA or ACT protocol.")
    esub = p.add_subparsers(dest="eval_action", metavar="ACTION")
    _register_ava(esub)
    _register_act(esub)
    # Further actions register here (the engine adds: acrn.cli.evaluate_run.register(esub)).
    __import__("acrn.cli.evaluate_run", fromlist=["register"]).register(esub)
    p.set_defaults(func=lambda args: _help(p))


def _help(p: argparse.ArgumentParser) -> int:
    p.print_help()
    return 0


def _register_ava(esub) -> None:
    a = esub.add_parser("ava", help="AVA frame-AP@0.5 (ActivityNet evaluator, 2018/2019/2020 revisions)",
                        description="AVA frame-AP at IoU 0.5, equal to ActivityNet's get_ava_performance.py.")
    a.add_argument("--gt", required=True, help="ground-truth CSV (e.g. ava_val_v2.1.csv)")
    a.add_argument("--det", required=True, help="detections CSV (video,timestamp,x1,y1,x2,y2,action,score)")
    a.add_argument("--labelmap", required=True, help="pbtxt label map (item/id or label/label_id style)")
    a.add_argument("--exclusions", help="excluded-timestamps CSV (2018/2019)")
    a.add_argument("--protocol", default="2018", choices=PROTOCOLS,
                   help="evaluator revision: 2018 (AVA v2.1, default), 2019 (50 rows per keyframe), 2020 (head)")
    _common(a)
    a.set_defaults(func=_run_ava)


def _register_act(esub) -> None:
    a = esub.add_parser("act", help="ACT frame-AP and video-AP (JHMDB-21, UCF101-24)",
                        description="Frame-AP and video-AP with the ACT detector's evaluation protocol.")
    a.add_argument("--gt", required=True, help="ground-truth pickle (JHMDB-GT.pkl style) or JSON")
    a.add_argument("--split", type=int, default=1, help="test split, 1-based (default 1)")
    a.add_argument("--frame-dets", help="frame detections CSV: video,frame,label,score,x1,y1,x2,y2")
    a.add_argument("--tubes", help='tubes: JSON {video: [{"label", "score", "boxes": [[frame,x1,y1,x2,y2]]}]}, '
                   "the .npz that `acrn link -o tubes.npz` writes (same content, read ~4x faster), or a folder "
                   "of ACT's own <video>_tubes.pkl files (as ACT's BuildTubes writes them)")
    a.add_argument("--iou", type=float, default=0.5, help="frame-AP IoU threshold (default 0.5)")
    a.add_argument("--video-iou", nargs="+", default=["0.2", "0.5", "0.75"], metavar="TH",
                   help="video-AP thresholds; '0.5:0.95' adds their mean over 0.5..0.95 (default 0.2 0.5 0.75)")
    _common(a)
    a.set_defaults(func=_run_act)


def _common(a: argparse.ArgumentParser) -> None:
    a.add_argument("--json", metavar="OUT.json", help="write the result dict as JSON")
    a.add_argument("--plot", metavar="OUT.png", help="write a per-class AP bar chart")
    a.add_argument("--quiet", action="store_true", help="print only the mean(s)")


def _check_outputs(args) -> None:
    """Refuse unwritable ``--json``/``--plot`` paths before a long evaluation, with a one-line error."""
    for flag, value in (("--json", args.json), ("--plot", args.plot)):
        if not value:
            continue
        path = Path(value)
        if path.is_dir():
            raise InputError(f"{flag} {value}: is a directory, expected a file path")
        parent = path.parent
        while not parent.exists() and parent != parent.parent:  # missing folders are created on writing
            parent = parent.parent
        if not parent.is_dir():
            raise InputError(f"{flag} {value}: cannot write there ({parent} is not a directory)")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise InputError(f"{flag} {value}: cannot write there (no permission in {parent})")


def _write(flag: str, path: str, write) -> None:
    try:
        write()
    except OSError as e:
        raise InputError(f"{flag} {path}: cannot write ({e.strerror or e})") from None


def _finish(res: dict, args) -> int:
    from acrn.eval.report import format_table, plot_per_class

    for w in res.get("warnings", []):
        print(f"warning: {w}", file=sys.stderr)
    table = format_table(res)
    print("\n".join(table.splitlines()[-5:]) if args.quiet else table)
    if args.json:
        _write("--json", args.json, lambda: atomic_write_text(args.json, json.dumps(res, indent=1) + "\n"))
    if args.plot:
        _write("--plot", args.plot, lambda: plot_per_class(res, args.plot))
    return 0


def _run_ava(args) -> int:
    from acrn.eval.files import evaluate_ava_files

    _check_outputs(args)
    return _finish(evaluate_ava_files(args.gt, args.det, args.labelmap, args.exclusions, args.protocol), args)


def _run_act(args) -> int:
    from acrn.eval.files import evaluate_act_files

    _check_outputs(args)
    res = evaluate_act_files(args.gt, args.split, args.frame_dets, args.tubes, args.iou, args.video_iou)
    return _finish(res, args)
