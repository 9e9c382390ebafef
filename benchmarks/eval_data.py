"""Data of ``bench_eval.py``: AVA-validation-scale CSVs and JHMDB-scale frame detections and tubes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from acrn.eval import normalize_gt
from acrn.eval.labelmap import AVA_V21_60_CLASS_IDS


def _digits(x: np.ndarray, n: int) -> np.ndarray:
    """uint8[N, n] ASCII digits of non-negative ints x (zero padded)."""
    p = 10 ** np.arange(n - 1, -1, -1)
    return ((x[:, None] // p) % 10 + 48).astype(np.uint8)


def _frac(x: np.ndarray, n: int) -> np.ndarray:
    """'0.ddd' for x in [0, 1): uint8[N, n + 2]."""
    q = np.minimum((x * 10**n).astype(np.int64), 10**n - 1)
    return np.hstack([np.full((x.size, 2), [48, 46], np.uint8), _digits(q, n)])


def make_ava(workdir: Path, scale: float, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    nvid, nts = 64, max(1, int(round(234 * scale)))
    classes = np.array(AVA_V21_60_CLASS_IDS)
    names = [f"{i:02d}" + "".join(rng.choice(list("abcdefghijkLMNOPQ_-0123456789"), 9)) for i in range(nvid)]
    gt_lines, gt_info = [], []
    for v in range(nvid):
        for t in range(902, 902 + nts):
            for _ in range(int(rng.choice([2, 3, 4, 5], p=[0.2, 0.3, 0.3, 0.2]))):
                x, y = rng.random(2) * 0.6
                box = (x, y, x + 0.1 + rng.random() * 0.3, y + 0.2 + rng.random() * 0.2)
                for c in rng.choice(classes, int(rng.integers(1, 3)), replace=False):
                    gt_lines.append(f"{names[v]},{t:04d},{box[0]:.3f},{box[1]:.3f},{box[2]:.3f},{box[3]:.3f},{c},1")
                gt_info.append((v, t, box))
    (workdir / "gt.csv").write_text("\n".join(gt_lines) + "\n")
    per_kf = {}
    for v, t, box in gt_info:
        per_kf.setdefault((v, t), []).append(box)
    det_path = workdir / "det.csv"
    rows = 0
    with open(det_path, "wb") as f:
        for v in range(nvid):
            for t in range(902, 902 + nts):
                gb = np.array(per_kf[(v, t)])
                b = np.vstack([gb + rng.normal(0, 0.02, gb.shape), rng.random((20 - len(gb), 4)) * 0.5])
                b[len(gb):, 2:] += b[len(gb):, :2] * 0 + 0.3
                b = np.clip(b, 0, 0.999)
                bb = np.repeat(b, classes.size, axis=0)
                cc = np.tile(classes, 20)
                sc = rng.random(bb.shape[0])
                n = bb.shape[0]
                line = np.hstack([np.frombuffer((names[v] + ",").encode(), np.uint8)[None].repeat(n, 0),
                                  _digits(np.full(n, t), 4), np.full((n, 1), 44, np.uint8)]
                                 + sum([[_frac(bb[:, k], 3), np.full((n, 1), 44, np.uint8)] for k in range(4)], [])
                                 + [_digits(cc, 2), np.full((n, 1), 44, np.uint8), _frac(sc, 4),
                                    np.full((n, 1), 10, np.uint8)])
                f.write(line.tobytes())
                rows += n
    return {"videos": nvid, "keyframes": nvid * nts, "gt_boxes": len(gt_info), "gt_rows": len(gt_lines),
            "det_rows": rows, "det_csv_bytes": det_path.stat().st_size}


def variable_width_copy(workdir: Path) -> Path:
    """det.csv with action ids and timestamps unpadded (``%d``, as most writers do): several line lengths."""
    out = workdir / "det_var.csv"
    with open(workdir / "det.csv", "rb") as f, open(out, "wb") as g:
        for block in iter(lambda: f.read(1 << 24), b""):  # blocks end on a newline (rows of equal length)
            g.write(block.replace(b",0", b",\0").replace(b",\0.", b",0.").replace(b",\0", b","))
    return out


def make_jhmdb(seed: int = 0, nvid: int = 270, nframes: int = 40, nlab: int = 21, k: int = 10,
               with_frame_scores: bool = False):
    """GT, video names, frame detections float32[N, 8] and tubes (video index, label, score, rows [n, 5]);
    ``with_frame_scores``: also each tube's per-frame scores (ACT keeps them as a sixth column)."""
    rng = np.random.default_rng(seed)
    frame_scores = []
    videos = [f"c{v % nlab}/clip{v}" for v in range(nvid)]
    gttubes, fd, items = {}, [], []
    for vi, v in enumerate(videos):
        x, y = rng.random(2) * 150
        fr = np.arange(1, nframes + 1)
        g = np.column_stack([fr, x + fr, np.full(nframes, y), x + fr + 80, np.full(nframes, y + 120)])
        gttubes[v] = {vi % nlab: [g]}
        tracks = g[None, :, 1:5] + rng.normal(0, 6, (k, 1, 4)) + rng.normal(0, 2, (k, nframes, 4))
        tracks[1:] += rng.normal(0, 40, (k - 1, 1, 4))
        scores = rng.random((k, nframes, nlab))
        bf = np.broadcast_to(fr[None, :, None], (k, nframes, nlab))
        fd.append(np.column_stack([np.full(bf.size, vi), bf.ravel(), np.broadcast_to(np.arange(nlab), bf.shape).ravel(),
                                   scores.ravel(), np.repeat(tracks.reshape(-1, 4), nlab, axis=0)]))
        for c in range(nlab):
            for j in range(k):
                items.append((vi, c, float(scores[j, :, c].mean()), np.column_stack([fr, tracks[j]])))
                frame_scores.append(scores[j, :, c])
    gt = normalize_gt({"labels": [f"c{c}" for c in range(nlab)], "gttubes": gttubes,
                       "nframes": {v: nframes for v in videos}, "test_videos": [videos]})
    if with_frame_scores:
        return gt, videos, np.concatenate(fd).astype(np.float32), items, frame_scores
    return gt, videos, np.concatenate(fd).astype(np.float32), items


