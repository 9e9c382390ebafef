"""Numerical equivalence of acrn's imported MMAction2 ACRN against MMAction2's own code.

Two halves, two virtual environments (MMAction2 is never a dependency of acrn):

  1. reference (MMAction2 venv, ``bash tools/setup_mmaction2_ref.sh``): build MMAction2's SlowFast backbone,
     ``ACRNHead`` and ``BBoxHeadAVA`` from its packaged config with random weights (BN statistics and affine
     randomised too, so that a swapped BN tensor would show), save the state dict as an mmengine checkpoint,
     run one clip with given boxes and save every stage's output:

         /tmp/mmaction2-ref/bin/python tools/mmaction2_equivalence.py reference --out /tmp/mm_eq [--small]

     ``RoIAlign`` comes from acrn (mmcv-lite has no compiled ops); the RoI extractor's own forward (time
     resize, average, concatenation) is MMAction2's. ``--small`` uses reduced widths (same key layout) and
     fp16-representable weights, and also writes the CI fixture ``tests/fixtures/mmaction2/small_acrn.npz``.

  2. compare (acrn venv): import the checkpoint with ``acrn weights import mmaction2``'s code, run the same
     clip and boxes through acrn and print the max relative difference per stage as JSON:

         .venv/bin/python tools/mmaction2_equivalence.py compare --ref /tmp/mm_eq
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

CONFIG = "slowfast-acrn_kinetics400-pretrained-r50_8xb8-8x8x1-cosine-10e_ava21-rgb"
MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)
FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "mmaction2" / "small_acrn.npz"


def inputs(small: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A uint8 clip ``[3, T, H, W]`` and pixel boxes ``[R, 4]`` (xyxy)."""
    g = np.random.default_rng(seed)
    t, size, n = (8, 48, 2) if small else (32, 256, 5)
    clip = g.integers(0, 256, (3, t, size, size), dtype=np.uint8)
    xy = g.uniform(0, size * 0.6, (n, 2))
    wh = g.uniform(size * 0.15, size * 0.4, (n, 2))
    return clip, np.concatenate([xy, np.minimum(xy + wh, size - 1)], 1).astype(np.float32)


