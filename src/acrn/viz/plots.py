"""Report figures: per-class AP bars of two models (paper Figure 4) and training curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402


def _save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)
    return path


def per_class_bars(names: list[str], ap_a: list[float | None], ap_b: list[float | None], label_a: str,
                   label_b: str, path: str | Path, top: int = 30) -> Path:
    """Grouped bars of per-class AP (%), classes sorted by descending ``ap_a`` (as Figure 4 sorts by Base).

    Classes with no ground truth (``None``) are left out.
    """
    rows = [(n, a, b) for n, a, b in zip(names, ap_a, ap_b) if a is not None and b is not None]
    rows.sort(key=lambda r: -r[1])
    rows = rows[:top]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(rows) + 2), 3.6))
    x = range(len(rows))
    ax.bar([i - 0.2 for i in x], [100 * r[1] for r in rows], width=0.4, label=label_a, color="#8c8c8c")
    ax.bar([i + 0.2 for i in x], [100 * r[2] for r in rows], width=0.4, label=label_b, color="#d62728")
    ax.set_xticks(list(x))
    ax.set_xticklabels([r[0] for r in rows], rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("frame-AP (%)")
    ax.set_ylim(0, 105)
    ax.legend(frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def training_curves(curves: dict[str, list[tuple[int, float]]], path: str | Path, ylabel: str = "loss") -> Path:
    """One line per run: ``curves[name] = [(step, value), ...]``."""
    fig, ax = plt.subplots(figsize=(6.0, 3.4))
    for name, pts in curves.items():
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], label=name)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return _save(fig, path)
