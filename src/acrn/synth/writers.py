"""Writers of the two real formats: AVA (CSV, pbtxt, proposals, mp4 + JPEG frames) and JHMDB-style
ground-truth pickle. The rules are those of /work/shared/specs/formats-and-metrics.md:

- AVA boxes are normalised ``x1,y1,x2,y2`` with 3 decimals, timestamps ``%04d``, label ids 1-based;
  one row per (person box, action). Key frame t of a synthetic video is frame index round(t * fps).
- The JHMDB pickle has 1-based frame numbers and 0-based inclusive pixel boxes, so the pickle box of a
  continuous box [x1, x2) is (x1, x2 - 1).
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import av
import cv2
import numpy as np

from acrn.synth.presets import ClassInfo
from acrn.synth.world import VideoSim


def video_codec() -> str:
    """libx264 when PyAV's bundled FFmpeg has it, else mpeg4."""
    return "libx264" if "libx264" in av.codecs_available else "mpeg4"


def write_mp4(path: Path, frames: np.ndarray, fps: int) -> None:
    """Encode ``frames`` (``uint8[T, H, W, 3]`` RGB, even H and W) as H.264/MPEG-4 yuv420p.

    x264 runs with one thread and without the lookahead / macroblock tree: with them its output
    depended on what the process had encoded before (checked: same frames, different bytes), without
    them the same frames give the same bytes in any process.
    """
    codec = video_codec()
    with av.open(str(path), "w", format="mp4") as out:
        st = out.add_stream(codec, rate=fps)
        st.width, st.height = frames.shape[2], frames.shape[1]
        st.pix_fmt = "yuv420p"
        st.thread_count = 1
        if codec == "libx264":
            st.options = {"crf": "18", "preset": "veryfast", "threads": "1",
                          "x264-params": "rc-lookahead=0:mbtree=0"}
        else:
            st.bit_rate = 2_000_000
        for i, img in enumerate(frames):
            # convert to yuv420p ourselves (OpenCV's BT.601 matrix), independent of swscale's settings
            yuv = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2YUV_I420)
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            frame.pts = i
            for pkt in st.encode(frame):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)


def write_jpegs(folder: Path, vid: str, frames: np.ndarray, quality: int) -> None:
    """``folder/<vid>_%06d.jpg`` with 1-based file numbers (AVA convention)."""
    folder.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality]
    for i, img in enumerate(frames):
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(img[..., ::-1]), params)
        if not ok:
            raise OSError(f"could not encode frame {i + 1} of {vid}")
        (folder / f"{vid}_{i + 1:06d}.jpg").write_bytes(buf.tobytes())


def _norm(box: np.ndarray, w: int, h: int) -> list[float]:
    """Normalised box rounded to the 3 decimals written in the CSVs (x1 < x2 kept)."""
    return [round(float(v), 3) for v in np.asarray(box, float) / [w, h, w, h]]


def _fmt(v: list[float]) -> str:
    return ",".join(f"{x:.3f}" for x in v)


def keyframe_rows(sim: VideoSim, ids: dict[str, int]) -> tuple[list[str], list[str], list[str]]:
    """(ground-truth rows, relation rows, excluded rows) of one video, in (timestamp, person, action)
    order. Excluded (corrupted) key frames get no ground truth, like AVA's excluded timestamps."""
    gt, rel, exc = [], [], []
    for t in sim.timestamps:
        if t in sim.glitch:
            exc.append(f"{sim.vid},{t:04d}")
            continue
        i = sim.keyframe_index(t)
        for a in sim.actors:
            names = [a.pose] + (["wave"] if a.wave else []) + ([a.rel[i]] if a.rel[i] else [])
            box = _fmt(_norm(a.box[i], sim.width, sim.height))
            for aid in sorted(ids[n] for n in names):
                gt.append(f"{sim.vid},{t:04d},{box},{aid},{a.pid}")
            if a.rel[i]:
                rbox = _fmt(_norm(a.rel_box[i], sim.width, sim.height))
                rel.append(f"{sim.vid},{t:04d},{a.pid},{ids[a.rel[i]]},{rbox}")
    return gt, rel, exc


