"""``acrn evaluate run CHECKPOINT --data ROOT --out DIR``: run a checkpoint over a split and score it.

Writes ``DIR/detections.csv`` (AVA detection format, so any official tool can re-score it),
``DIR/metrics.json`` (frame-AP, and video-AP with tube linking for JHMDB-style data), ``DIR/per_class.csv``,
``DIR/per_class.md`` and ``DIR/per_class_ap.png``. ``torchrun`` shards the clips across processes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DATASETS = ("synthetic", "ava", "jhmdb", "ucf24", "custom")


def register(esub: argparse._SubParsersAction) -> None:
    """Add the ``run`` action to ``acrn evaluate`` (called from :mod:`acrn.cli.evaluate_cmd`)."""
    p = esub.add_parser("run", help="run a checkpoint over a dataset split and report frame-AP / video-AP",
                        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="checkpoint written by `acrn train`")
    p.add_argument("--data", required=True, help="dataset root folder (data.root)")
    p.add_argument("--dataset", choices=DATASETS, help="dataset layout (default: the checkpoint's)")
    p.add_argument("--split", default="val", choices=("train", "val", "test"))
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--limit", type=int, default=0, help="evaluate only the first N key frames (0 = all)")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--device", default="auto", choices=("cpu", "cuda", "auto"))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value of the checkpoint's config (e.g. eval.protocol=2019)")
    p.set_defaults(func=run)


def per_class_rows(metrics: dict) -> list[tuple[str, str, float | None, int]]:
    """``(id, name, AP, num_gt)`` per class from the frame-AP result."""
    frame = metrics["frame"]
    return [(cid, frame.get("names", {}).get(cid, ""), ap, frame.get("num_gt", {}).get(cid, 0))
            for cid, ap in frame["per_class"].items()]


def write_tables(out: Path, metrics: dict) -> None:
    from acrn.cli.common import atomic_write_text

    rows = per_class_rows(metrics)
    csv = "class_id,name,ap,num_gt\n" + "".join(
        f"{c},{n},{'' if a is None else f'{a:.6f}'},{g}\n" for c, n, a, g in rows)
    atomic_write_text(out / "per_class.csv", csv)
    md = ["| id | class | frame-AP (%) | GT boxes |", "|---:|---|---:|---:|"]
    md += [f"| {c} | {n} | {'n/a' if a is None else f'{100 * a:.1f}'} | {g} |" for c, n, a, g in rows]
    head = f"frame-AP@{metrics['frame'].get('iou', 0.5)}: " + (
        "n/a" if metrics.get("frame_ap") is None else f"{100 * metrics['frame_ap']:.2f}%")
    for k, v in metrics.items():
        if k.startswith("video_ap") and isinstance(v, (int, float)):
            head += f"; {k}: {100 * v:.2f}%"
    atomic_write_text(out / "per_class.md", head + "\n\n" + "\n".join(md) + "\n")
    plot_per_class(rows, out / "per_class_ap.png")


def plot_per_class(rows: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted((r for r in rows if r[2] is not None), key=lambda r: -r[2])
    fig, ax = plt.subplots(figsize=(max(5.0, 0.45 * len(rows) + 2), 3.4))
    ax.bar(range(len(rows)), [100 * r[2] for r in rows], color="#d62728")
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([r[1] or r[0] for r in rows], rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("frame-AP (%)")
    ax.set_ylim(0, 105)
    ax.grid(axis="y", alpha=0.3)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)


def run(args: argparse.Namespace) -> int:

    from acrn.cli.common import atomic_write_text
    from acrn.data import build_dataset, collate
    from acrn.engine.distributed import init_distributed, teardown
    from acrn.engine.evaluate import score_detections
    from acrn.engine.infer import class_columns, load_detector, predict, write_detections_csv

    overrides = [f"data.root={args.data}"] + ([f"data.dataset={args.dataset}"] if args.dataset else [])
    info = init_distributed(args.device)
    with teardown():
        cfg, model, postprocess, extra = load_detector(args.checkpoint, overrides + args.overrides, info.device)
        dataset = build_dataset(cfg, args.split, train=False)
        # score columns follow the dataset's class ids (checked before any inference)
        columns = class_columns(extra["class_ids"], dataset.class_ids, extra["class_ids_stored"])
        dets = predict(model, postprocess, dataset, collate, device=info.device, info=info,
                       batch_size=args.batch_size, limit=args.limit, amp=cfg.runtime.amp, progress=True,
                       desc=f"evaluate {args.split}", columns=columns)
        if info.is_main:
            out = Path(args.out)
            rows = write_detections_csv(out / "detections.csv", dets, list(dataset.class_ids))
            metrics = score_detections(cfg, dets, dataset)
            metrics.update(checkpoint=str(args.checkpoint), step=extra["step"], split=args.split,
                           keyframes=len(dets), detection_rows=rows)
            atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=1))
            write_tables(out, metrics)
            print(json.dumps({k: v for k, v in metrics.items() if not isinstance(v, (dict, list))}))
    return 0
