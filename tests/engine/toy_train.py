"""Run the toy training as its own process: ``python toy_train.py OUT_DIR [--resume] [--delay S] [--set K=V]...``.

Used by the SIGKILL/resume test and, under ``torchrun``, by the distributed test.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from toy import ToyClips, ToyDetector, toy_collate, toy_config, toy_criterion  # noqa: E402

from acrn.engine.distributed import cleanup  # noqa: E402
from acrn.engine.train import train  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out_dir")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--delay", type=float, default=0.0, help="seconds of sleep per clip read")
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--set", dest="overrides", action="append", default=[])
    args = p.parse_args()
    torch.set_num_threads(1)
    cfg = toy_config(args.out_dir, *args.overrides)
    torch.manual_seed(cfg.runtime.seed)
    model = ToyDetector(dropout=args.dropout)
    train(cfg, model, toy_criterion, ToyClips(32, delay=args.delay), toy_collate, resume=args.resume)
    cleanup()


if __name__ == "__main__":
    main()
