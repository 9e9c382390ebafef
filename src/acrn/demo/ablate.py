"""``acrn ablate``: the paper's Table 1 on the synthetic benchmark, as mean ± std over seeds.

Studies (each variant is the demo recipe plus overrides; frame-AP with the AVA protocol on the test split):

- ``heads`` (Table 1a): none / resize_concat / santoro / acrn.
- ``frames`` (Table 1b): 1, 5, 10, 20 input frames, for the Base-Model and ACRN.
- ``layers`` (Table 1c): the relation feature map from Conv2d_2c_3x3, Mixed_3b, Mixed_4b, Mixed_4f or the
  combination Conv2d_2c_3x3 + Mixed_3c + Mixed_4f, each at scale 0.5 and 1.0.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acrn.demo.demo import ensure_data, log, peak_memory_mb
from acrn.demo.parallel import Job, run_jobs
from acrn.demo.run import variant_config
from acrn.errors import InputError
from acrn.viz.report import Cell, Section, Table, mean_std, percent, write_report


@dataclass(frozen=True)
class Variant:
    row: str  # table row label
    column: str  # table column label
    overrides: tuple[str, ...]


def study_variants(study: str) -> list[Variant]:
    """The variants of one study, laid out as the paper's Table 1 (rows x columns)."""
    if study == "heads":
        names = {"none": "Base-Model", "resize_concat": "Resize+Concat", "santoro": "Santoro et al.",
                 "acrn": "ACRN"}
        return [Variant(label, "frame-AP", (f"model.head={h}",)) for h, label in names.items()]
    if study == "frames":
        return [Variant(str(t), label, (f"model.head={h}", f"data.num_frames={t}"))
                for t in (1, 5, 10, 20) for h, label in (("none", "Base-Model"), ("acrn", "ACRN"))]
    if study == "layers":
        layers = {"Conv2c": ["Conv2d_2c_3x3"], "Mixed_3b": ["Mixed_3b"], "Mixed_4b": ["Mixed_4b"],
                  "Mixed_4f": ["Mixed_4f"], "Conv2c, Mixed_3c, Mixed_4f": ["Conv2d_2c_3x3", "Mixed_3c", "Mixed_4f"]}
        return [Variant(f"Scale {s}", name, ("model.head=acrn", f"model.relation_layers=[{', '.join(ls)}]",
                                              f"model.relation_scales=[{s}]"))
                for s in (0.5, 1.0) for name, ls in layers.items()]
    raise InputError(f"unknown study {study!r}; choose one of heads, frames, layers")


@dataclass
class AblateOptions:
    study: str
    out: Path = Path("runs/ablate")
    data: Path = Path("data/synth-demo")
    preset: str = "demo"
    seeds: int = 3
    steps: int | None = None
    data_seed: int = 0
    progress: bool = True
    workers: int = 2  # runs in parallel, one torch thread each
    overrides: list[str] = field(default_factory=list)


def run_ablation(opts: AblateOptions) -> dict[str, Any]:
    """Train and score every variant of ``opts.study`` for each seed; write the report; return results."""
    t0 = time.perf_counter()
    variants = study_variants(opts.study)
    root = ensure_data(opts.data, opts.data_seed, opts.preset)
    jobs, keys = [], []
    for seed in range(opts.seeds):
        for v in variants:
            tag = f"{v.row}-{v.column}".replace(" ", "_").replace(",", "")
            cfg = variant_config(root, opts.out / "runs" / f"{tag}-seed{seed}", [*v.overrides, *opts.overrides],
                                 seed, opts.steps, progress=opts.progress and opts.workers <= 1)
            jobs.append(Job(tag, cfg, video_ap=False))
            keys.append(v)
    log(f"{opts.study}: {len(jobs)} runs in {opts.workers} process(es)")
    cells: dict[str, dict[str, list[float]]] = {}
    for v, res in zip(keys, run_jobs(jobs, opts.workers, opts.progress)):
        cells.setdefault(v.row, {}).setdefault(v.column, []).append(res.metrics["frame_mAP"])
    results = {"study": opts.study, "seeds": opts.seeds, "frame_mAP": cells,
               "mean": {r: {c: sum(v) / len(v) for c, v in cols.items()} for r, cols in cells.items()},
               "timing": {"total_seconds": time.perf_counter() - t0, "peak_memory_mb": peak_memory_mb()}}
    columns = list(dict.fromkeys(v.column for v in variants))
    rows = [[Cell(r)] + [Cell(mean_std(cells[r].get(c, [])), None) for c in columns] for r in cells]
    titles = {"heads": "Table 1a: relation reasoning modules", "frames": "Table 1b: temporal context",
              "layers": "Table 1c: feature layers and scales"}
    section = Section(titles[opts.study],
                      [f"Frame-AP (%) on the synthetic test split, mean ± std over {opts.seeds} seed(s); "
                       f"{results['timing']['total_seconds']:.0f} s in total."],
                      Table([{"heads": "Head", "frames": "Input frames", "layers": "Scale"}[opts.study],
                             *columns], rows))
    write_report(opts.out, f"acrn ablate --study {opts.study}", [section], results)
    return results


__all__ = ["AblateOptions", "Variant", "run_ablation", "study_variants", "percent"]
