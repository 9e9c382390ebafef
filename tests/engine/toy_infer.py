"""``python toy_infer.py OUT.json``: sharded :func:`acrn.engine.infer.predict` over ToyClips (under torchrun,
every rank predicts its share; rank 0 writes the gathered detections)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from toy import ToyClips, ToyDetector, toy_collate, toy_postprocess  # noqa: E402

from acrn.engine.distributed import cleanup, init_distributed  # noqa: E402
from acrn.engine.infer import predict  # noqa: E402


def toy_predictions(info=None) -> list[dict]:
    torch.manual_seed(0)
    model = ToyDetector(dropout=0.0)
    dets = predict(model, toy_postprocess, ToyClips(11, train=False), toy_collate, device=torch.device("cpu"),
                   info=info, batch_size=2)
    return [{"video": d.meta["video"], "boxes": d.boxes.tolist(), "scores": d.scores.tolist()} for d in dets]


if __name__ == "__main__":
    torch.set_num_threads(1)
    info = init_distributed("cpu")
    rows = toy_predictions(info)
    if info.is_main:
        Path(sys.argv[1]).write_text(json.dumps({"world": info.world_size, "dets": rows}))
    cleanup()
