"""``acrn train CONFIG [--set KEY=VALUE ...] [--resume]``: train a detector.

One process: ``acrn train configs/synth_demo.yaml``. Several GPUs or CPU processes:
``torchrun --nproc_per_node N --no-python acrn train CONFIG`` (gloo on CPU, NCCL on GPU; multi-node with torchrun's
own flags). Writes ``<runtime.out_dir>/{config.yaml, checkpoint_last.pt, metrics.jsonl, eval.jsonl,
tensorboard/}``.
"""

from __future__ import annotations

import argparse
import json

import torch

from acrn.cli.common import add_config_args, config_from_args
from acrn.config import Config
from acrn.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a detector (torchrun for several processes)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(p)
    p.add_argument("--resume", action="store_true",
                   help="continue from <runtime.out_dir>/checkpoint_last.pt (same final weights as an "
                        "uninterrupted run)")
    p.add_argument("--no-eval", action="store_true", help="skip periodic and final evaluation")
    p.set_defaults(func=run)


def check_classes(cfg: Config, dataset) -> None:
    """The config's class count must match the dataset's label map."""
    n = len(dataset.class_ids)
    if n != cfg.model.num_classes:
        raise InputError(f"model.num_classes={cfg.model.num_classes} but the {cfg.data.dataset} label map at "
                         f"{cfg.data.root} has {n} classes; set --set model.num_classes={n}")
    if bool(dataset.multilabel) != cfg.model.multilabel:
        raise InputError(f"model.multilabel={str(cfg.model.multilabel).lower()} but the {cfg.data.dataset} "
                         f"dataset is {'multi' if dataset.multilabel else 'single'}-label; set "
                         f"--set model.multilabel={str(bool(dataset.multilabel)).lower()}")


def run(args: argparse.Namespace) -> int:
    from acrn.data import build_dataset, collate
    from acrn.engine.distributed import init_distributed, teardown
    from acrn.engine.evaluate import make_evaluator
    from acrn.engine.train import train
    from acrn.models import build_model

    cfg = config_from_args(args)
    info = init_distributed(cfg.runtime.device)
    with teardown():
        train_set = build_dataset(cfg, "train", train=True)
        check_classes(cfg, train_set)
        torch.manual_seed(cfg.runtime.seed)  # identical initial weights on every rank
        model, criterion, postprocess = build_model(cfg)
        evaluate = None
        if not args.no_eval:
            val_set = build_dataset(cfg, "val", train=False)
            evaluate = make_evaluator(cfg, postprocess, val_set, info)
        result = train(cfg, model, criterion, train_set, collate, evaluate=evaluate, resume=args.resume, info=info,
                       extra={"class_ids": list(train_set.class_ids), "class_names": list(train_set.class_names)})
        if info.is_main:
            print(json.dumps({"step": result.step, "checkpoint": str(result.checkpoint), "losses": result.losses,
                              "metrics": {k: v for k, v in result.metrics.items() if not isinstance(v, (dict, list))}}))
    return 0