def normalise(clip: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(clip).float()
    return ((x - torch.tensor(MEAN)[:, None, None, None]) / torch.tensor(STD)[:, None, None, None])[None]


# ---------------------------------------------------------------------------------------------- reference


def build_reference(small: bool):
    """MMAction2's backbone, RoI extractor, ACRN head and bbox head from its packaged config."""
    import mmaction
    from mmaction.models.backbones.resnet3d_slowfast import ResNet3dSlowFast
    from mmaction.models.roi_heads.bbox_heads.bbox_head import BBoxHeadAVA
    from mmaction.models.roi_heads.roi_extractors.single_straight3d import SingleRoIExtractor3D
    from mmaction.models.roi_heads.shared_heads.acrn_head import ACRNHead
    from mmengine.config import Config

    from acrn.ops import roi_align

    path = Path(mmaction.__file__).parent / ".mim" / "configs" / "detection" / "acrn" / f"{CONFIG}.py"
    cfg = Config.fromfile(str(path)).model
    bb = {k: v for k, v in cfg.backbone.items() if k != "type"}
    shared = {k: v for k, v in cfg.roi_head.shared_head.items() if k != "type"}
    bbox = {k: v for k, v in cfg.roi_head.bbox_head.items() if k != "type"}
    if small:  # reduced widths, same key layout: slow 2 -> 64 out, fast 1 -> 32 out
        bb["channel_ratio"] = 2
        bb["slow_pathway"] = {**bb["slow_pathway"], "base_channels": 2}
        bb["fast_pathway"] = {**bb["fast_pathway"], "base_channels": 1}
        shared.update(in_channels=2 * (64 + 32), out_channels=16)
        bbox.update(in_channels=16)
    backbone = ResNet3dSlowFast(**bb)
    e = cfg.roi_head.bbox_roi_extractor
    extractor = SingleRoIExtractor3D.__new__(SingleRoIExtractor3D)  # __init__ needs mmcv's compiled RoIAlign
    torch.nn.Module.__init__(extractor)
    extractor.with_temporal_pool, extractor.temporal_pool_mode, extractor.with_global = True, "avg", False
    size = e.output_size
    extractor.roi_layer = lambda f, r: roi_align(f, r, (size, size), spatial_scale=1 / 16, sampling_ratio=0,
                                                  aligned=True)
    return backbone, extractor, ACRNHead(**shared), BBoxHeadAVA(**bbox), path


def randomise(modules, fp16: bool, seed: int = 0) -> None:
    """Random BN statistics and affine (MMAction2 zero-inits the last BN of each block); fp16-exact values."""
    g = torch.Generator().manual_seed(seed)
    for m in modules:
        for mod in m.modules():
            if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
                n = mod.num_features
                mod.weight.data = 0.5 + torch.rand(n, generator=g)
                mod.bias.data = 0.2 * torch.randn(n, generator=g)
                mod.running_mean.data = 0.2 * torch.randn(n, generator=g)
                mod.running_var.data = 0.5 + torch.rand(n, generator=g)
        if fp16:
            for t in m.state_dict().values():
                if t.is_floating_point():
                    t.copy_(t.half().float())


def pack_state(state: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """A state dict as three arrays (one zip entry each, not one per tensor): fp16 values, keys, shapes."""
    flat = np.concatenate([v.double().flatten().numpy() for v in state.values()]).astype(np.float16)
    shapes = np.full((len(state), 5), -1, np.int64)
    for i, v in enumerate(state.values()):
        shapes[i, :v.dim()] = v.shape
    return {"state_values": flat, "state_keys": np.array(list(state)), "state_shapes": shapes}


def unpack_state(arrays) -> dict[str, torch.Tensor]:
    """Inverse of :func:`pack_state`; integer tensors (BN step counters) come back as int64."""
    values = torch.from_numpy(arrays["state_values"].astype(np.float32))
    state, start = {}, 0
    for key, shape in zip(arrays["state_keys"], arrays["state_shapes"]):
        shape = [int(d) for d in shape if d >= 0]
        n = int(np.prod(shape)) if shape else 1
        t = values[start:start + n].reshape(shape)
        state[str(key)] = t.long() if str(key).endswith("num_batches_tracked") else t.clone()
        start += n
    return state


def run_reference(args: argparse.Namespace) -> int:
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    backbone, extractor, shared, bbox, cfg_path = build_reference(args.small)
    randomise([backbone, shared, bbox], fp16=args.small, seed=args.seed)
    if not args.small and args.logit_scale != 1.0:
        # With default init the full-size logits reach +-4600, where sigmoid scores are 0 or 1 and a score
        # difference only restates the logit difference at 1e-7 of its scale (float32 rounding order). A trained
        # classifier's logits lie within about +-10: scaling fc_cls gives that range (the fixture is unscaled).
        with torch.no_grad():
            bbox.fc_cls.weight.mul_(args.logit_scale)
            bbox.fc_cls.bias.mul_(args.logit_scale)
    for m in (backbone, shared, bbox):
        m.eval()
    clip, boxes = inputs(args.small, args.seed)
    x = normalise(clip)
    rois = torch.cat([torch.zeros(len(boxes), 1), torch.from_numpy(boxes)], 1)

    def predict():
        slow, fast = backbone(x)
        roi_feats, feat = extractor((slow, fast), rois)
        relation = shared(roi_feats, feat=feat, rois=rois)
        return slow, fast, roi_feats, relation, bbox(relation)

    times = []
    with torch.inference_mode():
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            slow, fast, roi_feats, relation, cls = predict()
            times.append(time.perf_counter() - t0)
    state = {f"backbone.{k}": v for k, v in backbone.state_dict().items()}
    state.update({f"roi_head.shared_head.{k}": v for k, v in shared.state_dict().items()})
    state.update({f"roi_head.bbox_head.{k}": v for k, v in bbox.state_dict().items()})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"mmengine_version": "0.10.7", "config": cfg_path.read_text(), "experiment_name": CONFIG}
    torch.save({"meta": meta, "state_dict": state}, out / "mmaction2_acrn.pth")
    arrays = {"clip": clip, "boxes": boxes, "slow": slow.numpy(), "fast": fast.numpy(),
              "roi_feats": roi_feats.numpy(), "relation": relation.numpy(), "cls_score": cls.numpy()}
    np.savez(out / "reference.npz", **arrays)
    report = {"tensors": len(state), "values": sum(v.numel() for v in state.values()),
              "mmaction2_predict_s": times, "mmaction2_predict_median_s": statistics.median(times),
              "threads": torch.get_num_threads()}
    (out / "reference.json").write_text(json.dumps(report, indent=1))
    if args.small:
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(FIXTURE, **pack_state(state), **{k: v for k, v in arrays.items() if k != "relation"})
        print(f"fixture: {FIXTURE} ({FIXTURE.stat().st_size / 1e3:.0f} kB)")
    print(json.dumps(report))
    return 0


# ---------------------------------------------------------------------------------------------- compare


def max_rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """``max |a - b| / max |b|`` (one scale per stage, so near-zero entries do not blow it up)."""
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


def acrn_stages(model, clip: np.ndarray, boxes: np.ndarray) -> dict[str, torch.Tensor]:
    """Every compared stage of the imported acrn model for one clip and pixel boxes."""
    from acrn.models.action_head import crop_actors
    from acrn.structures import Batch

    x = normalise(clip)
    if getattr(model, "channels_last_input", False):  # as the predict loop does (acrn.engine.infer._run)
        x = x.contiguous(memory_format=torch.channels_last_3d)
    batch = Batch(clips=x, boxes=[torch.zeros(0, 4)], labels=[torch.zeros(0, model.predictor.cls_score.out_features)],
                  proposals=[torch.from_numpy(boxes)], image_sizes=torch.tensor([x.shape[-2:]]), metas=[{}])
    with torch.inference_mode():
        slow, fast = model.backbone.pathways(x)
        endpoints, fmap = model.features(batch)
        rois = torch.cat([torch.zeros(len(boxes), 1), torch.from_numpy(boxes)], 1)
        crops = crop_actors(fmap, rois, model.roi_size, model.spatial_scale, model.sampling_ratio)
        out = model(batch)
    return {"slow": slow, "fast": fast, "roi_feats": crops, "logits": out["logits"], "heatmaps": out["heatmaps"]}


def compare(ref: dict[str, np.ndarray], checkpoint: str) -> dict[str, float]:
    """Max relative difference per stage between the MMAction2 reference outputs and the imported model."""
    from acrn.engine.infer import load_detector

    _, model, _, _ = load_detector(checkpoint, device="cpu", actors="file")
    got = acrn_stages(model, ref["clip"], ref["boxes"])
    t = {k: torch.from_numpy(np.asarray(ref[k])) for k in ("slow", "fast", "roi_feats", "cls_score")}
    return {"backbone_slow": max_rel(got["slow"], t["slow"]), "backbone_fast": max_rel(got["fast"], t["fast"]),
            "roi_features": max_rel(got["roi_feats"], t["roi_feats"][:, :, 0]),
            "class_scores": max_rel(torch.sigmoid(got["logits"]), torch.sigmoid(t["cls_score"][:, 1:])),
            "class_logits": max_rel(got["logits"], t["cls_score"][:, 1:])}


def run_compare(args: argparse.Namespace) -> int:
    from acrn.models.import_mmaction2 import convert_mmaction2

    ref_dir = Path(args.ref)
    out = ref_dir / "acrn.pt"
    t0 = time.perf_counter()
    result = convert_mmaction2(ref_dir / "mmaction2_acrn.pth", out)
    seconds = time.perf_counter() - t0
    diffs = compare(dict(np.load(ref_dir / "reference.npz")), str(out))
    report = {"import": result.summary(), "import_s": round(seconds, 2), "max_rel_diff": diffs,
              "tolerance": 1e-4, "pass": all(v <= 1e-4 for v in diffs.values())}
    print(json.dumps(report, indent=1))
    return 0 if report["pass"] else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("reference", help="MMAction2 venv: random model, checkpoint and outputs")
    r.add_argument("--out", required=True)
    r.add_argument("--small", action="store_true", help="reduced widths; also writes the CI fixture")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--repeat", type=int, default=1, help="timed predict runs")
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--logit-scale", type=float, default=2e-3, help="full size: fc_cls weight factor (see code)")
    r.set_defaults(func=run_reference)
    c = sub.add_parser("compare", help="acrn venv: import and compare")
    c.add_argument("--ref", required=True)
    c.set_defaults(func=run_compare)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
