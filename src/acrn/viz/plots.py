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


def paired_intervals(rows: dict[str, dict], path: str | Path, title: str = "ACRN - Base-Model") -> Path:
    """One row per measure: the per-seed paired differences (dots), their mean and 95 % t interval (bar).

    ``rows[label] = {"mean", "t_interval": (lo, hi), "a": [...], "b": [...]}`` in [0, 1]; shown in points.
    """
    items = [(k, v) for k, v in rows.items() if v]
    fig, ax = plt.subplots(figsize=(6.4, 0.6 * len(items) + 1.2))
    for i, (_, v) in enumerate(items):
        d = [100 * (b - a) for a, b in zip(v["a"], v["b"])]
        lo, hi = (100 * x for x in v["t_interval"])
        ax.plot([lo, hi], [i, i], color="#d62728", lw=3, solid_capstyle="butt")
        ax.plot([100 * v["mean"]], [i], "o", color="#d62728", ms=7)
        ax.plot(d, [i + 0.18] * len(d), "o", color="#555555", ms=4, alpha=0.8)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(items)))
    ax.set_yticklabels([k for k, _ in items])
    ax.invert_yaxis()
    ax.set_xlabel(f"{title} (AP points): seeds (grey), mean and 95 % t interval (red)")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def seed_dots(groups: dict[str, list[float]], path: str | Path, ylabel: str = "frame-AP (%)") -> Path:
    """Per-seed values (dots) and their mean (bar) of each group, e.g. the four heads of Table 1a."""
    fig, ax = plt.subplots(figsize=(max(4.5, 1.2 * len(groups) + 1.5), 3.4))
    for i, vals in enumerate(groups.values()):
        if vals:
            ax.bar(i, 100 * sum(vals) / len(vals), width=0.6, color="#dddddd", edgecolor="#888888")
            ax.plot([i] * len(vals), [100 * v for v in vals], "o", color="#333333", ms=4)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(list(groups), rotation=15, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)
