"""``acrn proposals VIDEO_DIR|VIDEO|DATASET --out FILE [--checkpoint C]``: person boxes for every key frame.

The person source is the one of ``acrn detect``: the person detector (``--persons fastestdet|hog``, the
default) or, with ``--checkpoint``, that detector's own actor RPN. A dataset folder (one with
``meta.json`` or ``annotations/``): its key frames of ``--split``. A video or a folder of videos: key
frames every ``--every`` seconds (timestamps in the file are whole seconds). ``FILE`` ending in ``.csv``:
AVA detection format with action ``-1`` and the person score last; ``.pkl``: ``{"video,%04d": float32
[n, 5] x1, y1, x2, y2, score}`` (normalised boxes), the format other toolkits read as proposals.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from acrn.persons import DETECTORS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("proposals", help="write person proposals for every key frame (AVA formats)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", metavar="VIDEO_DIR|VIDEO|DATASET")
    p.add_argument("--out", required=True, help="proposals file: .csv or .pkl")
    p.add_argument("--checkpoint", default="", help="use this detector's actor RPN (model.actors=rpn) instead")
    p.add_argument("--persons", default="fastestdet", choices=DETECTORS, help="person detector (default fastestdet)")
    p.add_argument("--person-weights", default="", help="FastestDet state dict to use instead of the registered one")
    p.add_argument("--split", default="val", choices=("train", "val", "test"), help="dataset split")
    p.add_argument("--every", type=float, default=1.0, help="seconds between key frames of plain videos")
    p.add_argument("--max-per-frame", type=int, default=10, help="keep at most this many boxes per key frame")
    p.add_argument("--min-score", type=float, default=None, help="drop boxes with a lower person score")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(func=run)


def _is_dataset(src: Path) -> bool:
    return src.is_dir() and ((src / "meta.json").is_file() or (src / "annotations").is_dir())


def _source_dataset(args: argparse.Namespace, cfg, extra: dict):
    """Key frames as a test-time dataset: the dataset's split, or every ``--every`` s of plain videos."""
    from acrn.config import apply_overrides
    from acrn.data import build_dataset
    from acrn.detect.decode import expand_videos
    from acrn.engine.infer import video_dataset

    src = Path(args.source)
    if _is_dataset(src):
        apply_overrides(cfg, [f"data.root={src}"])
        return build_dataset(cfg, args.split, train=False)
    return video_dataset(cfg, expand_videos([src]), args.every, extra["class_ids"], extra["class_names"])


def _rpn_proposals(args: argparse.Namespace, info) -> list:
    from acrn.data import collate
    from acrn.engine.infer import load_detector, predict
    from acrn.engine.proposals import ActorProposals, ProposalPostProcess

    cfg, model, _, extra = load_detector(args.checkpoint, args.overrides, info.device)
    dataset = _source_dataset(args, cfg, extra)
    min_score = 0.0 if args.min_score is None else args.min_score
    return predict(ActorProposals(model), ProposalPostProcess(args.max_per_frame, min_score), dataset,
                   collate, device=info.device, info=info, progress=True, desc="proposals")


def _detector_proposals(args: argparse.Namespace) -> list:
    """The person detector on every key frame (the frame itself, not a clip)."""
    import torch

    from acrn.config import load_config
    from acrn.persons import build_person_detector
    from acrn.structures import Detections

    detector = build_person_detector(args.persons, args.min_score, args.max_per_frame, args.person_weights or None)
    cfg = load_config(None, args.overrides)
    ds = _source_dataset(args, cfg, {"class_ids": [1], "class_names": ["person"]})
    parts = getattr(ds, "datasets", [ds])  # video_dataset: one ClipDataset per video
    dets = []
    for part in parts:
        for rec in part.records:
            src = part.sources.open(rec.video)
            key = part.sources.key_frame(rec, src)
            frame = src.read([key], required=key)[0]
            boxes, scores = detector([frame])[0]
            meta = {"video": rec.video, "timestamp": rec.timestamp, "orig_size": tuple(frame.shape[:2])}
            dets.append(Detections(boxes, scores[:, None], scores, meta) if len(boxes) else
                        Detections(torch.zeros(0, 4), torch.zeros(0, 1), torch.zeros(0), meta))
    return dets


def run(args: argparse.Namespace) -> int:
    from acrn.engine.distributed import init_distributed, teardown
    from acrn.engine.infer import write_proposals
    from acrn.errors import InputError

    if not args.out.endswith((".csv", ".pkl")):
        raise InputError(f"--out {args.out}: must end in .csv or .pkl")
    if not _is_dataset(Path(args.source)) and args.every != int(args.every):
        raise InputError(f"--every {args.every}: proposals files key frames by whole seconds; use an integer")
    if not args.checkpoint:
        dets = _detector_proposals(args)
        n = write_proposals(args.out, dets)
        print(json.dumps({"keyframes": len(dets), "boxes": n, "out": args.out, "persons": args.persons}))
        return 0
    info = init_distributed(args.device)
    with teardown():
        dets = _rpn_proposals(args, info)
        if info.is_main:
            n = write_proposals(args.out, dets)
            print(json.dumps({"keyframes": len(dets), "boxes": n, "out": args.out, "persons": "rpn"}))
    return 0
