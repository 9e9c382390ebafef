"""Probe of issue #17: do the features that reach the relation head carry what decides a relational label? JSON.

On the ``relational`` benchmark an actor's label (catch / throw / give / receive) is decided by the entity of
its own pair: its type (ball or package) and whether it moves towards the actor or away. This probe freezes a
checkpoint (the study's pretrained Base-Model, or any fine-tuned one) and fits linear read-outs (multinomial
logistic regression, L2, on standardised features; train split -> test split) of the actor's relational label
from:

- ``actor_f_a``: the Base-Model's actor feature f_a (Mixed_4f crop -> Mixed_5b/5c -> mean), all a classifier
  without context sees;
- ``actor_crop_4f``: the mean of the Mixed_4f crop (RoI align, 7 x 7) of the actor's box;
- ``entity_cell``: F (flattened Mixed_4f, what g_theta reads) averaged over the cells the deciding entity's box
  touches: what one cell of the relation map can know about the entity. Its ceiling is 50 % by construction:
  the catcher and the thrower of one ball (the giver and receiver of one package) share that entity, so the
  cell can tell the pair type but not the role;
- ``entity_cell_x_side``: the same with a copy multiplied by the side of the entity (+1 right of the actor,
  -1 left): the best one relation cell could do if g_theta also knew *where* the cell lies relative to the
  actor (towards/away is motion direction times side).

Then it trains :class:`FrozenRelationHead` (ACRN's relation operator, small: g_theta over [f_a; b_i; F(j, k);
l(j, k)], a 1x1 f_phi, the mean over cells, a classifier on [f_a; f_RN]) on the same frozen features for
many epochs, with the location terms at 1x (the paper) and 30x (``--pools mean,max``: also with the max
over cells in place of the mean): whether the operator can learn the pairing
from these features when training time is not the limit.

Chance is 25 % (four balanced labels; "pair type" is 50 %). If ``entity_cell_x_side`` is far above chance,
the features carry the relation and what a relation head has to learn is the pairing; if it is near chance,
the features themselves do not encode the entity's motion (and the 0.01 gradient multiplier keeps the
relation head from teaching them).

    python benchmarks/probe_features.py --checkpoint runs/pretrain/<digest>/pretrained.pt \
        --data data/synth-relational-w448
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch

RELATIONAL = (6, 7, 8, 9)  # catch, throw, give, receive (labelmap ids of the relational preset)
POOLS = ("mean", "max")  # f_RN of the frozen relation head


def _features(model, dataset, gt, relations, max_clips: int) -> dict[str, torch.Tensor]:
    """Per relational actor: the four feature sets of the module docstring and its label (0..3)."""
    from acrn.data import collate
    from acrn.models.action_head import crop_actors

    feats: dict[str, list] = {"actor_f_a": [], "actor_crop_4f": [], "entity_cell": [], "side": [], "label": [],
                              "box": [], "clip": []}
    fmaps: list[torch.Tensor] = []
    for i in range(min(max_clips, len(dataset))):
        sample = dataset[i]
        key = (str(sample.meta["video"]), int(sample.meta["timestamp"]))
        rels = [r for r in relations.get(key, []) if r.action_id in RELATIONAL]
        people = dict(gt.get(key, []))
        rels = [r for r in rels if r.person in people]
        if not rels:
            continue
        batch = collate([sample])
        with torch.no_grad():
            _, fmap = model.features(batch)  # [1, C, h, w]
        hi, wi = batch.clips.shape[-2:]
        scale = torch.tensor([wi, hi, wi, hi], dtype=torch.float32)
        actors = torch.stack([torch.tensor(people[r.person], dtype=torch.float32) * scale for r in rels])
        rois = torch.cat([torch.zeros(len(rels), 1), actors], 1)
        with torch.no_grad():
            crops = crop_actors(fmap, rois, model.roi_size, model.spatial_scale, model.sampling_ratio)
            head = getattr(model.head, "actor_head", model.head)  # a relation head's own actor branch
            f_a = head.actor_features(crops)
        h, w = fmap.shape[-2:]
        fmaps.append(fmap[0])
        for k, r in enumerate(rels):
            a = actors[k] / scale  # normalised xyxy, as the relation head's b_i
            feats["box"].append(a)
            feats["clip"].append(len(fmaps) - 1)
            ent = torch.tensor(r.entity, dtype=torch.float32)  # normalised xyxy
            j0, j1 = int(ent[1] * h), min(h - 1, int(ent[3] * h))
            k0, k1 = int(ent[0] * w), min(w - 1, int(ent[2] * w))
            feats["entity_cell"].append(fmap[0, :, j0:j1 + 1, k0:k1 + 1].mean(dim=(1, 2)))
            feats["side"].append(1.0 if (ent[0] + ent[2]) > (a[0] + a[2]) else -1.0)
            feats["actor_f_a"].append(f_a[k])
            feats["actor_crop_4f"].append(crops[k].mean(dim=(1, 2)))
            feats["label"].append(RELATIONAL.index(r.action_id))
    out = {k: torch.stack(v) for k, v in feats.items() if k not in ("side", "label", "clip")}
    out["clip"], out["fmaps"] = torch.tensor(feats["clip"]), torch.stack(fmaps)
    side = torch.tensor(feats["side"])[:, None]
    out["entity_cell_x_side"] = torch.cat([out["entity_cell"], out["entity_cell"] * side], 1)
    out["label"] = torch.tensor(feats["label"])
    return out


def linear_readout(x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor,
                   classes: int = 4, weight_decay: float = 1e-3, iters: int = 300) -> dict[str, float]:
    """Train / test accuracy of a multinomial logistic regression (L-BFGS, L2) on standardised features."""
    mean, std = x_train.mean(0), x_train.std(0).clamp_min(1e-6)
    xtr, xte = (x_train - mean) / std, (x_test - mean) / std
    lin = torch.nn.Linear(xtr.shape[1], classes)
    opt = torch.optim.LBFGS(lin.parameters(), lr=1.0, max_iter=iters, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(lin(xtr), y_train) + weight_decay * lin.weight.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        pred = lin(xte).argmax(1)
        return {"train": float((lin(xtr).argmax(1) == y_train).float().mean()),
                "test": float((pred == y_test).float().mean()),
                "test_pair_type": float((pred // 2 == y_test // 2).float().mean())}  # catch/throw 0, give/receive 1


class FrozenRelationHead(torch.nn.Module):
    """ACRN's relation branch, small, on frozen features: g_theta (the project's :class:`PairwiseRelation`,
    equation 2 with section 4.2's normalisation) -> a 1x1 conv + ReLU (f_phi, light) -> mean over cells ->
    a linear classifier on [f_a; f_RN] (``pool="max"``: the max over cells instead). ``forward(f_a Tensor[R, Ca],
    boxes Tensor[R, 4], fmaps Tensor[R, C, h, w]) -> logits Tensor[R, classes]``."""

    def __init__(self, actor_channels: int, scene_channels: int, hidden: int, coord_scale: float, classes: int,
                 pool: str = "mean"):
        super().__init__()
        from acrn.models.relation import PairwiseRelation

        if pool not in POOLS:
            raise ValueError(f"pool {pool!r}: expected one of {POOLS}")
        self.pool = pool
        self.g_theta = PairwiseRelation(actor_channels, [scene_channels], hidden, coord_scale)
        self.f_phi = torch.nn.Sequential(torch.nn.Conv2d(hidden, hidden, 1), torch.nn.ReLU())
        self.classifier = torch.nn.Linear(actor_channels + hidden, classes)

    def forward(self, f_a: torch.Tensor, boxes: torch.Tensor, fmaps: torch.Tensor) -> torch.Tensor:
        idx = torch.arange(len(f_a))
        rmap = self.f_phi(self.g_theta(f_a, boxes, idx, [fmaps]))
        f_rn = rmap.mean(dim=(2, 3)) if self.pool == "mean" else rmap.amax(dim=(2, 3))
        return self.classifier(torch.cat([f_a, f_rn], 1))


def relation_readout(train: dict, test: dict, coord_scale: float = 1.0, hidden: int = 128, epochs: int = 100,
                     batch: int = 64, seed: int = 0, pool: str = "mean") -> dict[str, float]:
    """Train / test accuracy of :class:`FrozenRelationHead` trained (Adam, L2) on the frozen features: can
    ACRN's relation operator learn the pairing from these features at all, given many epochs?"""
    torch.manual_seed(seed)
    mean, std = train["actor_f_a"].mean(0), train["actor_f_a"].std(0).clamp_min(1e-6)
    f = {k: (d["actor_f_a"] - mean) / std for k, d in (("train", train), ("test", test))}
    head = FrozenRelationHead(f["train"].shape[1], train["fmaps"].shape[1], hidden, coord_scale, 4, pool)
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=1e-2)
    n = len(f["train"])

    def logits(split: str, d: dict, rows: torch.Tensor) -> torch.Tensor:
        return head(f[split][rows], d["box"][rows], d["fmaps"][d["clip"][rows]])

    for _ in range(epochs):
        for rows in torch.randperm(n).split(batch):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(logits("train", train, rows), train["label"][rows]).backward()
            opt.step()
    with torch.no_grad():
        acc = {}
        for split, d in (("train", train), ("test", test)):
            pred = torch.cat([logits(split, d, r).argmax(1) for r in torch.arange(len(d["label"])).split(256)])
            acc[split] = float((pred == d["label"]).float().mean())
            if split == "test":
                acc["test_pair_type"] = float((pred // 2 == d["label"] // 2).float().mean())
    return acc


def main(argv: list[str] | None = None) -> int:
    from acrn.data import build_dataset
    from acrn.demo.pointing import gt_people, read_relations
    from acrn.engine.infer import load_detector

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, required=True, help="an acrn checkpoint (Base-Model or any head)")
    p.add_argument("--data", type=Path, required=True, help="the relational benchmark")
    p.add_argument("--train-clips", type=int, default=800, help="at most this many train key frames")
    p.add_argument("--test-clips", type=int, default=400, help="at most this many test key frames")
    p.add_argument("--epochs", type=int, default=100, help="of each frozen relation head")
    p.add_argument("--coord-scales", type=lambda v: [float(x) for x in v.split(",")] if v else [], default=[1.0, 30.0],
                   help="b_i and l(j, k) scales of the frozen relation heads ('' for none)")
    p.add_argument("--pools", type=lambda v: v.split(","), default=["mean"], help="f_RN pooling(s): mean, max")
    args = p.parse_args(argv)
    if bad := [x for x in args.pools if x not in POOLS]:
        p.error(f"--pools {','.join(bad)}: expected a comma-separated subset of {','.join(POOLS)}")
    ann = args.data / "annotations"
    if missing := [str(f) for s in ("train", "test") for f in (ann / f"{s}.csv", ann / f"{s}_relations.csv")
                   if not f.is_file()]:
        p.error(f"{args.data}: not a relational benchmark (missing {', '.join(missing)}; "
                "make one with acrn synth --preset relational)")
    torch.manual_seed(0)
    t0 = time.perf_counter()
    cfg, model, _, _ = load_detector(args.checkpoint)
    dcfg = copy.deepcopy(cfg)
    dcfg.data.root, dcfg.data.labelmap, dcfg.data.proposals, dcfg.data.crop_only = str(args.data), "", "", False
    dcfg.data.num_workers = 0
    sets = {}
    for split, n in (("train", args.train_clips), ("test", args.test_clips)):
        ds = build_dataset(dcfg, split, train=False)
        sets[split] = _features(model, ds, gt_people(ann / f"{split}.csv"),
                                read_relations(ann / f"{split}_relations.csv"), n)
    tr, te = sets["train"], sets["test"]
    out = {"checkpoint": str(args.checkpoint), "data": str(args.data), "chance": 0.25, "chance_pair_type": 0.5,
           "actors": {"train": len(tr["label"]), "test": len(te["label"])}, "readouts": {}}
    for name in ("actor_f_a", "actor_crop_4f", "entity_cell", "entity_cell_x_side"):
        out["readouts"][name] = {"dims": tr[name].shape[1],
                                 **linear_readout(tr[name], tr["label"], te[name], te["label"])}
    for pool in args.pools:
        for scale in args.coord_scales:
            t = time.perf_counter()
            acc = relation_readout(tr, te, coord_scale=scale, epochs=args.epochs, pool=pool)
            name = f"relation_head_coords_x{scale:g}" + ("" if pool == "mean" else f"_{pool}_pool")
            out["readouts"][name] = {**acc, "seconds": round(time.perf_counter() - t, 1)}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
