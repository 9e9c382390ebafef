"""Readable tables and the per-class AP bar chart (like the paper's Figure 4)."""

from __future__ import annotations

import io
from pathlib import Path

from acrn.cli.common import atomic_write_bytes


def _name(res: dict, key: str) -> str:
    if res.get("names"):
        return res["names"].get(key, "")
    labels = res.get("labels")
    return labels[int(key)] if labels and key.isdigit() and int(key) < len(labels) else ""


def format_table(res: dict) -> str:
    """Per-class AP (in %), ground truth and true-positive counts, then the mean(s)."""
    rows = []
    per = res.get("per_class") or {}
    if per:
        rows.append(f"{'class':>6}  {'name':<40} {'AP%':>7} {'#gt':>7} {'#tp':>7}")
        for key, ap in per.items():
            ap_s = "   n/a" if ap is None else f"{100 * ap:7.2f}"
            rows.append(f"{key:>6}  {_name(res, key)[:40]:<40} {ap_s} {res.get('num_gt', {}).get(key, 0):>7} "
                        f"{res.get('num_tp', {}).get(key, 0):>7}")
    if "frame_mAP" in res:
        rows.append(f"frame-mAP@{res['frame_iou']:g}: {100 * res['frame_mAP']:.2f}")
    for th, m in (res.get("video_mAP") or {}).items():
        rows.append(f"video-mAP@{th}: {100 * m:.2f}")
    if res.get("protocol", "").startswith("ava"):
        m = res.get("mAP")
        rows.append(f"mAP@{res['iou']:g} ({res['protocol']}): " + ("n/a" if m is None else f"{100 * m:.2f}"))
    return "\n".join(rows)


def plot_per_class(res: dict, path: str | Path, title: str | None = None) -> None:
    """Horizontal bar chart of per-class AP, sorted, written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = [(k, v) for k, v in (res.get("per_class") or {}).items() if v is not None]
    items.sort(key=lambda kv: kv[1])
    labels = [f"{_name(res, k) or k}" for k, _ in items]
    fig, ax = plt.subplots(figsize=(7, max(2.0, 0.22 * len(items) + 1)))
    ax.barh(range(len(items)), [100 * v for _, v in items], color="#4477aa")
    ax.set_yticks(range(len(items)), labels, fontsize=7)
    ax.set_xlabel("AP (%)")
    m = res.get("mAP")
    ax.set_title(title or f"{res.get('protocol', '')}: mAP {100 * m:.2f}" if m is not None else "per-class AP")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
