"""``acrn detect VIDEO|FOLDER... --out DIR [--checkpoint C]``: persons, tracks and actions in your videos.

Stages (``acrn.detect``): decode -> persons (FastestDet by default, on every ``--person-every``-th frame)
-> tracks (ids stable across frames) -> actions (only with ``--checkpoint``: every tracked person of a
key frame, one key frame every ``--every`` seconds) -> outputs. Per video, in ``DIR``:
``<stem>.tracks.csv`` (person boxes with track ids), ``<stem>.json`` (tracks, key frames, actors, top
labels), ``<stem>.csv`` (AVA detection rows, with a checkpoint) and ``<stem>.mp4`` (boxes, ids, labels and
the relation heatmap of the top action). ``DIR/detections.csv`` merges the AVA rows of all videos.

Person boxes come from the person detector whatever the checkpoint was trained with, unless
``--proposals FILE`` (AVA proposals CSV or pickle keyed by video stem and whole second) or ``--actors rpn``
(the checkpoint's own ResNet + RPN) says otherwise. Under ``torchrun`` the videos are shared out.
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path

from acrn.persons import DETECTORS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("detect", help="persons, tracks and actions in your own videos (CSV, JSON, rendered mp4)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files or folders of videos (mp4, avi, mkv, ...)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--checkpoint", default="", help="action detector (`acrn train`); without it: person tracks only")
    p.add_argument("--every", type=float, default=1.0, help="seconds between key frames (default 1, AVA's 1 Hz)")
    p.add_argument("--persons", default="fastestdet", choices=DETECTORS, help="person detector (default fastestdet)")
    p.add_argument("--person-every", type=int, default=1, metavar="N", help="run it on every N-th frame (default 1)")
    p.add_argument("--person-score", type=float, default=None, help="least person score (default: the detector's)")
    p.add_argument("--max-persons", type=int, default=50, help="at most this many persons per frame")
    p.add_argument("--person-weights", default="", help="FastestDet state dict to use instead of the registered one")
    p.add_argument("--proposals", default="", help="person boxes per key frame from a file instead of the detector")
    p.add_argument("--actors", default="persons", choices=("persons", "rpn"),
                   help="persons: boxes from the person source (default); rpn: the checkpoint's own RPN")
    p.add_argument("--min-track", type=int, default=3, help="fewest detections of a kept track (default 3)")
    p.add_argument("--top-k", type=int, default=3, help="labels per actor in the JSON and the video")
    p.add_argument("--no-render", action="store_true", help="skip the rendered mp4")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value of the checkpoint's config (e.g. data.num_frames=16)")
    p.set_defaults(func=run)


def person_source(args: argparse.Namespace, action_model):
    """Stage 2 bound to its source: ``Video -> PersonFrames``."""
    from acrn.detect import persons as P
    from acrn.errors import InputError

    if args.person_every < 1:
        raise InputError(f"--person-every must be >= 1, got {args.person_every}")
    if args.actors == "rpn":
        if action_model is None:
            raise InputError("--actors rpn needs --checkpoint (a detector trained with model.actors=rpn)")
        return partial(P.rpn_persons, am=action_model, max_persons=args.max_persons)
    if args.proposals:
        from acrn.data.ava import read_proposals

        return partial(P.file_persons, proposals=read_proposals(args.proposals))
    from acrn.persons import build_person_detector

    detector = build_person_detector(args.persons, args.person_score, args.max_persons, args.person_weights or None)
    return partial(P.detect_persons, detector=detector, step=args.person_every)


def run(args: argparse.Namespace) -> int:
    from acrn.cli.common import atomic_write_text
    from acrn.detect import TrackOptions, detect_video
    from acrn.detect.actions import load_action_model
    from acrn.detect.decode import expand_videos, open_video
    from acrn.engine.distributed import barrier, init_distributed, teardown
    from acrn.errors import InputError

    if args.proposals and args.actors == "rpn":
        raise InputError("--proposals and --actors rpn are two person sources: give one")
    videos = expand_videos(args.videos)
    for v in videos:  # every input is checked before any output is written
        open_video(v, args.every).reader.close()
    info = init_distributed(args.device)
    with teardown():
        am = None
        if args.checkpoint:
            fast = ["runtime.channels_last=true"]
            am = load_action_model(args.checkpoint, fast + args.overrides, info.device,
                                   actors="rpn" if args.actors == "rpn" else "file")
        find = person_source(args, am)
        source = "rpn" if args.actors == "rpn" else ("file" if args.proposals else args.persons)
        min_hits = args.min_track if source not in ("rpn", "file") else 1
        out = Path(args.out)
        results = []
        for v in videos[info.rank::info.world_size]:
            results.append(detect_video(v, out, find, every=args.every, action_model=am,
                                        tracking=TrackOptions(min_hits=min_hits), top_k=args.top_k,
                                        render=not args.no_render, extra={"every": args.every, "persons": source}))
        barrier()
        if info.is_main:
            if am is not None:  # the per-video AVA rows (written by every rank) in one file
                merged = "".join((out / f"{v.stem}.csv").read_text() for v in videos)
                atomic_write_text(out / "detections.csv", merged)
            print(json.dumps({"out_dir": str(out), "videos": results} if info.world_size == 1 else
                             {"out_dir": str(out), "videos": [v.stem for v in videos]}))
    return 0
