"""Probes of issue #17: why does (or doesn't) ACRN beat the Base-Model in ``acrn study relations``? JSON.

Each probe fine-tunes ACRN with one change (``--set`` overrides) from the study's pretrained checkpoint on
the study's protocol and seeds, and is paired with the study's own Base-Model runs of those seeds
(``<study>/runs/none-T8-seed<s>/result.json``). The probe ``same`` repeats the study's ACRN unchanged:
its numbers must equal the study's (training is deterministic for a seed), and its checkpoint is kept
for the term-magnitude probe, which measures on the test split how large the actor part and the scene
part of g_theta's pre-activation are (section 4.2 normalises both to the actor feature's norm).

    python benchmarks/probe_relations.py --study runs/study --seeds 0,1
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
PROBES = {
    "same": [],
    "grad_mult_1": ["model.relation_grad_mult=1.0"],  # the features reaching the relation head may adapt
    "relation_lr_x10": ["solver.relation_lr_mult=10"],  # g_theta and f_phi learn 10x faster
    "relation_lr_x0.1": ["solver.relation_lr_mult=0.1"],  # ... or 10x slower (f_RN stays near its init longer)
    "max_pool": ["model.relation_pool=max"],  # f_RN = max over the relation map instead of the mean
    "mixed_3c": ["model.relation_layers=[Mixed_3c]"],  # an earlier map: less context mixed into each cell
    # b_i and l(j, k) x30: their part of g_theta's pre-activation on the scale of the appearance parts (~120x
    # smaller after training at 1x), so that *where* a cell lies relative to the actor can matter
    "coords_x30": ["model.relation_coord_scale=30"],
    # both: features the relation head can shape, and a location term it can use (the entity out of the crop's reach)
    "grad_mult_1_coords_x30": ["model.relation_grad_mult=1.0", "model.relation_coord_scale=30"],
}


def term_magnitudes(checkpoint: Path, max_clips: int = 40) -> dict:
    """Mean L2 norm over actors and cells of the actor part (W_a a_hat + b) and of the scene part
    (s * W_F F_hat) of g_theta's pre-activation, and of the location part, on test clips."""
    from acrn.data import build_dataset, collate
    from acrn.engine.infer import load_detector

    cfg, model, _, _ = load_detector(checkpoint)
    head = model.head
    g = head.g_theta
    test = build_dataset(cfg, "test", train=False)
    seen: dict[str, list[float]] = {"actor": [], "scene": [], "location": []}

    def hook(module, args, _out):
        f_a, boxes, batch_idx, scene = args
        a_hat, scene_hat, s = module.inputs(f_a, scene)
        w = module.g_theta.weight.flatten(1)
        ca = module.actor_channels
        k = module.coord_scale
        actor = torch.nn.functional.linear(torch.cat([a_hat, boxes * k], 1), w[:, :ca + 4], module.g_theta.bias)
        c = module.scene_channels[0]
        sc = torch.nn.functional.conv2d(scene_hat[0], w[:, ca + 4:ca + 4 + c, None, None])[batch_idx]
        sc = s[:, None, None, None] * sc
        from acrn.models.relation import locations

        h, wd = scene_hat[0].shape[-2:]
        loc = torch.nn.functional.conv2d(locations(h, wd, f_a)[None] * k, w[:, ca + 4 + c:, None, None])
        seen["actor"].append(float(actor.norm(dim=1).mean()))
        seen["scene"].append(float(sc.norm(dim=1).mean()))
        seen["location"].append(float(loc.norm(dim=1).mean()))

    handle = g.register_forward_hook(hook)
    with torch.no_grad():
        for i in range(min(max_clips, len(test))):
            model(collate([test[i]]))
    handle.remove()
    return {k: sum(v) / len(v) for k, v in seen.items() if v}


