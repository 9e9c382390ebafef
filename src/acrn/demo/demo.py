"""``acrn demo``: the short form of ``acrn study relations``, on a laptop CPU.

Generates (or reuses) the ``relational`` benchmark and the ``pretrain`` set, pretrains a Base-Model on
actor-only labels (cached, shared with the study), fine-tunes the Base-Model and ACRN from it for two
paired seeds, and reports frame-AP (AVA protocol), video-AP (ACT protocol after tube linking), the
paired difference with its 95 % interval (and how wide it is), the pointing game of ACRN's relation
heatmaps, and the paper's Figures 4-7 (per-class AP, heatmaps, false alarms removed / misses recovered).
"""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from acrn.demo.figures import base_vs_acrn, heatmap_gallery
from acrn.demo.parallel import Job, run_jobs
from acrn.demo.run import VariantResult
from acrn.viz import plots
from acrn.viz.report import Image, Section, write_report

DEMO_STEPS = 400  # fine-tuning steps per run (the study: 600, and a 10x relation learning rate)


@dataclass
class DemoOptions:
    out: Path = Path("runs/demo")
    data: Path = Path("data/synth-relational")
    pretrain_data: Path = Path("data/synth-pretrain")
    cache: Path = Path("runs/pretrain")  # pretrained checkpoints (shared with acrn study)
    seeds: list[int] = field(default_factory=lambda: [0, 1])
    steps: int | None = None  # None = DEMO_STEPS
    videos: int | None = None  # videos of both synthetic sets (None: the presets'; smoke tests: a few)
    dense_stride: int = 4  # video-AP: detect every 4th frame (0.5 s at 8 fps); the linker interpolates
    progress: bool = True
    workers: int = 2  # runs in parallel, one torch thread each (1: one after the other, here)
    overrides: list[str] = field(default_factory=list)
    pretrain_overrides: list[str] = field(default_factory=list)


def log(msg: str) -> None:
    print(f"[acrn demo] {msg}", file=sys.stderr, flush=True)


