"""``acrn proposals VIDEO_DIR|VIDEO|DATASET --checkpoint C --out FILE``: person boxes for every key frame.

A dataset folder (one with ``meta.json`` or ``annotations/``): its key frames of ``--split``. A video
or a folder of videos: key frames every ``--every`` seconds (timestamps in the file are seconds).
``FILE`` ending in ``.csv``: AVA detection format with action ``-1`` and the person score last;
``.pkl``: ``{"video,%04d": float32 [n, 5] x1, y1, x2, y2, score}`` (normalised boxes).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

VIDEO_EXTS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("proposals", help="write person proposals for every key frame (AVA formats)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", metavar="VIDEO_DIR|VIDEO|DATASET")
    p.add_argument("--checkpoint", required=True, help="checkpoint written by `acrn train` (model.actors=rpn)")
    p.add_argument("--out", required=True, help="proposals file: .csv or .pkl")
    p.add_argument("--split", default="val", choices=("train", "val", "test"), help="dataset split")
    p.add_argument("--every", type=float, default=1.0, help="seconds between key frames of plain videos")
    p.add_argument("--max-per-frame", type=int, default=10, help="keep at most this many boxes per key frame")
    p.add_argument("--min-score", type=float, default=0.0, help="drop boxes with a lower person score")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(func=run)


def _source_dataset(args: argparse.Namespace, cfg, extra: dict):
    from acrn.config import apply_overrides
    from acrn.data import build_dataset
    from acrn.engine.infer import video_dataset
    from acrn.errors import InputError

    src = Path(args.source)
    if src.is_dir() and ((src / "meta.json").is_file() or (src / "annotations").is_dir()):
        apply_overrides(cfg, [f"data.root={src}"])
        return build_dataset(cfg, args.split, train=False)
    if args.every != int(args.every):
        raise InputError(f"--every {args.every}: proposals files key frames by whole seconds; use an integer")
    videos = [src] if src.is_file() else sorted(p for p in src.glob("*") if p.suffix.lower() in VIDEO_EXTS)
    if not videos:
        raise InputError(f"{src}: no videos ({', '.join(VIDEO_EXTS)}) and not a dataset folder")
    return video_dataset(cfg, videos, args.every, extra["class_ids"], extra["class_names"])


def run(args: argparse.Namespace) -> int:

    from acrn.data import collate
    from acrn.engine.distributed import init_distributed, teardown
    from acrn.engine.infer import load_detector, predict, write_proposals
    from acrn.engine.proposals import ActorProposals, ProposalPostProcess
    from acrn.errors import InputError

    if not args.out.endswith((".csv", ".pkl")):
        raise InputError(f"--out {args.out}: must end in .csv or .pkl")
    info = init_distributed(args.device)
    with teardown():
        cfg, model, _, extra = load_detector(args.checkpoint, args.overrides, info.device)
        dataset = _source_dataset(args, cfg, extra)
        dets = predict(ActorProposals(model), ProposalPostProcess(args.max_per_frame, args.min_score), dataset,
                       collate, device=info.device, info=info, progress=True, desc="proposals")
        if info.is_main:
            n = write_proposals(args.out, dets)
            print(json.dumps({"keyframes": len(dets), "boxes": n, "out": args.out}))
    return 0