def write_jhmdb(workdir: Path) -> None:
    """gt.pkl, fd.csv and tubes.json of :func:`make_jhmdb` (the files ``acrn evaluate act`` reads)."""
    import pickle

    from acrn.eval.act_io import FRAME_HEADER, tubes_to_json
    from acrn.eval.tubes_npz import tubes_to_npz

    gt, videos, fd, items, frame_scores = make_jhmdb(with_frame_scores=True)
    with open(workdir / "jhmdb_gt.pkl", "wb") as f:
        pickle.dump({k: v for k, v in gt.items()}, f, protocol=2)
    names = np.array(videos)[fd[:, 0].astype(int)]
    cols = [np.char.mod("%d", fd[:, 1].astype(int)), np.char.mod("%d", fd[:, 2].astype(int)),
            np.char.mod("%.4f", fd[:, 3])] + [np.char.mod("%.1f", fd[:, k]) for k in range(4, 8)]
    lines = [",".join(r) for r in zip(names, *cols, strict=True)]
    (workdir / "jhmdb_fd.csv").write_text(FRAME_HEADER + "\n" + "\n".join(lines) + "\n")
    tubes: dict = {}
    for vi, c, sc, a in items:
        tubes.setdefault(videos[vi], []).append({"label": c, "score": sc, "boxes": a})
    (workdir / "jhmdb_tubes.json").write_text(tubes_to_json(tubes) + "\n")
    (workdir / "jhmdb_tubes.npz").write_bytes(tubes_to_npz(tubes))  # the compact format (same values)
    write_act_tubes(workdir / "jhmdb_act_tubes", videos, items, frame_scores)


def write_act_tubes(root: Path, videos: list[str], items: list, frame_scores: list) -> None:
    """The same tubes as ACT's BuildTubes stores them: ``root/<video>_tubes.pkl`` = {label: [[float32[n, 6]
    (frame, x1, y1, x2, y2, frame score), np.float32 score]]} (ACT's dtypes, so not the JSON's rounding)."""
    import pickle

    per_video: dict = {}
    for (vi, c, sc, a), fs in zip(items, frame_scores, strict=True):
        rows = np.column_stack([a, fs]).astype(np.float32)
        per_video.setdefault(vi, {}).setdefault(c, []).append([rows, np.float32(sc)])
    for vi, res in per_video.items():
        path = root / f"{videos[vi]}_tubes.pkl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(res))