def relation_ablation(checkpoint: Path) -> dict:
    """Test frame-AP of a trained ACRN as it is, and with f_RN replaced by its mean over the test clips (the
    relation branch's information removed, the classifier's offset kept): what the branch contributes."""
    from acrn.demo.run import evaluate_variant
    from acrn.engine.infer import load_detector

    cfg, model, post, _ = load_detector(checkpoint)
    cfg.runtime.progress = False
    ca = model.head.actor_head.out_channels
    full, _ = evaluate_variant(cfg, model, post, video_ap=False)
    sums: list[torch.Tensor] = []
    rows = [0]

    def collect(_m, _a, out):
        sums.append(out["f_rn"].sum(0, keepdim=True).detach())
        rows[0] += len(out["f_rn"])
        return out

    def replace(_m, _a, out):
        out["features"] = torch.cat([out["f_a"], mean.expand(len(out["f_a"]), -1)], 1)
        return out

    h = model.head.register_forward_hook(collect)
    with torch.no_grad():
        evaluate_variant(cfg, model, post, video_ap=False)
    h.remove()
    mean = (torch.cat(sums).sum(0, keepdim=True) / max(rows[0], 1)).to(torch.float32)
    h = model.head.register_forward_hook(replace)
    ablated, _ = evaluate_variant(cfg, model, post, video_ap=False)
    h.remove()
    assert mean.shape[1] == model.head.out_channels - ca
    return {"frame_mAP": full["frame_mAP"], "frame_mAP_without_f_rn": ablated["frame_mAP"],
            "per_class": full["per_class"], "per_class_without_f_rn": ablated["per_class"]}


def main(argv: list[str] | None = None) -> int:
    from acrn.demo.run import variant_config
    from acrn.hub import sha256_of
    from acrn.study import jobs as J
    from acrn.study.runner import run_all
    from acrn.study.summary import measures, paired

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--study", type=Path, default=ROOT / "runs" / "study")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "probes")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--probes", default=",".join(PROBES))
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--protocol", type=Path, help="a JSON {pretrained: {path}, protocol: {...}} as in a study's "
                   "results.json, for a study whose runs are not all finished (its Base-Model runs, where "
                   "present, are still the pairs)")
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    summary = json.loads((args.protocol or args.study / "results.json").read_text())
    pretrained = Path(summary["pretrained"]["path"])
    protocol = summary["protocol"]
    root = Path(protocol["dataset"]["root"])
    classes = json.loads((root / "meta.json").read_text())["classes"]
    digest = sha256_of(pretrained)
    lr = protocol.get("relation_lr_mult", 1.0)  # the study's relation learning rate (a probe's own --set wins)
    recipe = [*protocol["overrides"], *([] if lr == 1.0 else [f"solver.relation_lr_mult={lr:g}"])]
    jobs, names = [], []
    for name in args.probes.split(","):
        for s in seeds:
            job = J.StudyJob("acrn", protocol["frames"], s)
            cfg = variant_config(root, args.out / name / job.tag, [*job.overrides(pretrained), *recipe, *PROBES[name]],
                                 s, protocol["steps"], progress=False)
            jobs.append((job, cfg, J.fingerprint(cfg, digest, job)))
            names.append(name)
    results = run_all(jobs, args.workers, lambda m: print(m, file=sys.stderr, flush=True), keep=True)

    def study_runs(head: str) -> dict[int, dict]:
        paths = {s: args.study / "runs" / f"{head}-T{protocol['frames']}-seed{s}" / "result.json" for s in seeds}
        return {s: measures(json.loads(p.read_text())["metrics"], classes) for s, p in paths.items() if p.is_file()}

    base, study_acrn = study_runs("none"), study_runs("acrn")
    out = {"seeds": seeds, "steps": protocol["steps"], "probes": {}}
    for name in dict.fromkeys(names):
        runs = {r["job"]["seed"]: {**measures(r["metrics"], classes), "raw": r["metrics"]}
                for r, n in zip(results, names) if n == name}
        out["probes"][name] = {
            "overrides": PROBES[name],
            "per_seed": {s: {k: v for k, v in m.items() if k != "raw"} for s, m in runs.items()},
            "vs_base": {k: paired(base, runs, k) for k in ("frame_mAP", "relational", "actor_only")} if base else None,
            "pointing": {s: m["raw"].get("pointing", {}).get("hit_rate") for s, m in runs.items()},
            "g_theta_terms": term_magnitudes(args.out / name / f"acrn-T{protocol['frames']}-seed{seeds[0]}" /
                                             "checkpoint_last.pt")}
    same = args.out / "same" / f"acrn-T{protocol['frames']}-seed{seeds[0]}" / "checkpoint_last.pt"
    if same.is_file():
        out["relation_ablation"] = relation_ablation(same)
    if "same" in out["probes"]:
        same = out["probes"]["same"]["per_seed"]
        out["same_equals_study"] = all(abs(same[s]["frame_mAP"] - study_acrn[s]["frame_mAP"]) < 1e-9
                                       for s in study_acrn) if study_acrn else None
    print(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
