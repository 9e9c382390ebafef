"""Demo figures: relation heatmap gallery (paper Figures 5, 6) and ACRN vs Base examples (Figure 7)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch

from acrn.demo.pointing import Relation, gt_actions, gt_people, read_relations
from acrn.models.postprocess import contrastive_heatmaps
from acrn.ops import box_iou
from acrn.structures import Detections
from acrn.viz.draw import BLUE, GREEN, RED, YELLOW, contact_sheet, draw_box, overlay_heatmap

TILE = 256  # gallery tiles are upscaled to this size so labels stay readable


def keyframe_image(root: Path, video: str, timestamp: int, fps: float) -> np.ndarray:
    """The key frame of ``(video, timestamp)`` as RGB uint8, from the extracted-frames folder."""
    idx = int(round(timestamp * fps)) + 1
    path = root / "frames" / video / f"{video}_{idx:06d}.jpg"
    img = cv2.imread(str(path))
    if img is None:
        raise FileNotFoundError(f"{path}: key frame image missing or unreadable")
    return img[..., ::-1].copy()


def _upscale(img: np.ndarray) -> tuple[np.ndarray, float]:
    s = TILE / max(img.shape[:2])
    return cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_NEAREST), s


def _match(d: Detections, box: torch.Tensor) -> int | None:
    if not len(d):
        return None
    iou = box_iou(d.boxes.float(), box[None])[:, 0]
    j = int(torch.argmax(iou))
    return j if float(iou[j]) >= 0.5 else None


def heatmap_gallery(root: Path, dets: list[Detections | None], class_ids: list[int], class_names: list[str],
                    path: Path, max_tiles: int = 8, min_score: float = 0.5) -> Path | None:
    """Tiles of correctly detected relational actions: actor (green), ACRN heatmap of the detected class
    (red-yellow), deciding entity (yellow box)."""
    fps = float(json.loads((root / "meta.json").read_text())["fps"])
    rels = read_relations(root / "annotations" / "test_relations.csv")
    people = gt_people(root / "annotations" / "test.csv")
    index = {cid: i for i, cid in enumerate(class_ids)}
    tiles, seen = [], set()
    for d in dets:
        if d is None or d.heatmaps is None or len(tiles) >= max_tiles:
            continue
        key = (str(d.meta["video"]), int(d.meta["timestamp"]))
        for rel in rels.get(key, []):
            tile = _gallery_tile(root, d, rel, dict(people.get(key, [])), index, class_names, fps, min_score)
            if tile is not None and (rel.video, rel.action_id) not in seen:
                seen.add((rel.video, rel.action_id))  # variety: one tile per video and class
                tiles.append(tile)
                break
    if not tiles:
        return None
    return _write(path, contact_sheet(tiles, columns=4))


def _gallery_tile(root: Path, d: Detections, rel: Relation, people: dict, index: dict, names: list[str],
                  fps: float, min_score: float) -> np.ndarray | None:
    if rel.person not in people or rel.action_id not in index:
        return None
    oh, ow = d.meta["orig_size"]
    scale = torch.tensor([ow, oh, ow, oh], dtype=torch.float32)
    j = _match(d, torch.tensor(people[rel.person], dtype=torch.float32) * scale)
    c = index[rel.action_id]
    if j is None or float(d.scores[j, c]) < min_score:
        return None
    img = keyframe_image(root, rel.video, rel.timestamp, fps)
    img = overlay_heatmap(img, contrastive_heatmaps(d.heatmaps[j])[c].numpy(), alpha=0.6)
    img, s = _upscale(img)
    draw_box(img, (d.boxes[j] * s).tolist(), GREEN, f"{names[c]} {float(d.scores[j, c]):.2f}", 2)
    draw_box(img, (torch.tensor(rel.entity) * scale * s).tolist(), YELLOW, "", 1)
    return img


def base_vs_acrn(root: Path, base: list[Detections | None], acrn: list[Detections | None], class_ids: list[int],
                 class_names: list[str], relational_ids: set[int], path: Path, max_tiles: int = 8,
                 thresh: float = 0.5) -> tuple[Path | None, dict[str, int]]:
    """Paper Figure 7 on the test split: Base-Model false alarms that ACRN removes (red) and Base misses
    that ACRN recovers (blue), for relational classes at score threshold ``thresh``."""
    fps = float(json.loads((root / "meta.json").read_text())["fps"])
    people = gt_people(root / "annotations" / "test.csv")
    labels = gt_actions(root / "annotations" / "test.csv")
    counts = {"false_alarms_removed": 0, "misses_recovered": 0}
    tiles: list[np.ndarray] = []
    for db, da in zip(base, acrn):
        if db is None or da is None:
            continue
        key = (str(db.meta["video"]), int(db.meta["timestamp"]))
        oh, ow = db.meta["orig_size"]
        scale = torch.tensor([ow, oh, ow, oh], dtype=torch.float32)
        for pid, box in people.get(key, []):
            b = torch.tensor(box, dtype=torch.float32) * scale
            jb, ja = _match(db, b), _match(da, b)
            if jb is None or ja is None:
                continue
            for cid in relational_ids:
                c = class_ids.index(cid)
                truth = cid in labels.get((key, pid), set())
                sb, sa = float(db.scores[jb, c]), float(da.scores[ja, c])
                kind = None
                if not truth and sb >= thresh > sa:
                    kind, colour = "false_alarms_removed", RED
                elif truth and sa >= thresh > sb:
                    kind, colour = "misses_recovered", BLUE
                if kind is None:
                    continue
                counts[kind] += 1
                if len(tiles) < max_tiles:
                    img, s = _upscale(keyframe_image(root, key[0], key[1], fps))
                    verb = "Base false alarm" if kind == "false_alarms_removed" else "Base miss"
                    draw_box(img, (b * s).tolist(), colour, f"{class_names[c]}: Base {sb:.2f} ACRN {sa:.2f}", 2)
                    cv2.putText(img, verb, (4, img.shape[0] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1,
                                cv2.LINE_AA)
                    tiles.append(img)
    if not tiles:
        return None, counts
    return _write(path, contact_sheet(tiles, columns=4)), counts


def _write(path: Path, img: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    if not cv2.imwrite(str(tmp), img[..., ::-1]):
        raise OSError(f"{path}: could not write the image")
    tmp.replace(path)
    return path


__all__ = ["base_vs_acrn", "heatmap_gallery", "keyframe_image"]
