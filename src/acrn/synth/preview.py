"""Contact sheet of a generated dataset: a few clips, several key frames each, with actor boxes and
labels (green), and the deciding entity of each relational label (yellow box, line from the actor)."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from acrn.cli.common import atomic_write_bytes
from acrn.errors import InputError
from acrn.synth.generator import read_meta

GREEN, YELLOW, WHITE = (60, 230, 60), (0, 230, 255), (255, 255, 255)  # BGR


def _read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return [r for r in csv.reader(f) if r]


def _pick_videos(meta: dict, rel_rows: list, split: str, clips: int) -> list[str]:
    """Videos of ``split`` with the most distinct relational labels first, then the rest."""
    kinds = defaultdict(set)
    for r in rel_rows:
        kinds[r[0]].add(r[3])
    vids = meta["splits"][split]
    return sorted(vids, key=lambda v: (-len(kinds[v]), v))[:clips]


def contact_sheet(root: str | Path, out_png: str | Path, clips: int = 4, frames: int = 5, split: str = "train",
                  scale: int = 0) -> Path:
    """Write a PNG contact sheet of ``clips`` videos x ``frames`` key frames of dataset ``root``."""
    root = Path(root)
    meta = read_meta(root)
    if meta is None:
        raise InputError(f"{root}: not a finished synthetic dataset (no meta.json)")
    names = {c["id"]: c["name"] for c in meta["classes"]}
    gt = _read_rows(root / "annotations" / f"{split}.csv")
    rel = _read_rows(root / "annotations" / f"{split}_relations.csv")
    excluded = {(v, int(t)) for v, t in _read_rows(root / "annotations" / f"{split}_excluded_timestamps.csv")}
    boxes, labels, decides = {}, defaultdict(list), defaultdict(list)
    for v, t, x1, y1, x2, y2, aid, pid in gt:
        boxes[(v, int(t), pid)] = [float(x1), float(y1), float(x2), float(y2)]
        labels[(v, int(t), pid)].append(names[int(aid)])
    for v, t, pid, aid, x1, y1, x2, y2 in rel:
        decides[(v, int(t))].append((pid, names[int(aid)], [float(x1), float(y1), float(x2), float(y2)]))
    w, h, fps = meta["width"], meta["height"], meta["fps"]
    scale = scale or max(2, int(np.ceil(240 / max(w, h))))
    stamps = meta["timestamps"][:frames]
    rows = []
    for vid in _pick_videos(meta, rel, split, clips):
        tiles = []
        for t in stamps:
            img = cv2.imread(str(root / "frames" / vid / f"{vid}_{int(round(t * fps)) + 1:06d}.jpg"))
            if img is None:
                raise InputError(f"{root}/frames/{vid}: frame of key frame {t} is missing")
            img = cv2.resize(img, (w * scale, h * scale), interpolation=cv2.INTER_NEAREST)
            _draw(img, vid, t, boxes, labels, decides, w * scale, h * scale)
            note = " (excluded)" if (vid, t) in excluded else ""
            cv2.putText(img, f"{vid} t={t}{note}", (3, 12), cv2.FONT_HERSHEY_PLAIN, 0.9, WHITE, 1, cv2.LINE_AA)
            tiles.append(np.pad(img, ((2, 2), (2, 2), (0, 0))))
        rows.append(np.concatenate(tiles, 1))
    if not rows:
        raise InputError(f"{root}: split {split!r} has no videos to preview")
    ok, buf = cv2.imencode(".png", np.concatenate(rows, 0))
    if not ok:
        raise OSError("could not encode the contact sheet")
    atomic_write_bytes(out_png, buf.tobytes())
    return Path(out_png)


def _px(b, w, h) -> tuple[tuple[int, int], tuple[int, int]]:
    return (int(b[0] * w), int(b[1] * h)), (int(b[2] * w), int(b[3] * h))


def _draw(img, vid, t, boxes, labels, decides, w, h) -> None:
    actor_at = {}
    for (v, tt, pid), b in boxes.items():
        if (v, tt) != (vid, t):
            continue
        p1, p2 = _px(b, w, h)
        actor_at[pid] = ((p1[0] + p2[0]) // 2, (p1[1] + p2[1]) // 2)
        cv2.rectangle(img, p1, p2, GREEN, 1, cv2.LINE_AA)
        for k, name in enumerate(labels[(v, tt, pid)]):
            org = (p1[0], max(10, p1[1] - 3 - 10 * k))
            cv2.putText(img, name, org, cv2.FONT_HERSHEY_PLAIN, 0.8, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(img, name, org, cv2.FONT_HERSHEY_PLAIN, 0.8, GREEN, 1, cv2.LINE_AA)
    for pid, _name, b in decides[(vid, t)]:
        p1, p2 = _px(b, w, h)
        cv2.rectangle(img, p1, p2, YELLOW, 2, cv2.LINE_AA)
        if pid in actor_at:
            cv2.line(img, actor_at[pid], ((p1[0] + p2[0]) // 2, (p1[1] + p2[1]) // 2), YELLOW, 1, cv2.LINE_AA)