def peak_memory_mb() -> float:
    """Peak resident memory of this process and its (finished) children, MiB (Linux reports KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024.0


def ensure_data(data: Path, seed: int, preset: str = "demo") -> Path:
    """Generate the synthetic set in ``data`` (reused when already there with the same settings)."""
    from acrn.synth import generate

    t0 = time.perf_counter()
    log(f"synthetic benchmark (preset {preset}, seed {seed}) in {data}")
    root = Path(generate(data, preset=preset, seed=seed))
    log(f"data ready in {time.perf_counter() - t0:.1f} s")
    return root


def study_options(opts: DemoOptions):
    from acrn.study.relations import StudyOptions

    return StudyOptions(out=opts.out, data=opts.data, pretrain_data=opts.pretrain_data, cache=opts.cache,
                        seeds=list(opts.seeds), heads=["none", "acrn"], other_frames=[], crop_only=False,
                        video_ap=True, steps=opts.steps or DEMO_STEPS, relation_lr_mult=1.0, workers=opts.workers,
                        dense_stride=opts.dense_stride, overrides=list(opts.overrides),
                        pretrain_overrides=list(opts.pretrain_overrides), videos=opts.videos,
                        title="acrn demo: ACRN against the Base-Model, pretrained then fine-tuned")


def run_demo(opts: DemoOptions) -> dict[str, Any]:
    """Run the demo; returns the results dict also written to ``<out>/results.json``."""
    import json

    from acrn.study import relations as R
    from acrn.study.chance import relational_chance
    from acrn.study.report import goals_section, main_section, protocol_section
    from acrn.study.runner import scalar_metrics
    from acrn.study.summary import summarise

    t_start = time.perf_counter()
    study = study_options(opts)
    root, pre = R.ensure_sets(study)
    pretrained = R.get_pretrained(study, pre)
    triples = R.build_jobs(study, root, pretrained.path)
    jobs = [Job(job.model, cfg, opts.dense_stride, job.video_ap) for job, cfg, _ in triples]
    log(f"fine-tuning {len(jobs)} runs (Base-Model, ACRN; seeds {list(opts.seeds)}; {study.steps} steps each) "
        f"in {opts.workers} process(es)")
    runs = run_jobs(jobs, opts.workers, opts.progress)
    results = [{"job": asdict(job), "model": job.model, "fingerprint": fp, "metrics": scalar_metrics(r.metrics)}
               for (job, _, fp), r in zip(triples, runs)]
    meta = json.loads((root / "meta.json").read_text())
    summary = summarise(results, meta["classes"], study.frames, relational_chance(root, meta["classes"]))
    summary["pretrained"] = {"path": str(pretrained.path), "metrics": pretrained.metrics}
    summary["protocol"] = {"seeds": list(opts.seeds), "steps": study.steps, "frames": study.frames,
                           "other_frames": [], "heads": study.heads, "overrides": study.overrides,
                           "dataset": {"root": str(root), "preset": meta.get("preset"),
                                       "relational_stats": meta.get("relational_stats", {})}}
    summary["timing"] = {"total_seconds": time.perf_counter() - t_start, "peak_memory_mb": peak_memory_mb(),
                         "train_seconds": sum(r["metrics"]["train_seconds"] for r in results),
                         "eval_seconds": sum(r["metrics"]["eval_seconds"] for r in results)}
    by_name = {(j.name, j.cfg.runtime.seed): r for j, r in zip(jobs, runs)}
    fig_dir = opts.out / "figures"
    head = main_section(summary, fig_dir)
    d = summary["paired"].get("frame_mAP")
    if d:  # the short form cannot decide anything: say so, with the width of its interval
        half = 100 * (d["t_interval"][1] - d["t_interval"][0]) / 2
        summary["interval_half_width"] = half / 100
        head.paragraphs.insert(0, f"With {d['n']} seeds the 95 % t interval of the frame-AP difference is +-{half:.1f} "
                                  f"points wide: this short form shows the protocol; `acrn study relations` (5 seeds) "
                                  f"measures the difference.")
    sections = [head, *figure_sections(summary, by_name, root, meta, fig_dir, opts.seeds),
                goals_section(summary), protocol_section(summary)]
    paths = write_report(opts.out, study.title, sections, summary)
    log(f"report: {paths['html']} ({summary['timing']['total_seconds']:.0f} s, "
        f"peak memory {summary['timing']['peak_memory_mb']:.0f} MiB)")
    return summary


def figure_sections(summary: dict, runs: dict[tuple[str, int], VariantResult], root: Path, meta: dict,
                    fig_dir: Path, seeds: list[int]) -> list[Section]:
    """Paper Figures 4 (per-class AP, mean over seeds), 5-6 (heatmaps) and 7 (seed ``seeds[0]``)."""
    classes = {str(c["id"]): c for c in meta["classes"]}
    ids = list(classes)

    def per_class(model: str) -> list[float | None]:
        vals = [[runs[(model, s)].metrics["per_class"].get(i) for s in seeds] for i in ids]
        return [None if None in v else sum(v) / len(v) for v in vals]

    names = [classes[i]["name"] for i in ids]
    bars = plots.per_class_bars(names, per_class("Base-Model"), per_class("ACRN"), "Base-Model", "ACRN",
                                fig_dir / "per_class_ap.png")
    out = [Section("Per-class frame-AP (paper Figure 4)", [f"Mean over seeds {', '.join(map(str, seeds))}."],
                   None, [Image(bars, "per-class frame-AP")])]
    acrn, base = runs[("ACRN", seeds[0])], runs[("Base-Model", seeds[0])]
    class_ids = [int(i) for i in ids]
    gallery = heatmap_gallery(root, acrn.dets, class_ids, names, fig_dir / "heatmaps.png")
    if gallery is not None:
        out.append(Section("Relation heatmaps (paper Figures 5, 6)", [
            "Green: the detected actor and its relational action; red-yellow: the ACRN relation heatmap of that "
            "action; yellow box: the deciding entity recorded by the benchmark."], None,
            [Image(gallery, "relation heatmaps of correctly detected relational actions")]))
    rel_ids = {int(i) for i, c in classes.items() if c["kind"] == "relational"}
    fig7, counts = base_vs_acrn(root, base.dets, acrn.dets, class_ids, names, rel_ids, fig_dir / "base_vs_acrn.png")
    summary["figure7"] = counts
    text = [f"Relational classes at score 0.5 (seed {seeds[0]}): {counts['false_alarms_removed']} Base-Model false "
            f"alarms removed by ACRN, {counts['misses_recovered']} misses recovered."]
    out.append(Section("False alarms removed, misses recovered (paper Figure 7)", text, None,
                       [Image(fig7, "red: Base false alarm removed by ACRN; blue: Base miss recovered")]
                       if fig7 is not None else []))
    curves = plots.training_curves({f"{m} (seed {s})": r.curve for (m, s), r in runs.items()},
                                   fig_dir / "training.png")
    out.append(Section("Fine-tuning", [], None, [Image(curves, "training loss")]))
    return out
