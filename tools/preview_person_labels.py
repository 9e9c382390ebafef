"""Draw the hand-labelled person boxes of a fixture on their video frames, to check the labels by eye.

Reads a labels file such as tests/fixtures/persons/demo_mp4_persons.json (boxes xyxy in pixels of the original
frame, frame index = position in a sequential PyAV decode), decodes the video once and writes one PNG per
labelled frame into --out, upscaled by --scale: green = person, orange = occluded, grey = ignore, each box
with its number in the frame's list and its height in pixels. Optionally a pixel grid (--grid) helps read
coordinates.

    .venv/bin/python tools/preview_person_labels.py --out /tmp/person_labels_preview
    .venv/bin/python tools/preview_person_labels.py --video ../shared/videos/demo.mp4 \\
        --labels tests/fixtures/persons/demo_mp4_persons.json --out /tmp/preview --frames 0,12,100-160 --grid 10
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import av
import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = REPO.parent / "shared" / "videos" / "demo.mp4"
DEFAULT_LABELS = REPO / "tests" / "fixtures" / "persons" / "demo_mp4_persons.json"

GREEN, ORANGE, GREY = (0, 200, 0), (0, 140, 255), (150, 150, 150)  # BGR


def parse_frames(spec: str) -> set[int]:
    """'0,12,100-160' -> {0, 12, 100, ..., 160}."""
    out: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            a, b = part.split("-", 1)
            out.update(range(int(a), int(b) + 1))
        else:
            out.add(int(part))
    return out


def draw_grid(img: np.ndarray, scale: float, step: int) -> None:
    h, w = img.shape[:2]
    for x in range(0, int(w / scale) + 1, step):
        colour = (0, 220, 220) if x % (step * 5) == 0 else (110, 110, 110)
        cv2.line(img, (round(x * scale), 0), (round(x * scale), h - 1), colour, 1)
        if x % (step * 2) == 0:
            cv2.putText(img, str(x), (round(x * scale) + 2, 10), cv2.FONT_HERSHEY_SIMPLEX, 0.3, colour, 1)
    for y in range(0, int(h / scale) + 1, step):
        colour = (0, 220, 220) if y % (step * 5) == 0 else (110, 110, 110)
        cv2.line(img, (0, round(y * scale)), (w - 1, round(y * scale)), colour, 1)
        if y % (step * 2) == 0:
            cv2.putText(img, str(y), (2, round(y * scale) - 2), cv2.FONT_HERSHEY_SIMPLEX, 0.3, colour, 1)


def put_label(img: np.ndarray, text: str, top_left: tuple[int, int], colour: tuple[int, int, int]) -> None:
    """Small text on a black background whose top-left corner is top_left, clipped to the image."""
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
    x = min(max(top_left[0], 0), img.shape[1] - tw - 2)
    y = min(max(top_left[1], 0), img.shape[0] - th - base - 2)
    cv2.rectangle(img, (x, y), (x + tw + 2, y + th + base + 2), (0, 0, 0), -1)
    cv2.putText(img, text, (x + 1, y + th + 1), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1, cv2.LINE_AA)


def render(rgb: np.ndarray, index: int, persons: list[dict], scale: float, grid: int) -> np.ndarray:
    img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if scale != 1:
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    if grid > 0:
        draw_grid(img, scale, grid)
    thick = max(1, round(scale / 2))
    for k, p in enumerate(persons):
        x1, y1, x2, y2 = p["box"]
        colour = GREY if p.get("ignore") else ORANGE if p.get("occluded") else GREEN
        p1 = (round(x1 * scale), round(y1 * scale))
        p2 = (round(x2 * scale) - 1, round(y2 * scale) - 1)
        cv2.rectangle(img, p1, p2, colour, thick)
        put_label(img, f"{k} h{y2 - y1:.0f}", (p1[0] + 1, p1[1] + 1), colour)
    n_real = sum(not p.get("ignore") for p in persons)
    title = f"frame {index}: {n_real} persons, {len(persons) - n_real} ignore"
    put_label(img, title, (0, img.shape[0] - 16), (255, 255, 255))
    return img


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=DEFAULT_VIDEO, help="video the labels belong to")
    ap.add_argument("--labels", type=Path, default=DEFAULT_LABELS, help="labels JSON (fixture format)")
    ap.add_argument("--out", type=Path, required=True, help="folder for the PNGs (created if missing)")
    ap.add_argument("--frames", default="", help="only these labelled frames, e.g. '0,12,100-160' (default: all)")
    ap.add_argument("--scale", type=float, default=2.0, help="upscale factor of the written images (default 2)")
    ap.add_argument("--grid", type=int, default=0, help="draw a pixel grid every N original pixels (0 = none)")
    args = ap.parse_args(argv)

    labels = json.loads(args.labels.read_text())
    by_index = {f["index"]: f["persons"] for f in labels["frames"]}
    wanted = set(by_index)
    if args.frames:
        wanted &= parse_frames(args.frames)
    if not wanted:
        print("no labelled frame selected", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    last = max(wanted)
    written = []
    with av.open(str(args.video)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                img = render(frame.to_ndarray(format="rgb24"), i, by_index[i], args.scale, args.grid)
                path = args.out / f"frame_{i:04d}.png"
                cv2.imwrite(str(path), img)
                written.append(path)
            if i >= last:
                break
    missing = sorted(wanted - {int(p.stem.split("_")[1]) for p in written})
    for path in written:
        print(path)
    if missing:
        print(f"frames not in the video: {missing}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