def proposals(sim: VideoSim, seed: int, false_mean: float) -> dict[str, np.ndarray]:
    """Person proposals per key frame: every actor's box jittered (score 0.7-1.0) plus false boxes on
    objects or background (score 0.02-0.6). ``{"vid,%04d": float32[n, 5]}`` normalised, rounded like
    the CSV so both files hold the same numbers."""
    rng = np.random.default_rng([seed, sim.index, 2])
    w, h = sim.width, sim.height
    out = {}
    for t in sim.timestamps:
        i = sim.keyframe_index(t)
        rows = []
        for a in sim.actors:
            b = a.box[i]
            bw, bh = b[2] - b[0], b[3] - b[1]
            j = b + rng.normal(0, 0.05, 4) * [bw, bh, bw, bh]
            rows.append(_proposal(j, rng.uniform(0.7, 1.0), w, h))
        for _ in range(rng.poisson(false_mean)):
            if sim.objects and rng.random() < 0.5:
                c = sim.objects[rng.integers(len(sim.objects))].box[i].reshape(2, 2).mean(0)
            else:
                c = rng.uniform([0, 0], [w, h])
            bh = rng.uniform(0.15, 0.35) * h
            bw = bh * rng.uniform(0.3, 0.6)
            rows.append(_proposal([c[0] - bw / 2, c[1] - bh / 2, c[0] + bw / 2, c[1] + bh / 2],
                                  rng.uniform(0.02, 0.6), w, h))
        rows = [r for r in rows if r[0] < r[2] and r[1] < r[3]]
        out[f"{sim.vid},{t:04d}"] = np.array(rows, np.float32).reshape(-1, 5)
    return out


def _proposal(box, score: float, w: int, h: int) -> list[float]:
    b = np.clip(np.asarray(box, float), 0, [w, h, w, h])
    return _norm(b, w, h) + [round(float(score), 4)]


def proposal_rows(props: dict[str, np.ndarray]) -> list[str]:
    """AVA detection-format rows: action column -1, last column the person score."""
    return [f"{key},{_fmt([float(x) for x in r[:4]])},-1,{float(r[4]):.4f}"
            for key, arr in props.items() for r in arr]


def labelmap_text(classes: list[ClassInfo]) -> str:
    """AVA label map: multi-line ``item { name: ... id: ... }`` blocks (the evaluator parses lines)."""
    return "".join(f'item {{\n  name: "{c.name}"\n  id: {c.id}\n}}\n' for c in classes)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index ranges of the True runs of a boolean ``[T]`` array."""
    d = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1), strict=True))


def video_tubes(sim: VideoSim, names: list[str]) -> dict[int, list[np.ndarray]]:
    """JHMDB-style tubes of one video: {label index: [float32[n, 5] (frame, x1, y1, x2, y2)]}.

    One tube per actor and maximal run of frames carrying a label (a pose label covers the whole video,
    a relational one the frames between contacts or turns); frames 1-based, boxes inclusive pixels.
    """
    tubes: dict[int, list[np.ndarray]] = {}
    frames = np.arange(1, sim.frames + 1, dtype=np.float32)[:, None]
    for a in sim.actors:
        labels = {a.pose: np.ones(sim.frames, bool)}
        if a.wave:
            labels["wave"] = np.ones(sim.frames, bool)
        for r in {r for r in a.rel if r}:
            labels[r] = np.array([x == r for x in a.rel])
        box = a.box - np.array([0, 0, 1, 1])  # inclusive-pixel convention
        for name, mask in labels.items():
            for s, e in _runs(mask):
                tube = np.concatenate([frames[s:e], box[s:e]], 1).astype(np.float32)
                tubes.setdefault(names.index(name), []).append(tube)
    return {k: tubes[k] for k in sorted(tubes)}


def gt_pickle_bytes(sims: list[VideoSim], names: list[str], train: list[str], test: list[str]) -> bytes:
    """The JHMDB-style ground-truth pickle (one split: train_videos=[train], test_videos=[test])."""
    gt = {
        "labels": list(names),
        "train_videos": [list(train)],
        "test_videos": [list(test)],
        "nframes": {s.vid: int(s.frames) for s in sims},
        "resolution": {s.vid: (int(s.height), int(s.width)) for s in sims},
        "gttubes": {s.vid: video_tubes(s, names) for s in sims},
    }
    buf = io.BytesIO()
    pickle.dump(gt, buf, protocol=4)
    return buf.getvalue()


def pickle_bytes(obj) -> bytes:
    buf = io.BytesIO()
    pickle.dump(obj, buf, protocol=4)
    return buf.getvalue()
