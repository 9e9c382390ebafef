"""Numbers of ``acrn study relations`` from its runs' results: per seed, paired differences, tables, goals.

Every figure is a fraction in [0, 1] (reports print percentages). ``relational`` is the mean AP of
the relational classes (catch, throw, give, receive), ``actor_only`` that of the others.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from acrn.study.stats import paired_difference

MEASURES = {"frame_mAP": "frame-AP", "relational": "relational classes", "actor_only": "actor-only classes",
            "video_mAP": "video-AP@0.5"}


def measures(metrics: dict[str, Any], classes: list[dict]) -> dict[str, float | None]:
    """The headline numbers of one run."""
    pc = metrics["per_class"]

    def mean(kind: set[str]) -> float | None:
        vals = [pc[str(c["id"])] for c in classes if c["kind"] in kind and pc.get(str(c["id"])) is not None]
        return float(np.mean(vals)) if vals else None

    video = metrics.get("video_mAP", {}).get("0.5")
    return {"frame_mAP": metrics["frame_mAP"], "relational": mean({"relational"}),
            "actor_only": mean({"pose", "actor"}), "video_mAP": video}


def by_model(results: list[dict], classes: list[dict]) -> dict[tuple[str, int], dict[int, dict]]:
    """``{(model, frames): {seed: measures}}``."""
    out: dict[tuple[str, int], dict[int, dict]] = {}
    for r in results:
        job = r["job"]
        out.setdefault((r["model"], job["frames"]), {})[job["seed"]] = {**measures(r["metrics"], classes),
                                                                         "raw": r["metrics"]}
    return out


def paired(a: dict[int, dict], b: dict[int, dict], key: str) -> dict | None:
    """Paired difference ``b - a`` of ``key`` over the seeds both have (None with fewer than 2)."""
    seeds = sorted(s for s in set(a) & set(b) if a[s].get(key) is not None and b[s].get(key) is not None)
    if len(seeds) < 2:
        return None
    d = paired_difference([a[s][key] for s in seeds], [b[s][key] for s in seeds])
    return {**d.as_dict(), "seeds": seeds, "a": [a[s][key] for s in seeds], "b": [b[s][key] for s in seeds]}


def pooled_pointing(runs: dict[int, dict], key: str = "pointing") -> dict | None:
    hits = sum(r["raw"][key]["hits"] for r in runs.values() if key in r["raw"])
    trials = sum(r["raw"][key]["trials"] for r in runs.values() if key in r["raw"])
    if not trials:
        return None
    # each run's chance is a mean over its trials: pool it weighted by them
    chance = sum(r["raw"][key]["chance"] * r["raw"][key]["trials"] for r in runs.values()
                 if r["raw"].get(key, {}).get("chance") is not None)
    per_seed = {s: r["raw"][key]["hit_rate"] for s, r in runs.items() if key in r["raw"]}
    return {"hit_rate": hits / trials, "hits": hits, "trials": trials, "chance": chance / trials,
            "per_seed": per_seed}


def seed_stats(runs: dict[int, dict], key: str) -> dict:
    vals = [runs[s][key] for s in sorted(runs) if runs[s].get(key) is not None]
    sd = float(np.std(vals, ddof=1)) if len(vals) > 1 else math.nan
    return {"mean": float(np.mean(vals)) if vals else None, "sd": sd, "values": vals}


def summarise(results: list[dict], classes: list[dict], frames: int, chance: dict) -> dict[str, Any]:
    """Everything the report shows (JSON-able)."""
    table = by_model(results, classes)
    base, acrn = table.get(("Base-Model", frames), {}), table.get(("ACRN", frames), {})
    main = {k: paired(base, acrn, k) for k in MEASURES}
    heads = {}
    for (model, t), runs in table.items():
        if t != frames:
            continue
        heads[model] = {k: seed_stats(runs, k) for k in MEASURES}
        if model not in ("Base-Model", "Base-Model (crop-only)"):
            heads[model]["vs_base"] = {k: paired(base, runs, k) for k in ("frame_mAP", "relational")}
    frames_table = {}
    for t in sorted({t for _, t in table}):
        b, a = table.get(("Base-Model", t), {}), table.get(("ACRN", t), {})
        if b and a:
            frames_table[str(t)] = {"Base-Model": seed_stats(b, "frame_mAP"), "ACRN": seed_stats(a, "frame_mAP"),
                                    "difference": paired(b, a, "frame_mAP")}
    # Table 1a on the seeds every head has (the side heads may run on fewer seeds than Base-Model / ACRN)
    at_frames = [runs for (_, t), runs in table.items() if t == frames]
    common = sorted(set.intersection(*(set(r) for r in at_frames))) if at_frames else []
    table_1a = {model: {"seeds": common, **{k: seed_stats({s: runs[s] for s in common}, k) for k in MEASURES}}
                for (model, t), runs in table.items() if t == frames and common}
    for model, entry in table_1a.items():
        if model not in ("Base-Model", "Base-Model (crop-only)"):
            runs = table[(model, frames)]
            entry["vs_base"] = {k: paired({s: base[s] for s in common if s in base}, {s: runs[s] for s in common}, k)
                                for k in ("frame_mAP", "relational")}
    crop = table.get(("Base-Model (crop-only)", frames), {})
    crop_rel = seed_stats(crop, "relational") if crop else None
    pointing = pooled_pointing(acrn) if acrn else None
    goals = check_goals(main, table_1a or heads, pointing, crop_rel, chance)
    return {"frames": frames, "paired": main, "heads": heads, "table_1a": table_1a, "table_1b": frames_table,
            "crop_only": crop_rel,
            "chance": chance, "pointing": pointing, "pointing_cam": pooled_pointing(acrn, "pointing_cam") if acrn
            else None, "goals": goals,
            "per_seed": {f"{m} (T={t})": {str(s): {k: v for k, v in r.items() if k != "raw"} for s, r in runs.items()}
                         for (m, t), runs in table.items()}}


def check_goals(main: dict, heads: dict, pointing: dict | None, crop_rel: dict | None, chance: dict) -> list[dict]:
    """The issue's goals, each with the measured value and whether it is met."""
    def row(goal: str, value: Any, met: bool | None) -> dict:
        return {"goal": goal, "measured": value, "met": met}

    out = []
    rel, overall = main.get("relational"), main.get("frame_mAP")
    if rel:
        out.append(row("ACRN - Base >= +5 AP on relational classes, 95 % interval above 0",
                       {"mean": rel["mean"], "t_interval": rel["t_interval"]},
                       rel["mean"] >= 0.05 and rel["above_zero"]))
    if overall:
        out.append(row("ACRN - Base >= +2 frame-AP overall, 95 % interval above 0",
                       {"mean": overall["mean"], "t_interval": overall["t_interval"]},
                       overall["mean"] >= 0.02 and overall["above_zero"]))
        out.append(row("seed-to-seed sd of the paired frame-AP difference <= 3 points", overall["sd"],
                       overall["sd"] <= 0.03))
    order = [heads.get(m, {}).get("frame_mAP", {}).get("mean") for m in ("ACRN", "Santoro RN", "Resize+Concat")]
    if None not in order and len(order) == 3:
        out.append(row("Table 1a order ACRN >= Santoro RN >= Resize+Concat (frame-AP means, common seeds)", order,
                       order[0] >= order[1] >= order[2]))
    if pointing:
        out.append(row("pointing game >= 60 % on relational classes", pointing["hit_rate"],
                       pointing["hit_rate"] >= 0.6))
    if crop_rel and crop_rel["mean"] is not None:
        level = chance["twin_blind"]["mean"]
        out.append(row("crop-only Base-Model within 10 AP of chance (twin-blind) on relational classes",
                       {"crop_only": crop_rel["mean"], "chance": level}, crop_rel["mean"] <= level + 0.10))
    return out
