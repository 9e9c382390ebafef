"""``acrn detect``: action detection on a user's own videos.

Per video: key frames every ``every`` seconds (``t = 0, every, 2 every, ...``) -> the detector ->
``<stem>.csv`` (AVA detection rows, one per box and class), ``<stem>.json`` (per key frame: boxes in
pixels, tube id, actor score, top labels with scores) and ``<stem>.mp4``: the video with boxes, top
labels and the relation heatmap of the top action of the most confident actor overlaid (paper
Figures 5-7). Tube ids come from class-agnostic linking of actor boxes across key frames
(:func:`link_actors`). Under torchrun, videos are sharded across ranks; rank 0 merges the CSVs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from acrn.cli.common import atomic_write_text
from acrn.config import Config
from acrn.engine.distributed import DistInfo, barrier
from acrn.engine.infer import PostProcessFn, detection_rows, predict, video_dataset
from acrn.errors import InputError
from acrn.models.postprocess import contrastive_heatmaps
from acrn.ops import box_iou
from acrn.structures import Detections


def link_actors(dets: Sequence[Detections | None], iou_threshold: float = 0.3, max_gap: int = 1) -> list[list[int]]:
    """Tube id of every detection of every key frame (in time order), class-agnostic.

    Greedy, most confident first: a detection joins the live tube whose last box overlaps it most
    (IoU >= ``iou_threshold``), a tube survives ``max_gap`` key frames without a match, anything
    unmatched starts a new tube. Ids are 0, 1, 2, ... in order of appearance.
    """
    ids: list[list[int]] = []
    live: dict[int, tuple[torch.Tensor, int]] = {}  # tube id -> (last box, last key frame)
    next_id = 0
    for k, d in enumerate(dets):
        n = 0 if d is None else len(d)
        ids.append([-1] * n)
        live = {t: v for t, v in live.items() if k - v[1] <= max_gap + 1}
        if not n:
            continue
        tubes = list(live)
        iou = box_iou(d.boxes, torch.stack([live[t][0] for t in tubes])) if tubes else torch.zeros(n, 0)
        taken: set[int] = set()
        for i in torch.argsort(d.actor_scores, descending=True, stable=True).tolist():
            best, best_iou = -1, iou_threshold
            for j, t in enumerate(tubes):
                if t not in taken and float(iou[i, j]) >= best_iou:
                    best, best_iou = t, float(iou[i, j])
            if best < 0:
                best, next_id = next_id, next_id + 1
            taken.add(best)
            ids[k][i] = best
            live[best] = (d.boxes[i], k)
    return ids


def keyframe_json(d: Detections | None, tubes: list[int], class_ids: list[int], class_names: list[str],
                  top_k: int) -> dict:
    """One key frame's detections as JSON-able data (pixel boxes of the original frame)."""
    if d is None:
        return {"detections": [], "skipped": True}
    items = []
    k = min(top_k, d.scores.shape[1])
    for i in range(len(d)):
        top = d.scores[i].topk(k)
        items.append({"box": [round(float(v), 2) for v in d.boxes[i]], "tube": tubes[i],
                      "actor_score": round(float(d.actor_scores[i]), 5),
                      "labels": [{"id": class_ids[c], "name": class_names[c], "score": round(float(s), 5)}
                                 for s, c in zip(top.values.tolist(), top.indices.tolist())]})
    return {"timestamp": d.meta.get("timestamp"), "detections": items}


def _colour(tube: int) -> tuple[int, int, int]:
    rng = np.random.default_rng(tube + 7)
    return tuple(int(v) for v in rng.integers(60, 255, 3))


