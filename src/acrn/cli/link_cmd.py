"""``acrn link``: link a frame-detections CSV into action tubes (tubes JSON for ``acrn evaluate act``)."""

from __future__ import annotations

import sys


def register(subparsers) -> None:
    p = subparsers.add_parser("link", help="link frame detections into action tubes (Viterbi)",
                              description="Link per-frame detections (video,frame,label,score,x1,y1,x2,y2 CSV) "
                                          "into tubes per video and label; writes the tubes JSON format.")
    p.add_argument("dets", help="frame detections CSV")
    p.add_argument("-o", "--out", required=True, help="output tubes JSON (a compact .npz if the name ends in .npz)")
    p.add_argument("--iou-weight", type=float, default=1.0, help="weight of the IoU term in the energy")
    p.add_argument("--top-k", type=int, default=None, help="keep the k best detections per frame and label")
    p.add_argument("--max-tubes", type=int, default=None, help="at most this many tubes per video and label")
    p.add_argument("--trim", type=float, default=None, metavar="SCORE",
                   help="temporal trimming: keep the span maximising sum(score - SCORE)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from acrn.errors import InputError
    from acrn.eval.act_io import read_frame_dets, write_tubes
    from acrn.eval.tubes import link_tubes

    if args.top_k is not None and args.top_k < 1 or args.max_tubes is not None and args.max_tubes < 1:
        raise InputError("--top-k and --max-tubes must be >= 1")
    d = read_frame_dets(args.dets)
    linked = link_tubes(d.video, d.frame, d.label, d.score, d.boxes, iou_weight=args.iou_weight,
                        max_tubes=args.max_tubes, trim=args.trim, top_k=args.top_k)
    out = {d.names[v]: tubes for v, tubes in sorted(linked.items())}
    write_tubes(args.out, out)
    n = sum(len(t) for t in out.values())
    print(f"linked {n} tubes in {len(out)} videos -> {args.out}", file=sys.stderr)
    return 0