def render_video(src: Path, dst: Path, dets: Sequence[Detections | None], tubes: list[list[int]], times: list[float],
                 class_names: list[str], top_k: int = 2) -> int:
    """Write ``dst`` (mp4): every frame of ``src`` with the nearest key frame's detections drawn."""
    import av

    from acrn.synth.writers import video_codec
    from acrn.viz.draw import draw_box, overlay_heatmap

    centres = np.asarray(times, np.float64)
    tmp = dst.with_name(f".{dst.stem}.tmp.mp4")
    n = 0
    with av.open(str(src)) as inp, av.open(str(tmp), "w") as out:
        vin = inp.streams.video[0]
        rate = vin.average_rate or vin.guessed_rate
        vout = out.add_stream(video_codec(), rate=rate)
        vout.width, vout.height = (vin.codec_context.width + 1) // 2 * 2, (vin.codec_context.height + 1) // 2 * 2
        vout.pix_fmt = "yuv420p"
        for frame in inp.decode(vin):
            img = np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
            t = n / float(rate)
            if len(centres):
                k = int(np.argmin(np.abs(centres - t)))
                img = draw_keyframe(img, dets[k], tubes[k], class_names, top_k, draw_box, overlay_heatmap)
            pad = np.zeros((vout.height, vout.width, 3), np.uint8)
            pad[: img.shape[0], : img.shape[1]] = img
            for packet in vout.encode(av.VideoFrame.from_ndarray(pad, format="rgb24")):
                out.mux(packet)
            n += 1
        for packet in vout.encode():
            out.mux(packet)
    tmp.replace(dst)
    return n


def draw_keyframe(img: np.ndarray, d: Detections | None, tubes: list[int], class_names: list[str], top_k: int,
                  draw_box, overlay_heatmap) -> np.ndarray:
    """Boxes with ``#tube label score`` and the top actor's top-action relation heatmap."""
    if d is None or not len(d):
        return img
    best = d.scores.max(1).values
    top_actor = int(torch.argmax(best * d.actor_scores.clamp_min(1e-6)))
    if d.heatmaps is not None:
        top_class = int(torch.argmax(d.scores[top_actor]))
        heat = contrastive_heatmaps(d.heatmaps[top_actor])[top_class]  # the class's own evidence
        img = overlay_heatmap(img, heat.numpy(), alpha=0.45)
    for i in range(len(d)):
        k = min(top_k, d.scores.shape[1])
        top = d.scores[i].topk(k)
        text = f"#{tubes[i]} " + ", ".join(f"{class_names[c]} {s:.2f}" for s, c in
                                            zip(top.values.tolist(), top.indices.tolist()))
        draw_box(img, d.boxes[i].tolist(), _colour(tubes[i]), text, thickness=2 if i == top_actor else 1)
    return img


def detect_videos(cfg: Config, model: nn.Module, postprocess: PostProcessFn, videos: Sequence[str | Path],
                  out_dir: str | Path, *, every: float, class_ids: list[int], class_names: list[str],
                  collate_fn, device: torch.device, info: DistInfo | None = None, proposals: dict | None = None,
                  render: bool = True, top_k: int = 3, progress: bool = True) -> dict:
    """Detect actions in ``videos``; write per-video CSV/JSON/mp4 under ``out_dir``; return a summary."""
    info = info or DistInfo(device=device)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [Path(v) for v in videos]
    for p in paths:
        if not p.is_file():
            raise InputError(f"{p}: video file not found")
    for p in paths[info.rank::info.world_size]:
        ds = video_dataset(cfg, [p], every, class_ids, class_names, proposals)
        dets = predict(model, postprocess, ds, collate_fn, device=device, progress=progress, desc=p.name)
        tubes = link_actors(dets)
        atomic_write_text(out / f"{p.stem}.csv", "".join(r + "\n" for r in detection_rows(dets, class_ids)))
        frames = [keyframe_json(d, t, class_ids, class_names, top_k) for d, t in zip(dets, tubes)]
        for f, (_, ts) in zip(frames, ds.keyframes):
            f["timestamp"] = ts
        doc = {"video": p.stem, "source": str(p), "every": every, "num_tubes": 1 + max([-1] + sum(tubes, [])),
               "keyframes": frames}
        atomic_write_text(out / f"{p.stem}.json", json.dumps(doc, indent=1))
        if render:
            render_video(p, out / f"{p.stem}.mp4", dets, tubes, [ts for _, ts in ds.keyframes], class_names)
    barrier()
    summary = {"videos": [p.stem for p in paths], "out_dir": str(out)}
    if info.is_main:  # merge the per-video CSVs (written by every rank) into one file
        merged = "".join((out / f"{p.stem}.csv").read_text() for p in paths)
        atomic_write_text(out / "detections.csv", merged)
        summary["rows"] = merged.count("\n")
        summary["keyframes"] = sum(len(json.loads((out / f"{p.stem}.json").read_text())["keyframes"]) for p in paths)
    return summary
